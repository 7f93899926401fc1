/**
 * A local Lambda event source mapping on a Kinesis stream: one polling loop per shard
 * (`GetRecords`, not `SubscribeToShard`, which kinesis-mock pushes only once a second),
 * calling the handler with the event and context Lambda would send, and applying
 * Lambda's error handling: partial batch responses, bisect on function error, bounded
 * retries (attempts and record age) and an on-failure destination; Lambda's event
 * filtering (FilterCriteria on `data`), batching window (MaximumBatchingWindowInSeconds)
 * and concurrent batches per shard (ParallelizationFactor).
 *
 * The rules follow the Lambda developer guide:
 * - [PBR] "Configuring partial batch response with Kinesis Data Streams and Lambda",
 *   https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html
 * - [OFD] "Retain discarded batch records for a Kinesis Data Streams event source in Lambda",
 *   https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html
 * - [PAR] "Lambda parameters for Amazon Kinesis Data Streams event source mappings",
 *   https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-parameters.html
 * - [FLT] "Control which events Lambda sends to your function",
 *   https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html, and
 *   "Using event filtering with a Kinesis event source",
 *   https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis-filtering.html
 * - [BAT] "Lambda event source mappings", section "Batching behavior",
 *   https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventsourcemapping.html#invocation-eventsourcemapping-batching
 *
 * Unlike Lambda, a failed batch is retried from memory rather than read again from the
 * checkpoint, shards created by resharding after the start are not picked up, the 6 MB
 * payload limit does not close a batching window, and a batching window opens when the
 * mapping reads the first record of the batch (see `maximumBatchingWindowInSeconds`).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  type _Record,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type GetShardIteratorCommandInput,
  type KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import type {
  Context,
  KinesisStreamBatchResponse,
  KinesisStreamEvent,
  KinesisStreamRecord,
} from 'aws-lambda';

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
  log?: (level: 'info' | 'warn' | 'error', message: string, details?: unknown) => void;
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
   * before Lambda's own invoke. Set it to model that in a benchmark. Default 0.
   */
  deliveryDelayMs?: number;
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

/** Record data is JSON only if it is valid UTF-8 too. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });
/** The account of the local engines (kinesis-mock uses it too). */
const LOCAL_ACCOUNT = '000000000000';
const KINESIS_ERROR_BACKOFF_MS = { first: 50, max: 1000 };
/** Repeated Kinesis errors of one shard are logged at most this often. */
const KINESIS_ERROR_LOG_INTERVAL_MS = 5000;

interface Segment {
  records: KinesisStreamRecord[];
  /** Retries already spent on these records. */
  retries: number;
  lastError?: unknown;
}

type Outcome =
  | { kind: 'success' }
  /** Partial batch response: records from `fromIndex` on are retried. */
  | { kind: 'partial'; fromIndex: number }
  /** The handler threw (or rejected). */
  | { kind: 'error'; error: unknown }
  /** The response names an item that is not in the batch: the whole batch failed, as in [PBR]. */
  | { kind: 'invalid-response'; error: Error };

/** Records of one shard read and not yet past the checkpoint, in stream order. */
interface ReadRecord {
  sequenceNumber: string;
  done: boolean;
}

/** One of the `parallelizationFactor` lanes of a shard: its records, handled one batch at a time. */
interface Slot {
  /** Records dispatched to the slot and not handed to the handler yet, in stream order. */
  queue: KinesisStreamRecord[];
  /** The slot's batches being handled, while they are. */
  running?: Promise<void>;
}

interface ShardState {
  shardId: string;
  /** The shard's hash key range, to wake only the shard a partition key maps to. */
  hashKeyRange?: { start: bigint; end: bigint };
  iterator?: string;
  /**
   * The last sequence number before which every record is handled, filtered out or sent to
   * the on-failure destination.
   */
  checkpoint?: string;
  /** The last sequence number read (in flight, held in a batch or done): a renewed iterator starts after it. */
  readPosition?: string;
  /** Records read and not yet behind the checkpoint, oldest first. */
  read: ReadRecord[];
  /** The entries of `read` not done yet, by sequence number. */
  unfinished: Map<string, ReadRecord>;
  slots: Slot[];
  /** Ends the reader's wait for a free slot, if it waits. */
  slotFreed?: () => void;
  /** The drain epoch of the last empty `GetRecords` call at the tip of the shard. */
  drainedEpoch: number;
  ended: boolean;
  /** `wake()` was called since the last poll. */
  woken?: boolean;
  /** Ends the idle wait in progress, if any. */
  wakeUp?: () => void;
}

