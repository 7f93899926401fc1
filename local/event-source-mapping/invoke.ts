/**
 * One call of the handler, and how its response reads with ReportBatchItemFailures ([PBR]
 * "Configuring partial batch response with Kinesis Data Streams and Lambda",
 * https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html).
 */
import type { KinesisStreamRecord } from 'aws-lambda';
import type { LambdaEvents } from './lambda-event.js';
import type { KinesisBatchHandler } from './types.js';

/** What one call of the handler came to. */
export type Outcome =
  | { kind: 'success' }
  /** Partial batch response: records from `fromIndex` on are retried. */
  | { kind: 'partial'; fromIndex: number }
  /** The handler threw (or rejected). */
  | { kind: 'error'; error: unknown }
  /** The response names an item that is not in the batch: the whole batch failed, as in [PBR]. */
  | { kind: 'invalid-response'; error: Error };

/** Calls `handler` once with `records`, and never throws. */
export async function invokeHandler(
  handler: KinesisBatchHandler,
  events: LambdaEvents,
  records: KinesisStreamRecord[],
  reportBatchItemFailures: boolean,
): Promise<Outcome> {
  let response: unknown;
  try {
    response = await handler(events.toEvent(records), events.createContext());
  } catch (error) {
    return { kind: 'error', error };
  }
  // [PBR] "these responses will not be processed by Lambda unless the
  // ReportBatchItemFailures feature is explicitly turned on".
  if (!reportBatchItemFailures) return { kind: 'success' };
  return readBatchResponse(response, records);
}

/**
 * Reads a handler response as Lambda does with ReportBatchItemFailures on ([PBR], "Success
 * and failure conditions"): an empty or null `batchItemFailures` list, or an empty or null
 * response, is a complete success; an empty or null `itemIdentifier`, or an item whose key
 * is misspelt (so it has no `itemIdentifier`), makes the whole batch fail. [PBR] does not
 * say what an identifier that is not a sequence number of the batch does: it fails the
 * whole batch here too, rather than move the checkpoint to a record the batch does not hold.
 */
export function readBatchResponse(response: unknown, records: KinesisStreamRecord[]): Outcome {
  if (response === undefined || response === null || typeof response !== 'object') return { kind: 'success' };
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return { kind: 'success' };
  if (!Array.isArray(failures)) {
    return { kind: 'invalid-response', error: new Error('batchItemFailures is not a list') };
  }
  if (failures.length === 0) return { kind: 'success' };
  const indexOf = new Map(records.map((record, index) => [record.kinesis.sequenceNumber, index]));
  let fromIndex = records.length;
  for (const failure of failures) {
    const itemIdentifier = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    const index = typeof itemIdentifier === 'string' ? indexOf.get(itemIdentifier) : undefined;
    if (index === undefined) {
      return {
        kind: 'invalid-response',
        error: new Error(
          `batchItemFailures names ${JSON.stringify(itemIdentifier)}, not a record of the batch`,
        ),
      };
    }
    // Records of a shard come in sequence order: the lowest index is the lowest sequence number.
    fromIndex = Math.min(fromIndex, index);
  }
  return { kind: 'partial', fromIndex };
}
