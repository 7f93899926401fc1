/**
 * The public types of the local Kinesis event source mapping: its options, the handler it
 * calls, what its on-failure destination receives, and the handle `startKinesisEventSourceMapping`
 * returns. The bracketed names ([PAR], [FLT], [BAT]) are the pages listed in `index.ts`.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';

/** Where the mapping reports what it does; the default drops `info`. */
export type MappingLog = (level: 'info' | 'warn' | 'error', message: string, details?: unknown) => void;

/** A Lambda handler for Kinesis batches; `void` lets a handler that returns nothing fit. */
export type KinesisBatchHandler = (
  event: KinesisStreamEvent,
  context: Context,
  // biome-ignore lint/suspicious/noConfusingVoidType: `async () => {}` returns Promise<void>, not Promise<undefined>.
) => Promise<KinesisStreamBatchResponse | undefined | void>;

/** What the on-failure destination receives: records the mapping gave up on, in stream order. */
export interface FailedBatch {
  shardId: string;
  reason: 'RetryAttemptsExhausted' | 'RecordAgeExceeded';
  records: KinesisStreamEvent['Records'];
  /** The last error the handler threw (or the reason its response was refused), if any. */
  error?: unknown;
}

export interface KinesisEventSourceMappingOptions {
  kinesis: KinesisClient;
  streamName: string;
  /** Used in `eventSourceARN` and `awsRegion`. Default 'us-east-1'. */
  region?: string;
  handler: KinesisBatchHandler;
  /** Default 'fanout'. */
  functionName?: string;
  /** The `Limit` of each `GetRecords` call (1 to 10,000). Default 100. */
  batchSize?: number;
  /** The wait after a `GetRecords` call that returned nothing. Default 10 ms. */
  pollIntervalMs?: number;
  /** Default 'TRIM_HORIZON'. */
  startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  /** Retries after the first invocation; -1 retries until the record is too old. Default 3. */
  maximumRetryAttempts?: number;
  /** Records older than this are not sent to the handler; -1 for no limit. Default 60. */
  maximumRecordAgeInSeconds?: number;
  /** Default true. */
  bisectBatchOnFunctionError?: boolean;
  /** Honour `batchItemFailures` in the handler's response. Default true. */
  reportBatchItemFailures?: boolean;
  /** The on-failure destination. */
  onFailure?: (failed: FailedBatch) => void | Promise<void>;
  log?: MappingLog;
  /** The wait before a retry of a failed batch. Default 20 ms. */
  retryDelayMs?: number;
  /**
   * Lambda event filtering on the record's `data` ([FLT]): called with the data decoded as
   * JSON; a record is sent to the handler only if it returns true. A record whose data is
   * not JSON never matches (the filter is not called). A record that does not match is
   * dropped as if handled: checkpointed, never delivered, never retried, never sent to
   * onFailure, and not counted in a batch or a batching window. A batch left empty by the
   * filter invokes nothing. Build it from Lambda filter patterns with `filterFromPatterns`,
   * so the CDK stack can use the same patterns. Default: every record is delivered.
   */
  filter?: (data: unknown) => boolean;
  /**
   * MaximumBatchingWindowInSeconds ([BAT]), an integer from 0 to 300: how long to gather
   * records before invoking. The window opens when the mapping reads the first record of a
   * batch; it keeps reading that shard until the window has elapsed or the batch holds
   * `batchSize` records, then invokes once. `wake()` does not close a window early. With 0
   * (the default) each `GetRecords` answer is handled at once.
   */
  maximumBatchingWindowInSeconds?: number;
  /** What `context.getRemainingTimeInMillis()` counts down from. Not enforced. Default 60 s. */
  timeoutSeconds?: number;
  /**
   * ParallelizationFactor ([PAR]), an integer from 1 to 10: how many batches of one shard
   * are handled at once. Each record goes to one of that many slots by a hash of its
   * partition key (`parallelSlotOf`), and a slot handles its batches one after another, with
   * their retries, so records of one partition key keep their order and are never in two
   * batches in flight. A failing batch holds up its slot only. The shard's checkpoint moves
   * past a record only once it and every record before it are handled, filtered out or sent
   * to onFailure. With 1 (the default) the shard is read again only after its batch is done.
   */
  parallelizationFactor?: number;
  /**
   * The least time from a put to the handler, in milliseconds: a record is handed to the
   * handler no sooner than this after its `approximateArrivalTimestamp`, so a record that
   * already waited that long (in a batching window, or behind a slow batch) does not wait
   * again; a batch waits for its newest record. Locally a put wakes the mapping, so the
   * stream costs next to nothing; in AWS the hop through an enhanced fan-out consumer is
   * "typically an average of 70 ms" ("Develop enhanced fan-out consumers with dedicated
   * throughput", https://docs.aws.amazon.com/streams/latest/dev/enhanced-consumers.html),
   * before Lambda's own invoke. Set it to model that in a benchmark. Default 0. A function
   * draws the delay afresh for each batch (a distribution rather than a constant).
   */
  deliveryDelayMs?: number | (() => number);
}

export interface RunningEventSourceMapping {
  /** Ends every polling loop after the handler call in flight; never throws. */
  stop(): Promise<void>;
  /**
   * Resolves once every record put before the call has been handled, filtered out or sent to
   * onFailure. Records held in an open batching window are not handled yet: it waits for
   * the window to close and the batch to be handled.
   */
  drain?(): Promise<void>;
  /**
   * Says that records were just put: every idle shard polls at once instead of waiting out
   * `pollIntervalMs`, or only the shard that holds `partitionKey` when it is given (the shard
   * whose hash key range holds the MD5 of the key, as Kinesis places records). The local
   * stack calls it after each PutRecord, as enhanced fan-out pushes records in AWS, so the
   * idle interval can be long and cheap.
   */
  wake(partitionKey?: string): void;
  /**
   * The shard's checkpoint: the sequence number Lambda would resume after. Every record up to
   * it is handled, filtered out or sent to onFailure; undefined before the first.
   */
  checkpoint(shardId: string): string | undefined;
}
