/**
 * A local Lambda event source mapping on a Kinesis stream: one polling loop per shard
 * (`GetRecords`, not `SubscribeToShard`, which kinesis-mock pushes only once a second),
 * calling the handler with the event and context Lambda would send, and applying
 * Lambda's error handling: partial batch responses, bisect on function error, bounded
 * retries (attempts and record age) and an on-failure destination.
 *
 * The rules follow the Lambda developer guide:
 * - [PBR] "Configuring partial batch response with Kinesis Data Streams and Lambda",
 *   https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html
 * - [OFD] "Retain discarded batch records for a Kinesis Data Streams event source in Lambda",
 *   https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html
 * - [PAR] "Lambda parameters for Amazon Kinesis Data Streams event source mappings",
 *   https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-parameters.html
 *
 * Unlike Lambda, a failed batch is retried from memory rather than read again from the
 * checkpoint, and shards created by resharding after the start are not picked up.
 */
import { randomBytes, randomUUID } from 'node:crypto';
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
  /** What `context.getRemainingTimeInMillis()` counts down from. Not enforced. Default 60 s. */
  timeoutSeconds?: number;
}

export interface RunningEventSourceMapping {
  /** Ends every polling loop after the handler call in flight; never throws. */
  stop(): Promise<void>;
  /** Resolves once every record put before the call has been handled or sent to onFailure. */
  drain?(): Promise<void>;
  /**
   * Says that records were just put: every idle shard polls at once instead of waiting out
   * `pollIntervalMs`. The local stack calls it after each PutRecord, as enhanced fan-out
   * pushes records in AWS, so the idle interval can be long and cheap.
   */
  wake(): void;
}

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

interface ShardState {
  shardId: string;
  iterator?: string;
  /** The last sequence number handled or sent to the on-failure destination. */
  checkpoint?: string;
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
  } = options;
  const log = options.log ?? defaultLog;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new RangeError(`batchSize must be an integer from 1 to 10000, not ${batchSize}`);
  }
  if (maximumRetryAttempts < -1) throw new RangeError('maximumRetryAttempts must be -1 or more');
  if (maximumRecordAgeInSeconds !== -1 && !(maximumRecordAgeInSeconds > 0)) {
    throw new RangeError('maximumRecordAgeInSeconds must be -1 or more than 0');
  }

  const eventSourceARN = `arn:aws:kinesis:${region}:${LOCAL_ACCOUNT}:stream/${streamName}`;
  const invokeIdentityArn = `arn:aws:iam::${LOCAL_ACCOUNT}:role/${functionName}-role`;
  const startedAt = new Date();
  const abort = new AbortController();
  const { signal } = abort;

  // ---------------------------------------------------------------- shards and iterators

  const shardIds: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await kinesis.send(
      new ListShardsCommand(nextToken ? { NextToken: nextToken } : { StreamName: streamName }),
    );
    for (const shard of page.Shards ?? []) if (shard.ShardId) shardIds.push(shard.ShardId);
    nextToken = page.NextToken;
  } while (nextToken);

  async function getIterator(shard: ShardState): Promise<string | undefined> {
    const position: Omit<GetShardIteratorCommandInput, 'StreamName' | 'ShardId'> = shard.checkpoint
      ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: shard.checkpoint }
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

  const shards: ShardState[] = shardIds.map((shardId) => ({ shardId, drainedEpoch: 0, ended: false }));
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
    if (last) shard.checkpoint = last.kinesis.sequenceNumber;
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

  /** Handles one batch read from the shard; returns once every record is handled or discarded. */
  async function handleBatch(shard: ShardState, records: KinesisStreamRecord[]): Promise<void> {
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
        shard.checkpoint = segment.records.at(-1)?.kinesis.sequenceNumber;
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
        const before = segment.records[outcome.fromIndex - 1];
        if (before) shard.checkpoint = before.kinesis.sequenceNumber;
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

  // ---------------------------------------------------------------- the polling loop of one shard

  async function pollShard(shard: ShardState): Promise<void> {
    let backoffMs = KINESIS_ERROR_BACKOFF_MS.first;
    let failingSince: number | undefined;
    let lastErrorLog = 0;
    let renew = shard.iterator === undefined;

    while (!stopped) {
      const epoch = drainEpoch;
      let records: _Record[];
      let nextIterator: string | undefined;
      let millisBehind: number | undefined;
      try {
        if (renew) shard.iterator = await getIterator(shard);
        renew = false;
        const answer = await kinesis.send(
          new GetRecordsCommand({ ShardIterator: shard.iterator, Limit: batchSize }),
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
        // re-created also invalidates it. Either way, ask for a new one from the checkpoint.
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
        await handleBatch(
          shard,
          records.map((record) => toEventRecord(shard.shardId, record)),
        );
        if (stopped) break;
      } else if ((millisBehind ?? 0) === 0) {
        shard.drainedEpoch = epoch;
        settleDrains();
      }

      if (!nextIterator) {
        // A closed shard read to its end (after resharding).
        log('info', 'the shard is closed and fully read', { shardId: shard.shardId });
        break;
      }
      shard.iterator = nextIterator;
      if (records.length === 0) await idleWait(shard);
    }
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

  /** Waits out the poll interval, or less when `wake()` was called since the last poll. */
  async function idleWait(shard: ShardState): Promise<void> {
    if (shard.woken) {
      shard.woken = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, pollIntervalMs);
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

  function wake() {
    for (const shard of shards) {
      shard.woken = true;
      shard.wakeUp?.();
    }
  }

  let stopping: Promise<void> | undefined;
  return {
    wake,
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
