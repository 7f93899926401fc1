/**
 * Kinesis consumer of conversation events (messages, receipts): decodes the records, hands
 * them to the fanout's batch policy (`domain/fanout-batch.ts`), and reports the records it
 * gives back as batch item failures, so that Lambda retries from there.
 */
import type { KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { fanoutConsumer } from '../../definitions/stream-consumers.js';
import { createBatchFanout, type StreamRecord } from '../domain/fanout-batch.js';
import { streamConsumer } from '../middleware/lambda-function.js';
import { type DepsProvider, depsFromEnvironment, fanoutDeps } from '../runtime.js';

/** The filter the event source mapping applies, in AWS and locally: presence has its own consumer. */
export const FANOUT_EVENT_TYPES = fanoutConsumer.eventTypes;

/** The record's data as text, and the sequence number Lambda knows it by. */
function decodeRecord(record: KinesisStreamRecord): StreamRecord {
  return {
    id: record.kinesis.sequenceNumber,
    partitionKey: record.kinesis.partitionKey,
    data: Buffer.from(record.kinesis.data, 'base64').toString('utf8'),
  };
}

export function createFanoutHandler(deps: DepsProvider) {
  const fanOut = createBatchFanout(() => fanoutDeps(deps()));
  const handle = async (batch: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> => {
    const retry = await fanOut(batch.Records.map(decodeRecord));
    return { batchItemFailures: retry.map((itemIdentifier) => ({ itemIdentifier })) };
  };
  return streamConsumer(deps, handle);
}

export const handler = createFanoutHandler(depsFromEnvironment('fanout'));
