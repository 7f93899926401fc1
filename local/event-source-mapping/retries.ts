/**
 * One batch of a slot, with Lambda's error handling: partial batch responses, bisect on
 * function error, bounded retries (MaximumRetryAttempts) and record age
 * (MaximumRecordAgeInSeconds), and the on-failure destination for what is given up on.
 *
 * - [OFD] "Retain discarded batch records for a Kinesis Data Streams event source in Lambda",
 *   https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html
 * - [PBR] "Configuring partial batch response with Kinesis Data Streams and Lambda",
 *   https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html
 *
 * Unlike Lambda, a failed batch is retried from memory rather than read again from the
 * checkpoint.
 */
import type { KinesisStreamRecord } from 'aws-lambda';
import type { ShardCheckpoint } from './checkpoint.js';
import type { Outcome } from './invoke.js';
import type { FailedBatch, MappingLog } from './types.js';
import { sleep, sleepUntil } from './waits.js';

/** Records of a batch handled together, with the retries already spent on them. */
export interface Segment {
  records: KinesisStreamRecord[];
  retries: number;
  lastError?: unknown;
}

export interface RetryPolicy {
  /** Retries after the first invocation; -1 retries until the record is too old. */
  maximumRetryAttempts: number;
  /** -1 for no limit. */
  maximumRecordAgeInSeconds: number;
  bisectBatchOnFunctionError: boolean;
}

/** What to do with a segment after a call that did not succeed. */
export type RetryPlan =
  | { kind: 'bisect'; halves: [Segment, Segment] }
  | { kind: 'retry'; segment: Segment }
  | { kind: 'discard'; records: KinesisStreamRecord[]; lastError?: unknown };

export type FailedOutcome = Exclude<Outcome, { kind: 'success' }>;

/**
 * How many records at the start of `records` are older than the maximum age at `now`
 * (milliseconds). The oldest records come first in a shard, so the expired ones are a prefix.
 */
export function countExpired(
  records: readonly KinesisStreamRecord[],
  now: number,
  maximumRecordAgeInSeconds: number,
): number {
  if (maximumRecordAgeInSeconds === -1) return 0;
  let expired = 0;
  while (
    expired < records.length &&
    now - (records[expired] as KinesisStreamRecord).kinesis.approximateArrivalTimestamp * 1000 >
      maximumRecordAgeInSeconds * 1000
  ) {
    expired++;
  }
  return expired;
}

/**
 * Decides what follows a failed call of `segment`. A partial batch response retries the
 * records from the lowest one reported; a function error bisects the batch when that is
 * on, else retries it whole; a refused response is not a function error and retries the
 * batch whole. Once the retries are spent, the failed records are discarded.
 */
export function planAfterFailure(segment: Segment, outcome: FailedOutcome, policy: RetryPolicy): RetryPlan {
  const lastError = outcome.kind === 'partial' ? segment.lastError : outcome.error;
  // [PBR] "If the batchItemFailures array contains multiple items, Lambda uses the record
  // with the lowest sequence number as the checkpoint. Lambda then retries all records
  // starting from that checkpoint." With bisect on as well, "the batch is bisected at the
  // returned sequence number and Lambda retries only the remaining records": the same
  // records, so both settings retry the same.
  const failed = outcome.kind === 'partial' ? segment.records.slice(outcome.fromIndex) : segment.records;
  // [OFD] BisectBatchOnFunctionError "splits a failed batch into two smaller batches,
  // isolating bad records and avoiding timeouts. Splitting batches doesn't consume the
  // retry quota." So both halves keep the retries already spent.
  if (outcome.kind === 'error' && policy.bisectBatchOnFunctionError && segment.records.length > 1) {
    const middle = Math.ceil(segment.records.length / 2);
    const half = (records: KinesisStreamRecord[]): Segment => ({
      records,
      retries: segment.retries,
      lastError,
    });
    return {
      kind: 'bisect',
      halves: [half(segment.records.slice(0, middle)), half(segment.records.slice(middle))],
    };
  }
  // MaximumRetryAttempts counts retries after the first invocation: "The maximum number of
  // times that Lambda retries when the function returns an error" ("Using AWS Lambda with
  // Amazon Kinesis", https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html), and
  // "When set to infinite (-1), failed records are retried until the record expires" (the
  // Lambda API reference, UpdateEventSourceMapping).
  const retriesLeft = policy.maximumRetryAttempts === -1 || segment.retries < policy.maximumRetryAttempts;
  if (!retriesLeft) return { kind: 'discard', records: failed, lastError };
  return { kind: 'retry', segment: { records: failed, retries: segment.retries + 1, lastError } };
}