/**
 * Starts polling every shard of `streamName` and calling `handler` with batches of records.
 * Resolves once every shard has its starting iterator, so with `LATEST` a record put after
 * the returned promise resolves is delivered.
 *
 * @example
 * ```ts
 * const mapping = await startKinesisEventSourceMapping({
 *   kinesis: createAwsClients({ region: 'us-east-1', local: true, kinesis: endpoint }).kinesis,
 *   streamName: 'parley-events',
 *   handler: (event, context) => fanout(event, context),
 *   onFailure: (failed) => console.error('discarded', failed.reason, failed.records.length),
 * });
 * // …
 * await mapping.drain?.();
 * await mapping.stop();
 * ```
 */
export async function startKinesisEventSourceMapping(
  options: KinesisEventSourceMappingOptions,
): Promise<RunningEventSourceMapping> {
  const {
    kinesis,
    streamName,
    handler,
    region = 'us-east-1',
    functionName = 'fanout',
    batchSize = 100,
    pollIntervalMs = 10,
    startingPosition = 'TRIM_HORIZON',
    maximumRetryAttempts = 3,
    maximumRecordAgeInSeconds = 60,
    bisectBatchOnFunctionError = true,
    reportBatchItemFailures = true,
    onFailure,
    retryDelayMs = 20,
    timeoutSeconds = 60,
    filter,
    maximumBatchingWindowInSeconds = 0,
    parallelizationFactor = 1,
    deliveryDelayMs = 0,
  } = options;
  const log = options.log ?? defaultLog;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new RangeError(`batchSize must be an integer from 1 to 10000, not ${batchSize}`);
  }
  if (maximumRetryAttempts < -1) throw new RangeError('maximumRetryAttempts must be -1 or more');
  if (maximumRecordAgeInSeconds !== -1 && !(maximumRecordAgeInSeconds > 0)) {
    throw new RangeError('maximumRecordAgeInSeconds must be -1 or more than 0');
  }
  if (
    !Number.isInteger(maximumBatchingWindowInSeconds) ||
    maximumBatchingWindowInSeconds < 0 ||
    maximumBatchingWindowInSeconds > 300
  ) {
    throw new RangeError(
      `maximumBatchingWindowInSeconds must be an integer from 0 to 300, not ${maximumBatchingWindowInSeconds}`,
    );
  }
  if (!Number.isInteger(parallelizationFactor) || parallelizationFactor < 1 || parallelizationFactor > 10) {
    throw new RangeError(
      `parallelizationFactor must be an integer from 1 to 10, not ${parallelizationFactor}`,
    );
  }
  if (!Number.isFinite(deliveryDelayMs) || deliveryDelayMs < 0) {
    throw new RangeError(
      `deliveryDelayMs must be a number of milliseconds of 0 or more, not ${deliveryDelayMs}`,
    );
  }
  const batchingWindowMs = maximumBatchingWindowInSeconds * 1000;
  /** Records waiting in the slots of a shard before its reader waits for them to be handled. */
  const maxQueuedRecords = batchSize * parallelizationFactor;

  const eventSourceARN = `arn:aws:kinesis:${region}:${LOCAL_ACCOUNT}:stream/${streamName}`;
  const invokeIdentityArn = `arn:aws:iam::${LOCAL_ACCOUNT}:role/${functionName}-role`;
  const startedAt = new Date();
  const abort = new AbortController();
  const { signal } = abort;

  // ---------------------------------------------------------------- shards and iterators

  const listed: Array<{ shardId: string; hashKeyRange?: { start: bigint; end: bigint } }> = [];
  let nextToken: string | undefined;
  do {
    const page = await kinesis.send(
      new ListShardsCommand(nextToken ? { NextToken: nextToken } : { StreamName: streamName }),
    );
    for (const shard of page.Shards ?? []) {
      if (!shard.ShardId) continue;
      const { StartingHashKey: start, EndingHashKey: end } = shard.HashKeyRange ?? {};
      listed.push({
        shardId: shard.ShardId,
        ...(start && end ? { hashKeyRange: { start: BigInt(start), end: BigInt(end) } } : {}),
      });
    }
    nextToken = page.NextToken;
  } while (nextToken);

  /** An iterator after `resumeAfter`: the checkpoint, or the last record read into an open batch. */
  async function getIterator(shard: ShardState, resumeAfter = shard.checkpoint): Promise<string | undefined> {
    const position: Omit<GetShardIteratorCommandInput, 'StreamName' | 'ShardId'> = resumeAfter
      ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: resumeAfter }
      : startingPosition === 'LATEST' && shard.iterator !== undefined
        ? // A renewal before any record came: LATEST again could skip records put meanwhile.
          { ShardIteratorType: 'AT_TIMESTAMP', Timestamp: startedAt }
        : { ShardIteratorType: startingPosition };
    const answer = await kinesis.send(
      new GetShardIteratorCommand({ StreamName: streamName, ShardId: shard.shardId, ...position }),
      { abortSignal: signal },
    );
    return answer.ShardIterator;
  }

  const shards: ShardState[] = listed.map((shard) => ({
    ...shard,
    read: [],
    unfinished: new Map(),
    slots: Array.from({ length: parallelizationFactor }, () => ({ queue: [] })),
    drainedEpoch: 0,
    ended: false,
  }));
  const shardsById = new Map(shards.map((shard) => [shard.shardId, shard]));
  await Promise.all(
    shards.map(async (shard) => {
      shard.iterator = await getIterator(shard);
    }),
  );

  // ---------------------------------------------------------------- drain bookkeeping

  let stopped = false;
  let drainEpoch = 0;
  const drainWaiters: { epoch: number; resolve: () => void }[] = [];

  function settleDrains(): void {
    for (let i = drainWaiters.length - 1; i >= 0; i--) {
      const waiter = drainWaiters[i] as (typeof drainWaiters)[number];
      if (stopped || shards.every((shard) => shard.ended || shard.drainedEpoch >= waiter.epoch)) {
        drainWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  // ---------------------------------------------------------------- the checkpoint

  /** Notes a record read from the shard; a record filtered out is done at once. */
  function noteRead(shard: ShardState, sequenceNumber: string, done: boolean): void {
    shard.readPosition = sequenceNumber;
    if (done && shard.read.length === 0) {
      shard.checkpoint = sequenceNumber;
      return;
    }
    const entry = { sequenceNumber, done };
    shard.read.push(entry);
    if (!done) shard.unfinished.set(sequenceNumber, entry);
  }

  /** Notes records handled or sent to onFailure, and moves the checkpoint past every record done in a row. */
  function noteDone(shard: ShardState, records: KinesisStreamRecord[]): void {
    for (const record of records) {
      const entry = shard.unfinished.get(record.kinesis.sequenceNumber);
      if (!entry) continue;
      entry.done = true;
      shard.unfinished.delete(record.kinesis.sequenceNumber);
    }
    let behind = 0;
    while (behind < shard.read.length && (shard.read[behind] as ReadRecord).done) behind++;
    if (behind === 0) return;
    shard.checkpoint = (shard.read[behind - 1] as ReadRecord).sequenceNumber;
    shard.read.splice(0, behind);
  }

  // ---------------------------------------------------------------- event filtering

  /**
   * [FLT] Lambda decodes the data as JSON and matches the filter against it; data that is
   * not JSON never matches a data pattern, so the record is dropped.
   */
  function passesFilter(shardId: string, record: _Record): boolean {
    if (!filter) return true;
    let data: unknown;
    try {
      data = JSON.parse(UTF8.decode(record.Data ?? new Uint8Array()));
    } catch {
      return false;
    }
    try {
      return filter(data) === true;
    } catch (error) {
      log('error', 'the filter threw; the record is dropped', {
        shardId,
        sequenceNumber: record.SequenceNumber,
        error,
      });
      return false;
    }
  }

  // ---------------------------------------------------------------- invoking the handler

  function toEventRecord(shardId: string, record: _Record): KinesisStreamRecord {
    const sequenceNumber = record.SequenceNumber ?? '';
    const data = record.Data ?? new Uint8Array();
    return {
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: record.PartitionKey ?? '',
        sequenceNumber,
        data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'),
        approximateArrivalTimestamp: (record.ApproximateArrivalTimestamp ?? new Date()).getTime() / 1000,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `${shardId}:${sequenceNumber}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn,
      awsRegion: region,
      eventSourceARN,
    };
  }

  function createContext(): Context {
    const deadline = Date.now() + timeoutSeconds * 1000;
    const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
    return {
      callbackWaitsForEmptyEventLoop: true,
      functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:${region}:${LOCAL_ACCOUNT}:function:${functionName}`,
      memoryLimitInMB: '128',
      awsRequestId: randomUUID(),
      logGroupName: `/aws/lambda/${functionName}`,
      logStreamName: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: () => {},
      fail: () => {},
      succeed: () => {},
    };
  }

  async function invoke(records: KinesisStreamRecord[]): Promise<Outcome> {
    // A fresh copy each time, so a handler that changes its event cannot change a retry.
    const event: KinesisStreamEvent = {
      Records: records.map((record) => ({ ...record, kinesis: { ...record.kinesis } })),
    };
    let response: unknown;
    try {
      response = await handler(event, createContext());
    } catch (error) {
      return { kind: 'error', error };
    }
    // [PBR] "these responses will not be processed by Lambda unless the
    // ReportBatchItemFailures feature is explicitly turned on".
    if (!reportBatchItemFailures) return { kind: 'success' };
    return readBatchResponse(response, records);
  }

  // ---------------------------------------------------------------- one batch, with its retries

  async function discard(shard: ShardState, failed: FailedBatch): Promise<void> {
    const last = failed.records.at(-1);
    noteDone(shard, failed.records);
    log('error', `${failed.records.length} record(s) sent to the on-failure destination`, {
      shardId: failed.shardId,
      reason: failed.reason,
      firstSequenceNumber: failed.records[0]?.kinesis.sequenceNumber,
      lastSequenceNumber: last?.kinesis.sequenceNumber,
      error: failed.error,
    });
    if (!onFailure) return;
    try {
      await onFailure(failed);
    } catch (error) {
      log('error', 'the on-failure destination threw; the records are dropped', {
        shardId: failed.shardId,
        error,
      });
    }
  }

  function isTooOld(record: KinesisStreamRecord, now: number): boolean {
    return (
      maximumRecordAgeInSeconds !== -1 &&
      now - record.kinesis.approximateArrivalTimestamp * 1000 > maximumRecordAgeInSeconds * 1000
    );
  }

  function retriesLeft(segment: Segment): boolean {
    return maximumRetryAttempts === -1 || segment.retries < maximumRetryAttempts;
  }

  /** Waits until `deliveryDelayMs` has passed since the newest of `records` was put, or `stop()`. */
  async function waitForDeliveryDelay(records: KinesisStreamRecord[]): Promise<void> {
    if (deliveryDelayMs === 0) return;
    const newestArrival = records.reduce(
      (newest, record) => Math.max(newest, record.kinesis.approximateArrivalTimestamp * 1000),
      0,
    );
    const deliverAt = newestArrival + deliveryDelayMs;
    // A timer may fire a little early (Node counts from the start of the loop's turn): wait again.
    for (let wait = deliverAt - Date.now(); wait > 0 && !stopped; wait = deliverAt - Date.now()) {
      await sleep(Math.ceil(wait), signal);
    }
  }

  /** Handles one batch of a slot; returns once every record is handled or discarded. */
  async function handleBatch(shard: ShardState, records: KinesisStreamRecord[]): Promise<void> {
    await waitForDeliveryDelay(records);
    // Segments of the batch still to handle, in stream order; bisect replaces the first with its halves.
    const queue: Segment[] = [{ records, retries: 0 }];
    while (queue.length > 0 && !stopped) {
      const segment = queue[0] as Segment;

      // [OFD] Lambda retries "until the records expire, exceed the maximum age
      // (MaximumRecordAgeInSeconds), or reach the configured retry quota". The oldest
      // records come first in a shard, so the expired ones are a prefix of the segment.
      const now = Date.now();
      let expired = 0;
      while (
        expired < segment.records.length &&
        isTooOld(segment.records[expired] as KinesisStreamRecord, now)
      ) {
        expired++;
      }
      if (expired > 0) {
        await discard(shard, {
          shardId: shard.shardId,
          reason: 'RecordAgeExceeded',
          records: segment.records.slice(0, expired),
          ...(segment.lastError !== undefined ? { error: segment.lastError } : {}),
        });
        segment.records = segment.records.slice(expired);
        if (segment.records.length === 0) {
          queue.shift();
          continue;
        }
      }

      const outcome = await invoke(segment.records);
      if (outcome.kind === 'success') {
        noteDone(shard, segment.records);
        queue.shift();
        continue;
      }

      let failedRecords = segment.records;
      if (outcome.kind === 'partial') {
        // [PBR] "If the batchItemFailures array contains multiple items, Lambda uses the
        // record with the lowest sequence number as the checkpoint. Lambda then retries all
        // records starting from that checkpoint." With bisect on as well, "the batch is
        // bisected at the returned sequence number and Lambda retries only the remaining
        // records": the same records, so both settings end up here.
        noteDone(shard, segment.records.slice(0, outcome.fromIndex));
        failedRecords = segment.records.slice(outcome.fromIndex);
        log('warn', `the handler reported ${failedRecords.length} record(s) to retry`, {
          shardId: shard.shardId,
          fromSequenceNumber: failedRecords[0]?.kinesis.sequenceNumber,
        });
      } else {
        segment.lastError = outcome.error;
        log('warn', `the handler failed a batch of ${segment.records.length} record(s)`, {
          shardId: shard.shardId,
          error: outcome.error,
        });
        // [OFD] BisectBatchOnFunctionError "splits a failed batch into two smaller batches,
        // isolating bad records and avoiding timeouts. Splitting batches doesn't consume
        // the retry quota." So both halves keep the retries already spent. A refused
        // response is not a function error: its batch is retried whole.
        if (outcome.kind === 'error' && bisectBatchOnFunctionError && segment.records.length > 1) {
          const middle = Math.ceil(segment.records.length / 2);
          const halves: Segment[] = [segment.records.slice(0, middle), segment.records.slice(middle)].map(
            (half) => ({ records: half, retries: segment.retries, lastError: segment.lastError }),
          );
          queue.splice(0, 1, ...halves);
          continue;
        }
      }

      // MaximumRetryAttempts counts retries after the first invocation ([PAR]: "-1 means
      // infinite: failed records are retried until the record expires").
      if (!retriesLeft(segment)) {
        await discard(shard, {
          shardId: shard.shardId,
          reason: 'RetryAttemptsExhausted',
          records: failedRecords,
          ...(segment.lastError !== undefined ? { error: segment.lastError } : {}),
        });
        queue.shift();
        continue;
      }
      segment.records = failedRecords;
      segment.retries++;
      await sleep(retryDelayMs, signal);
    }
  }

  // ---------------------------------------------------------------- slots ([PAR] ParallelizationFactor)

  /** Hands records to their slots and starts every idle slot that has records. */
  function dispatch(shard: ShardState, records: KinesisStreamRecord[]): void {
    for (const record of records) {
      const slot = shard.slots[parallelSlotOf(record.kinesis.partitionKey, parallelizationFactor)] as Slot;
      slot.queue.push(record);
    }
    for (const slot of shard.slots) {
      if (stopped || slot.running || slot.queue.length === 0) continue;
      slot.running = runSlot(shard, slot).finally(() => {
        slot.running = undefined;
        onSlotFree(shard);
      });
    }
  }

  /** Handles the slot's records, up to `batchSize` at a time, until none is left. */
  async function runSlot(shard: ShardState, slot: Slot): Promise<void> {
    try {
      while (slot.queue.length > 0 && !stopped) await handleBatch(shard, slot.queue.splice(0, batchSize));
    } catch (error) {
      // handleBatch catches what it expects; this is a last resort, so the slot stays usable.
      log('error', 'a batch ended on an unexpected error', { shardId: shard.shardId, error });
    }
  }

  function onSlotFree(shard: ShardState): void {
    // A slot may have been given records while it finished its last batch.
    dispatch(shard, []);
    shard.slotFreed?.();
    // Everything read is done: a drain in progress needs one more (empty) poll to settle.
    if (shard.read.length === 0 && drainWaiters.length > 0) {
      shard.woken = true;
      shard.wakeUp?.();
    }
  }

  function mayReadMore(shard: ShardState): boolean {
    const queued = shard.slots.reduce((sum, slot) => sum + slot.queue.length, 0);
    return shard.slots.some((slot) => !slot.running) && queued < maxQueuedRecords;
  }

  /** Waits until a slot is free (with a factor of 1: until the batch is handled), or `stop()`. */
  async function waitForSlot(shard: ShardState): Promise<void> {
    while (!stopped && !mayReadMore(shard)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener('abort', done);
          shard.slotFreed = undefined;
          resolve();
        };
        shard.slotFreed = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  // ---------------------------------------------------------------- the polling loop of one shard

  async function pollShard(shard: ShardState): Promise<void> {
    let backoffMs = KINESIS_ERROR_BACKOFF_MS.first;
    let failingSince: number | undefined;
    let lastErrorLog = 0;
    let renew = shard.iterator === undefined;
    // The batch being gathered: records that passed the filter, not handed to the handler yet.
    let batch: KinesisStreamRecord[] = [];
    // When the batching window of the batch closes (performance.now() time).
    let windowClosesAt = 0;

    while (!stopped) {
      const epoch = drainEpoch;
      let records: _Record[];
      let nextIterator: string | undefined;
      let millisBehind: number | undefined;
      // A batch never holds more than batchSize records.
      const limit = batchSize - batch.length;
      try {
        // Read on after the records already read (held in a batch or in flight), not from the checkpoint.
        if (renew) shard.iterator = await getIterator(shard, shard.readPosition ?? shard.checkpoint);
        renew = false;
        const answer = await kinesis.send(
          new GetRecordsCommand({ ShardIterator: shard.iterator, Limit: limit }),
          {
            abortSignal: signal,
          },
        );
        records = answer.Records ?? [];
        nextIterator = answer.NextShardIterator;
        millisBehind = answer.MillisBehindLatest;
      } catch (error) {
        if (stopped) break;
        renew = true;
        // An iterator lives 5 minutes; kinesis-mock restarting or the stream being
        // re-created also invalidates it. Either way, ask for a new one from the checkpoint
        // (or from after the batch being gathered, which stays held).
        const expired = (error as { name?: string }).name === 'ExpiredIteratorException';
        const now = Date.now();
        failingSince ??= now;
        if (expired) {
          log('info', 'the shard iterator expired; renewing it', { shardId: shard.shardId });
        } else if (now - lastErrorLog >= KINESIS_ERROR_LOG_INTERVAL_MS) {
          lastErrorLog = now;
          log('warn', 'reading the shard failed; retrying', { shardId: shard.shardId, error });
        }
        await sleep(expired ? 0 : backoffMs, signal);
        if (!expired) backoffMs = Math.min(backoffMs * 2, KINESIS_ERROR_BACKOFF_MS.max);
        continue;
      }
      if (failingSince !== undefined) {
        log('info', 'reading the shard works again', {
          shardId: shard.shardId,
          afterMs: Date.now() - failingSince,
        });
        failingSince = undefined;
        lastErrorLog = 0;
      }
      backoffMs = KINESIS_ERROR_BACKOFF_MS.first;

      if (records.length > 0) {
        // [FLT] With a batching window, each new record is filtered before it joins the batch.
        // A record filtered out counts as handled: the checkpoint moves past it too.
        const wasEmpty = batch.length === 0;
        for (const record of records) {
          const passes = passesFilter(shard.shardId, record);
          noteRead(shard, record.SequenceNumber ?? '', !passes);
          if (passes) batch.push(toEventRecord(shard.shardId, record));
        }
        if (wasEmpty && batch.length > 0) windowClosesAt = performance.now() + batchingWindowMs;
      }

      // [BAT] Invoke once the batch is full or its window has elapsed; a closed shard read
      // to its end has nothing more to add.
      const invoke =
        batch.length > 0 &&
        (batchingWindowMs === 0 ||
          batch.length >= batchSize ||
          performance.now() >= windowClosesAt ||
          !nextIterator);
      if (invoke) {
        dispatch(shard, batch);
        batch = [];
        await waitForSlot(shard);
        if (stopped) break;
      } else if (
        records.length === 0 &&
        batch.length === 0 &&
        shard.read.length === 0 &&
        (millisBehind ?? 0) === 0
      ) {
        shard.drainedEpoch = epoch;
        settleDrains();
      }

      if (!nextIterator) {
        // A closed shard read to its end (after resharding).
        log('info', 'the shard is closed and fully read', { shardId: shard.shardId });
        break;
      }
      shard.iterator = nextIterator;
      // The answer reached the tip of the shard: nothing more is waiting, so poll again only
      // after the interval or a wake (a put while this poll was in flight wakes it too), unless
      // a drain waits for this shard.
      const atTip =
        records.length < limit &&
        (millisBehind ?? 0) === 0 &&
        !drainWaiters.some((waiter) => waiter.epoch > shard.drainedEpoch);
      if (batch.length > 0) {
        // A batching window is open: read again at once after records came (more may be
        // waiting), else after the poll interval, but no later than the window's end.
        if (records.length === 0 || atTip) {
          await idleWait(shard, Math.min(pollIntervalMs, Math.max(0, windowClosesAt - performance.now())));
        }
      } else if ((records.length === 0 && !invoke) || atTip) {
        await idleWait(shard, pollIntervalMs);
      }
    }
    // Stopping (or a closed shard): end after the batches in flight.
    await Promise.all(shard.slots.map((slot) => slot.running));
    shard.ended = true;
    settleDrains();
  }

  const loops = shards.map((shard) =>
    pollShard(shard).catch((error: unknown) => {
      // pollShard catches what it expects; this is a last resort so stop() never throws.
      shard.ended = true;
      settleDrains();
      log('error', 'a shard loop ended on an unexpected error', { shardId: shard.shardId, error });
    }),
  );

  /** Waits `ms`, or less when `wake()` was called since the last poll or `stop()` is called. */
  async function idleWait(shard: ShardState, ms: number): Promise<void> {
    if (shard.woken) {
      shard.woken = false;
      return;
    }
    if (signal.aborted) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        shard.wakeUp = undefined;
        resolve();
      }
      shard.wakeUp = done;
      signal.addEventListener('abort', done, { once: true });
    });
    shard.woken = false;
  }

  function wake(partitionKey?: string) {
    const hashKey = partitionKey === undefined ? undefined : hashKeyOf(partitionKey);
    const holding = (shard: ShardState) =>
      hashKey === undefined ||
      !shard.hashKeyRange ||
      (shard.hashKeyRange.start <= hashKey && hashKey <= shard.hashKeyRange.end);
    for (const shard of shards) {
      if (!holding(shard)) continue;
      shard.woken = true;
      shard.wakeUp?.();
    }
  }

  let stopping: Promise<void> | undefined;
  return {
    wake,
    checkpoint: (shardId) => shardsById.get(shardId)?.checkpoint,
    stop() {
      if (!stopping) {
        stopped = true;
        abort.abort();
        stopping = Promise.allSettled(loops).then(() => settleDrains());
      }
      return stopping;
    },
    drain() {
      if (stopped) return Promise.resolve();
      drainEpoch++;
      const epoch = drainEpoch;
      const drained = new Promise<void>((resolve) => {
        drainWaiters.push({ epoch, resolve });
        settleDrains();
      });
      // Draining needs a fresh poll of every shard: do not wait out the idle interval.
      wake();
      return drained;
    },
  };
}

