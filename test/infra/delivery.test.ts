import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { fanoutConsumer, presenceConsumer } from '../../definitions/stream-consumers.js';
import { FANOUT_EVENT_TYPES } from '../../lambdas/handlers/fanout.js';
import { PRESENCE_EVENT_TYPES } from '../../lambdas/handlers/presence-notifier.js';
import { DEV_CONTEXT, synthesize, type TemplateJson } from './support/synthesize.js';

const dev = synthesize(DEV_CONTEXT);

type Resource = { Type: string; Properties: Record<string, TemplateJson>; DeletionPolicy?: string };

function mappingOf(functionId: 'fanout' | 'presence-notifier'): Record<string, TemplateJson> {
  const fn = dev.logicalId(dev.stack.functions.functions[functionId]);
  const mappings = Object.values(
    dev.template.findResources('AWS::Lambda::EventSourceMapping') as Record<string, Resource>,
  ).filter((mapping) => mapping.Properties.FunctionName.Ref === fn);
  expect(mappings).toHaveLength(1);
  return mappings[0]?.Properties ?? {};
}

const failureQueueArn = () => ({ 'Fn::GetAtt': [dev.logicalId(dev.stack.delivery.failureQueue), 'Arn'] });

describe('the fanout consumer', () => {
  it('reads the stream through an enhanced fan-out consumer of its own', () => {
    dev.template.resourceCountIs('AWS::Kinesis::StreamConsumer', 1);
    dev.template.hasResourceProperties('AWS::Kinesis::StreamConsumer', {
      StreamARN: { 'Fn::GetAtt': [dev.logicalId(dev.stack.data.stream), 'Arn'] },
      ConsumerName: 'Parley-dev-fanout',
    });
    const consumer = dev.stack.delivery.consumers.fanout;
    if (!consumer) throw new Error('no enhanced fan-out consumer for the fanout');
    expect(mappingOf('fanout').EventSourceArn).toEqual({
      'Fn::GetAtt': [dev.logicalId(consumer), 'ConsumerARN'],
    });
  });

  it('hands records over at once, bisects a failing batch, reports partial failures and bounds its retries', () => {
    expect(mappingOf('fanout')).toMatchObject({
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: fanoutConsumer.batchSize,
      MaximumBatchingWindowInSeconds: 0,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: fanoutConsumer.maximumRetryAttempts,
      MaximumRecordAgeInSeconds: fanoutConsumer.maximumRecordAgeInSeconds,
      ParallelizationFactor: fanoutConsumer.parallelizationFactor,
    });
    expect(fanoutConsumer.maximumRetryAttempts).toBeGreaterThan(0);
    expect(fanoutConsumer.maximumRecordAgeInSeconds).toBeLessThan(24 * 60 * 60);
  });

  it('sends what exhausts its retries to the on-failure queue', () => {
    expect(mappingOf('fanout').DestinationConfig).toEqual({ OnFailure: { Destination: failureQueueArn() } });
  });

  it('receives only messages and receipts, the events the handler delivers', () => {
    const filters = mappingOf('fanout').FilterCriteria.Filters.map((filter: { Pattern: string }) =>
      JSON.parse(filter.Pattern),
    );
    expect(filters).toEqual([{ data: { type: [...FANOUT_EVENT_TYPES] } }]);
  });
});

describe('the presence consumer', () => {
  it('polls the stream itself, gathering changes for a few seconds, with the same failure handling', () => {
    expect(mappingOf('presence-notifier')).toMatchObject({
      EventSourceArn: { 'Fn::GetAtt': [dev.logicalId(dev.stack.data.stream), 'Arn'] },
      MaximumBatchingWindowInSeconds: presenceConsumer.maximumBatchingWindowInSeconds,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: presenceConsumer.maximumRetryAttempts,
      MaximumRecordAgeInSeconds: presenceConsumer.maximumRecordAgeInSeconds,
      DestinationConfig: { OnFailure: { Destination: failureQueueArn() } },
    });
    expect(presenceConsumer.maximumBatchingWindowInSeconds).toBeGreaterThan(0);
  });

  it('receives only presence changes', () => {
    const filters = mappingOf('presence-notifier').FilterCriteria.Filters.map((filter: { Pattern: string }) =>
      JSON.parse(filter.Pattern),
    );
    expect(filters).toEqual([{ data: { type: [...PRESENCE_EVENT_TYPES] } }]);
  });
});

describe('the on-failure queue', () => {
  it('is encrypted, refuses plain HTTP and keeps what it holds 14 days', () => {
    const queueId = dev.logicalId(dev.stack.delivery.failureQueue);
    dev.template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 60 * 60,
    });
    dev.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queueId }],
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ],
      },
    });
  });
});
