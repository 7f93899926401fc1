/**
 * The stream's consumers: the functions `definitions/functions.ts` has the stream invoke,
 * each with its consumer's settings (`definitions/stream-consumers.ts`). The fanout function
 * reads through an enhanced fan-out consumer (records pushed within about 70 ms, where
 * shared polling reads once a second per shard); the presence notifier polls, since its
 * batches wait a few seconds anyway. Records that exhaust their retries are described in
 * the on-failure queue.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import {
  KinesisConsumerEventSource,
  KinesisEventSource,
  SqsDlq,
  type StreamEventSourceProps,
} from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { type FunctionId, STREAM_FUNCTIONS } from '../../definitions/functions.js';
import { filterPatternOf, type StreamConsumerDefinition } from '../../definitions/stream-consumers.js';
import { acknowledge } from '../nag.js';
import { pascalCase } from './data.js';

export interface ParleyDeliveryProps {
  stream: kinesis.IStream;
  functions: Readonly<Record<FunctionId, lambda.IFunction>>;
}

export class ParleyDelivery extends Construct {
  /** What could not be delivered after every retry: shard and sequence numbers, for a replay. */
  readonly failureQueue: sqs.Queue;
  /** The enhanced fan-out consumers, by the function they feed. */
  readonly consumers: Partial<Record<StreamConsumerDefinition['id'], kinesis.StreamConsumer>> = {};

  constructor(scope: Construct, id: string, props: ParleyDeliveryProps) {
    super(scope, id);
    this.failureQueue = new sqs.Queue(this, 'FailureQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledge(
      this.failureQueue,
      'AwsSolutions-SQS3',
      'This queue is itself the dead end: the on-failure destination of the stream consumers. ' +
        'A dead-letter queue behind it would only hold the same descriptions again.',
    );
    const onFailure = new SqsDlq(this.failureQueue);

    const settingsOf = (consumer: StreamConsumerDefinition): StreamEventSourceProps => ({
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
      batchSize: consumer.batchSize,
      maxBatchingWindow: Duration.seconds(consumer.maximumBatchingWindowInSeconds),
      retryAttempts: consumer.maximumRetryAttempts,
      maxRecordAge: Duration.seconds(consumer.maximumRecordAgeInSeconds),
      bisectBatchOnError: true,
      reportBatchItemFailures: true,
      parallelizationFactor: consumer.parallelizationFactor,
      filters: [lambda.FilterCriteria.filter(filterPatternOf(consumer))],
      onFailure,
    });
    for (const { id, trigger } of STREAM_FUNCTIONS) {
      const { consumer } = trigger;
      let source: KinesisConsumerEventSource | KinesisEventSource;
      if (consumer.enhancedFanOut) {
        const streamConsumer = new kinesis.StreamConsumer(this, `${pascalCase(consumer.id)}Consumer`, {
          stream: props.stream,
          streamConsumerName: `${Stack.of(this).stackName}-${consumer.id}`,
        });
        this.consumers[consumer.id] = streamConsumer;
        source = new KinesisConsumerEventSource(streamConsumer, settingsOf(consumer));
      } else {
        source = new KinesisEventSource(props.stream, settingsOf(consumer));
      }
      props.functions[id].addEventSource(source);
    }
  }
}
