/**
 * Kinesis consumer of `message` events, on its own shared-polling mapping: pushes to the
 * devices of the recipients that are not connected (`domain/push-notifier.ts`). The records
 * it gives back are reported as batch item failures, so that Lambda retries from there.
 */
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { pushConsumer } from '../../definitions/stream-consumers.js';
import { pushBatch } from '../domain/push-notifier.js';
import { streamConsumer } from '../middleware/lambda-function.js';
import { type DepsProvider, depsFromEnvironment, pushNotifierDeps } from '../runtime.js';

/** The filter of this consumer's event source mapping, in AWS and locally. */
export const PUSH_EVENT_TYPES = pushConsumer.eventTypes;

export function createPushNotifierHandler(deps: DepsProvider) {
  const handle = async (batch: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> => {
    const records = batch.Records.map((record) => ({
      id: record.kinesis.sequenceNumber,
      data: Buffer.from(record.kinesis.data, 'base64').toString('utf8'),
    }));
    const retry = await pushBatch(pushNotifierDeps(deps()), records);
    return { batchItemFailures: retry.map((itemIdentifier) => ({ itemIdentifier })) };
  };
  return streamConsumer(deps, handle);
}

export const handler = createPushNotifierHandler(depsFromEnvironment('push-notifier'));