export interface BatchRetrierOptions {
  shardId: string;
  checkpoint: ShardCheckpoint;
  policy: RetryPolicy;
  /** Calls the handler once; never throws. */
  invoke: (records: KinesisStreamRecord[]) => Promise<Outcome>;
  /** The wait before a retry of a failed batch. */
  retryDelayMs: number;
  /** The least time from a put to the handler; a function draws it for each batch. */
  deliveryDelayMs: number | (() => number);
  onFailure: ((failed: FailedBatch) => void | Promise<void>) | undefined;
  signal: AbortSignal;
  log: MappingLog;
}

/** Handles the batches of one shard, each until every record is handled or discarded. */
export class BatchRetrier {
  constructor(private readonly options: BatchRetrierOptions) {}

  /** Handles one batch of a slot; returns once every record is handled or discarded, or the mapping stops. */
  async handle(records: KinesisStreamRecord[]): Promise<void> {
    const { invoke, signal, checkpoint, policy } = this.options;
    await this.waitForDeliveryDelay(records);
    // Segments of the batch still to handle, in stream order; bisect replaces the first with its halves.
    const queue: Segment[] = [{ records, retries: 0 }];
    while (queue.length > 0 && !signal.aborted) {
      const segment = queue[0] as Segment;
      if (!(await this.discardExpired(segment))) {
        queue.shift();
        continue;
      }
      const outcome = await invoke(segment.records);
      if (outcome.kind === 'success') {
        checkpoint.noteDone(sequenceNumbersOf(segment.records));
        queue.shift();
        continue;
      }
      this.noteFailure(segment, outcome);
      const plan = planAfterFailure(segment, outcome, policy);
      if (plan.kind === 'bisect') {
        queue.splice(0, 1, ...plan.halves);
      } else if (plan.kind === 'discard') {
        await this.discard('RetryAttemptsExhausted', plan.records, plan.lastError);
        queue.shift();
      } else {
        queue[0] = plan.segment;
        await sleep(this.options.retryDelayMs, signal);
      }
    }
  }

  /**
   * [OFD] Lambda retries "until the records expire, exceed the maximum age
   * (MaximumRecordAgeInSeconds), or reach the configured retry quota": sends the records of
   * `segment` that are too old to the on-failure destination, and says whether any is left.
   */
  private async discardExpired(segment: Segment): Promise<boolean> {
    const expired = countExpired(segment.records, Date.now(), this.options.policy.maximumRecordAgeInSeconds);
    if (expired === 0) return true;
    await this.discard('RecordAgeExceeded', segment.records.slice(0, expired), segment.lastError);
    segment.records = segment.records.slice(expired);
    return segment.records.length > 0;
  }

  /** Moves the checkpoint past the records a partial response handled, and logs the failure. */
  private noteFailure(segment: Segment, outcome: FailedOutcome): void {
    const { shardId, checkpoint, log } = this.options;
    if (outcome.kind === 'partial') {
      checkpoint.noteDone(sequenceNumbersOf(segment.records.slice(0, outcome.fromIndex)));
      const failed = segment.records.slice(outcome.fromIndex);
      log('warn', `the handler reported ${failed.length} record(s) to retry`, {
        shardId,
        fromSequenceNumber: failed[0]?.kinesis.sequenceNumber,
      });
      return;
    }
    log('warn', `the handler failed a batch of ${segment.records.length} record(s)`, {
      shardId,
      error: outcome.error,
    });
  }

  /** Sends records the mapping gives up on to the on-failure destination; they count as done. */
  private async discard(
    reason: FailedBatch['reason'],
    records: KinesisStreamRecord[],
    error: unknown,
  ): Promise<void> {
    const { shardId, checkpoint, log, onFailure } = this.options;
    const failed: FailedBatch = { shardId, reason, records, ...(error !== undefined ? { error } : {}) };
    checkpoint.noteDone(sequenceNumbersOf(records));
    log('error', `${records.length} record(s) sent to the on-failure destination`, {
      shardId,
      reason,
      firstSequenceNumber: records[0]?.kinesis.sequenceNumber,
      lastSequenceNumber: records.at(-1)?.kinesis.sequenceNumber,
      error: failed.error,
    });
    if (!onFailure) return;
    try {
      await onFailure(failed);
    } catch (error) {
      log('error', 'the on-failure destination threw; the records are dropped', { shardId, error });
    }
  }

  /** Waits until `deliveryDelayMs` has passed since the newest of `records` was put, or the mapping stops. */
  private async waitForDeliveryDelay(records: KinesisStreamRecord[]): Promise<void> {
    const { signal } = this.options;
    const drawn = this.options.deliveryDelayMs;
    const deliveryDelayMs = typeof drawn === 'function' ? drawn() : drawn;
    if (deliveryDelayMs <= 0) return;
    const newestArrival = records.reduce(
      (newest, record) => Math.max(newest, record.kinesis.approximateArrivalTimestamp * 1000),
      0,
    );
    await sleepUntil(newestArrival + deliveryDelayMs, signal);
  }
}

function sequenceNumbersOf(records: readonly KinesisStreamRecord[]): string[] {
  return records.map((record) => record.kinesis.sequenceNumber);
}
