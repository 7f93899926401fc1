/**
 * Synthesizes a Parley stack the way `bin/parley.ts` does (the feature flags of
 * `cdk.json`, settings from context, cdk-nag's AwsSolutions checks), but without bundling
 * the functions, which `cdk synth` itself covers. Synthesis fails on any unacknowledged
 * cdk-nag finding, so every template these tests read has passed the checks.
 */
import { App, type CfnElement, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Construct } from 'constructs';
import cdkJson from '../../../cdk.json' with { type: 'json' };
import { ACCOUNT_STACK_NAME, ParleyAccountStack } from '../../../lib/account-stack.js';
import { ParleyStack } from '../../../lib/parley-stack.js';
import { parseSettings } from '../../../lib/settings.js';

/** The feature flags of `cdk.json`, so that the tests synthesize as `cdk synth` does. */
const { stage: _defaultStage, ...featureFlags } = cdkJson.context;

export function buildApp(context: Record<string, unknown>) {
  const app = new App({ context: { ...featureFlags, 'aws:cdk:bundling-stacks': [], ...context } });
  const settings = parseSettings((key) => app.node.tryGetContext(key));
  const stack = new ParleyStack(app, `Parley-${settings.stage}`, { settings });
  let account: ParleyAccountStack | undefined;
  if (settings.accountLogsRole) {
    account = new ParleyAccountStack(app, ACCOUNT_STACK_NAME);
    stack.addStackDependency(account);
  }
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, account };
}

const cache = new Map<string, ReturnType<typeof synthesizeUncached>>();

function synthesizeUncached(context: Record<string, unknown>) {
  const { stack } = buildApp(context);
  const template = Template.fromStack(stack);
  const logicalId = (construct: Construct) => stack.getLogicalId(construct.node.defaultChild as CfnElement);
  return { stack, template, logicalId };
}

/** One synthesis per distinct context, shared by the test files of a worker. */
export function synthesize(context: Record<string, unknown>) {
  const key = JSON.stringify(context);
  let result = cache.get(key);
  if (!result) {
    result = synthesizeUncached(context);
    cache.set(key, result);
  }
  return result;
}

/** The default stage as an infrastructure team first deploys it. */
export const DEV_CONTEXT = { stage: 'dev' } as const;

/** A production stage with an external token issuer, provisioned shards and alarm e-mail. */
export const PROD_CONTEXT = {
  stage: 'prod',
  jwksUrl: 'https://auth.example.com/.well-known/jwks.json',
  jwtIssuer: 'https://auth.example.com/',
  jwtAudience: 'parley',
  allowedOrigins: 'https://app.example.com',
  shards: '8',
  alarmEmail: 'oncall@example.com',
} as const;

/** A value of a CloudFormation template: JSON whose shape each test knows from the resource type. */
// biome-ignore lint/suspicious/noExplicitAny: template JSON is untyped; each test reads the fields it asserts
export type TemplateJson = any;
