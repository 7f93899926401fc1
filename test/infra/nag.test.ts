import { Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { buildApp, DEV_CONTEXT, PROD_CONTEXT } from './support/synthesize.js';

/** Every acknowledgement recorded in the app's construct tree, with where it was made. */
function acknowledgementsOf(app: ReturnType<typeof buildApp>['app']) {
  return app.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      // Recorded as { "Annotation::{rule id}": reason }.
      .flatMap((entry) => Object.entries(entry.data as Record<string, string>))
      .map(([key, reason]) => ({ path: construct.node.path, id: key.replace(/^Annotation::/, ''), reason })),
  );
}

// Each synthesis with the checks takes a few seconds.
describe("cdk-nag's AwsSolutions checks", { timeout: 60_000 }, () => {
  it.each([
    ['dev', DEV_CONTEXT],
    ['prod', PROD_CONTEXT],
  ])('find nothing unacknowledged in %s', (_name, context) => {
    const { stack } = buildApp(context);
    expect(() => Template.fromStack(stack)).not.toThrow();
  });

  it('fail the synthesis on a finding nobody acknowledged', () => {
    const { stack } = buildApp(DEV_CONTEXT);
    // A queue with no encryption-in-transit policy and no dead-letter queue: two findings.
    new sqs.Queue(stack, 'CarelessQueue');
    expect(() => Template.fromStack(stack)).toThrow(
      /CarelessQueue[\s\S]*AwsSolutions-SQS3[\s\S]*CarelessQueue[\s\S]*AwsSolutions-SQS4/,
    );
  });

  it('are acknowledged only with a reason, and only for the rules this project accepts', () => {
    const { app, stack } = buildApp(DEV_CONTEXT);
    Template.fromStack(stack);
    const acknowledged = acknowledgementsOf(app);
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const { id, reason, path } of acknowledged) {
      expect(reason.length, `${path} ${id}`).toBeGreaterThan(40);
      expect(id, path).toMatch(/^AwsSolutions-(APIG4|IAM4|IAM5|L1|SMG4|SQS3)(\[.+\])?$/);
    }
    // The wildcard findings are acknowledged finding by finding, never for a whole rule.
    for (const { id } of acknowledged.filter(({ id }) => /IAM[45]/.test(id))) expect(id).toMatch(/\[.+\]$/);
  });
});