// ---------------------------------------------------------------- partition keys

/** Where Kinesis puts a partition key: the MD5 of its UTF-8 bytes, as a 128-bit unsigned integer. */
function hashKeyOf(partitionKey: string): bigint {
  return BigInt(`0x${createHash('md5').update(partitionKey, 'utf8').digest('hex')}`);
}

/**
 * The slot of a shard that handles records of `partitionKey` when `parallelizationFactor`
 * batches run at once: the same key, the same slot, so its records keep their order.
 */
export function parallelSlotOf(partitionKey: string, parallelizationFactor: number): number {
  if (parallelizationFactor <= 1) return 0;
  // FNV-1a: cheap, and spreads short keys that differ in one character.
  let hash = 0x811c9dc5;
  for (let i = 0; i < partitionKey.length; i++) {
    hash ^= partitionKey.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % parallelizationFactor;
}

// ---------------------------------------------------------------- filter patterns

/** A rule of a pattern field: the values it may hold (exact match), or a nested pattern. */
type FieldPattern = ReadonlyArray<string | boolean | null> | DataPattern;
interface DataPattern {
  readonly [field: string]: FieldPattern;
}

/**
 * Turns Lambda filter patterns ([FLT], the objects the CDK's `FilterCriteria.filter()` takes)
 * into a `filter` for `startKinesisEventSourceMapping`, so the CDK stack and the local stack
 * share one definition:
 *
 * ```ts
 * const PRESENCE_PATTERNS = [{ data: { type: ['presence'] } }];
 * // CDK:   filters: PRESENCE_PATTERNS.map((pattern) => FilterCriteria.filter(pattern))
 * // local: filter: filterFromPatterns(PRESENCE_PATTERNS)
 * ```
 *
 * The subset of the syntax emulated, with Lambda's rules:
 * - a record matches if any pattern matches (filters are ORed);
 * - Kinesis filters on `data` only, so each pattern is `{ data: { … } }`;
 * - every field named in a pattern must be in the data (fields are ANDed), nested objects
 *   name nested fields, and fields the pattern does not name are ignored;
 * - a list matches a field whose value is one of its values, compared exactly (strings
 *   character by character, no case folding); `true`, `false` and `null` are allowed too;
 *   a field holding an array matches if one of its items is in the list (EventBridge rule).
 *
 * Anything else (numbers, `prefix`, `anything-but`, `exists`, `numeric`, …) throws, rather
 * than match differently from Lambda. Numbers are left out on purpose: Lambda compares them
 * by their text (300 and 300.0 differ), which parsed JSON no longer has.
 */
export function filterFromPatterns(
  patterns: ReadonlyArray<Readonly<Record<string, unknown>>>,
): (data: unknown) => boolean {
  if (patterns.length === 0) throw new RangeError('filterFromPatterns needs at least one pattern');
  const dataPatterns = patterns.map((pattern, index) => {
    const keys = Object.keys(pattern);
    if (keys.length !== 1 || keys[0] !== 'data') {
      throw new TypeError(
        `filter pattern ${index} must be { data: { … } } (Kinesis filters on data only), not keys ${JSON.stringify(keys)}`,
      );
    }
    return checkDataPattern(pattern.data, `filter pattern ${index}: data`);
  });
  return (data) => dataPatterns.some((pattern) => matchesDataPattern(pattern, data));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkDataPattern(pattern: unknown, path: string): DataPattern {
  if (!isPlainObject(pattern) || Object.keys(pattern).length === 0) {
    throw new TypeError(`${path} must be an object naming at least one field`);
  }
  for (const [field, rule] of Object.entries(pattern)) {
    const fieldPath = `${path}.${field}`;
    if (Array.isArray(rule)) {
      if (rule.length === 0) throw new TypeError(`${fieldPath} must list at least one value`);
      for (const value of rule) {
        if (typeof value !== 'string' && typeof value !== 'boolean' && value !== null) {
          throw new TypeError(
            `${fieldPath}: only exact strings, booleans and null are emulated, not ${JSON.stringify(value)}`,
          );
        }
      }
    } else {
      checkDataPattern(rule, fieldPath);
    }
  }
  return pattern as DataPattern;
}

function matchesDataPattern(pattern: DataPattern, value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  return Object.entries(pattern).every(([field, rule]) => {
    if (!Object.hasOwn(value, field)) return false;
    const actual = value[field];
    if (!isFieldList(rule)) return matchesDataPattern(rule, actual);
    const candidates: unknown[] = Array.isArray(actual) ? actual : [actual];
    return candidates.some((candidate) => rule.some((allowed) => allowed === candidate));
  });
}

function isFieldList(rule: FieldPattern): rule is ReadonlyArray<string | boolean | null> {
  return Array.isArray(rule);
}

/**
 * Reads a handler response as Lambda does with ReportBatchItemFailures on ([PBR], "Success
 * and failure conditions"): an empty or null list, or an empty or null response, is a
 * complete success; an empty or null `itemIdentifier`, or one that is not a sequence number
 * of the batch, makes the whole batch fail.
 */
function readBatchResponse(response: unknown, records: KinesisStreamRecord[]): Outcome {
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

/** Waits `ms`, or less if `signal` aborts; leaves no timer behind either way. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function defaultLog(level: 'info' | 'warn' | 'error', message: string, details?: unknown): void {
  if (level === 'info') return;
  console[level](`[event-source-mapping] ${message}`, details ?? '');
}
