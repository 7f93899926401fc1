/**
 * The reader of one shard: a `GetRecords` loop (not `SubscribeToShard`, which kinesis-mock
 * pushes only once a second) that filters what it reads, gathers it into a batch with its
 * batching window, and hands the batch to the shard's slots. An idle shard polls again
 * after `pollIntervalMs`, or at once when `wake()` is called. The bracketed names ([BAT],
 * [FLT]) are the pages listed in `index.ts`.
 */
import { type _Record, GetRecordsCommand, type GetRecordsCommandOutput } from '@aws-sdk/client-kinesis';
import type { KinesisStreamRecord } from 'aws-lambda';
import { BatchingWindow } from './batching-window.js';
import { ShardCheckpoint } from './checkpoint.js';
import type { DrainableShard, DrainTracker } from './drain.js';
import { passesFilter } from './filter.js';
import { invokeHandler } from './invoke.js';
import type { LambdaEvents } from './lambda-event.js';
import { BatchRetrier } from './retries.js';
import type { MappingSettings } from './settings.js';
import type { HashKeyRange, ListedShard, ShardIterators } from './shards.js';
import { ParallelSlots } from './slots.js';
import type { MappingLog } from './types.js';
import { IdleWait, sleep } from './waits.js';

const KINESIS_ERROR_BACKOFF_MS = { first: 50, max: 1000 };
/** Repeated Kinesis errors of one shard are logged at most this often. */
const KINESIS_ERROR_LOG_INTERVAL_MS = 5000;

/** What every shard of a mapping shares. */
export interface MappingContext {
  settings: MappingSettings;
  iterators: ShardIterators;
  drains: DrainTracker;
  events: LambdaEvents;
  signal: AbortSignal;
}

export class ShardPoller implements DrainableShard {
  readonly shardId: string;
  readonly hashKeyRange: HashKeyRange | undefined;
  readonly checkpoint = new ShardCheckpoint();
  drainedEpoch = 0;
  ended = false;
  private iterator: string | undefined;
  private readonly idle = new IdleWait();
  private readonly slots: ParallelSlots;
  private readonly window: BatchingWindow;
  private readonly readFailures: ReadFailures;

  constructor(
    shard: ListedShard,
    private readonly context: MappingContext,
  ) {
    const { settings, events, signal } = context;
    const { shardId } = shard;
    this.shardId = shardId;
    this.hashKeyRange = shard.hashKeyRange;
    this.window = new BatchingWindow(settings.batchSize, settings.batchingWindowMs);
    this.readFailures = new ReadFailures(shardId, settings.log, signal);
    const retrier = new BatchRetrier({
      shardId,
      checkpoint: this.checkpoint,
      policy: settings,
      invoke: (records) => invokeHandler(settings.handler, events, records, settings.reportBatchItemFailures),
      retryDelayMs: settings.retryDelayMs,
      deliveryDelayMs: settings.deliveryDelayMs,
      onFailure: settings.onFailure,
      signal,
      log: settings.log,
    });
    this.slots = new ParallelSlots({
      shardId,
      parallelizationFactor: settings.parallelizationFactor,
      batchSize: settings.batchSize,
      handleBatch: (records) => retrier.handle(records),
      onSlotFree: () => this.onSlotFree(),
      signal,
      log: settings.log,
    });
  }

  /** Gets the shard's first iterator, at the starting position. */
  async start(): Promise<void> {
    this.iterator = await this.context.iterators.get(this.shardId, this.checkpoint.sequenceNumber, false);
  }

  /** Polls at once if idle, or right after the poll in flight. */
  wake(): void {
    this.idle.wake();
  }

  /** Polls until the mapping stops or the shard is closed and read; never throws. */
  async run(): Promise<void> {
    try {
      await this.poll();
    } catch (error) {
      // poll catches what it expects; this is a last resort so stop() never throws.
      this.ended = true;
      this.context.drains.settle();
      this.context.settings.log('error', 'a shard loop ended on an unexpected error', {
        shardId: this.shardId,
        error,
      });
    }
  }

  private async poll(): Promise<void> {
    const { signal, drains, settings } = this.context;
    let renew = this.iterator === undefined;
    while (!signal.aborted) {
      const epoch = drains.current;
      const limit = this.window.room;
      const answer = await this.read(renew, limit);
      renew = answer === undefined;
      if (answer === undefined) continue;
      const records = answer.Records ?? [];
      const nextIterator = answer.NextShardIterator;
      const millisBehind = answer.MillisBehindLatest ?? 0;
      this.gather(records);

      // [BAT] Invoke once the batch is full or its window has elapsed; a closed shard read
      // to its end has nothing more to add.
      const invoked = this.window.isDue(!nextIterator);
      if (invoked) {
        this.slots.dispatch(this.window.take());
        await this.slots.waitForRoom();
        if (signal.aborted) break;
      } else if (
        records.length === 0 &&
        this.window.size === 0 &&
        this.checkpoint.pending === 0 &&
        millisBehind === 0
      ) {
        this.drainedEpoch = epoch;
        drains.settle();
      }

      if (!nextIterator) {
        // A closed shard read to its end (after resharding).
        settings.log('info', 'the shard is closed and fully read', { shardId: this.shardId });
        break;
      }
      this.iterator = nextIterator;
      await this.waitBeforeNextRead(records.length, limit, millisBehind, invoked);
    }
    // Stopping (or a closed shard): end after the batches in flight.
    await this.slots.whenIdle();
    this.ended = true;
    drains.settle();
  }

  /** One `GetRecords` call, after a new iterator when `renew`; undefined when it failed. */
  private async read(renew: boolean, limit: number): Promise<GetRecordsCommandOutput | undefined> {
    const { settings, iterators, signal } = this.context;
    try {
      // Read on after the records already read (held in a batch or in flight), not from the checkpoint.
      if (renew) {
        this.iterator = await iterators.get(
          this.shardId,
          this.checkpoint.resumeAfter,
          this.iterator !== undefined,
        );
      }
      const answer = await settings.kinesis.send(
        new GetRecordsCommand({ ShardIterator: this.iterator, Limit: limit }),
        { abortSignal: signal },
      );
      this.readFailures.noteSuccess();
      return answer;
    } catch (error) {
      if (signal.aborted) return undefined;
      // An iterator lives 5 minutes; kinesis-mock restarting or the stream being
      // re-created also invalidates it. Either way, ask for a new one from the checkpoint
      // (or from after the batch being gathered, which stays held).
      await this.readFailures.noteFailure(error);
      return undefined;
    }
  }

  /**
   * [FLT] With a batching window, each new record is filtered before it joins the batch.
   * A record filtered out counts as handled: the checkpoint moves past it too.
   */
  private gather(records: _Record[]): void {
    const { settings, events } = this.context;
    const passed: KinesisStreamRecord[] = [];
    for (const record of records) {
      const passes = passesFilter(settings.filter, this.shardId, record, settings.log);
      this.checkpoint.noteRead(record.SequenceNumber ?? '', !passes);
      if (passes) passed.push(events.toEventRecord(this.shardId, record));
    }
    this.window.add(passed);
  }

  /**
   * When the answer reached the tip of the shard, nothing more is waiting: poll again only
   * after the interval or a wake (a put while this poll was in flight wakes it too), unless
   * a drain waits for this shard.
   */
  private async waitBeforeNextRead(
    received: number,
    limit: number,
    millisBehind: number,
    invoked: boolean,
  ): Promise<void> {
    const { signal, drains, settings } = this.context;
    const atTip = received < limit && millisBehind === 0 && !drains.awaits(this.drainedEpoch);
    if (this.window.size > 0) {
      // A batching window is open: read again at once after records came (more may be
      // waiting), else after the poll interval, but no later than the window's end.
      if (received === 0 || atTip) await this.idle.wait(signal, this.window.waitMs(settings.pollIntervalMs));
    } else if ((received === 0 && !invoked) || atTip) {
      await this.idle.wait(signal, settings.pollIntervalMs);
    }
  }

  private onSlotFree(): void {
    // Everything read is done: a drain in progress needs one more (empty) poll to settle.
    if (this.checkpoint.pending === 0 && this.context.drains.waiting) this.idle.wake();
  }
}

/** Failed reads of one shard: the backoff before the next, and logs that do not flood. */
class ReadFailures {
  private backoffMs = KINESIS_ERROR_BACKOFF_MS.first;
  private failingSince: number | undefined;
  private lastErrorLog = 0;

  constructor(
    private readonly shardId: string,
    private readonly log: MappingLog,
    private readonly signal: AbortSignal,
  ) {}

  /** Logs the failure (a warning at most every 5 s) and waits out the backoff; none for an expired iterator. */
  async noteFailure(error: unknown): Promise<void> {
    const expired = (error as { name?: string }).name === 'ExpiredIteratorException';
    const now = Date.now();
    this.failingSince ??= now;
    if (expired) {
      this.log('info', 'the shard iterator expired; renewing it', { shardId: this.shardId });
    } else if (now - this.lastErrorLog >= KINESIS_ERROR_LOG_INTERVAL_MS) {
      this.lastErrorLog = now;
      this.log('warn', 'reading the shard failed; retrying', { shardId: this.shardId, error });
    }
    await sleep(expired ? 0 : this.backoffMs, this.signal);
    if (!expired) this.backoffMs = Math.min(this.backoffMs * 2, KINESIS_ERROR_BACKOFF_MS.max);
  }

  noteSuccess(): void {
    if (this.failingSince !== undefined) {
      this.log('info', 'reading the shard works again', {
        shardId: this.shardId,
        afterMs: Date.now() - this.failingSince,
      });
      this.failingSince = undefined;
      this.lastErrorLog = 0;
    }
    this.backoffMs = KINESIS_ERROR_BACKOFF_MS.first;
  }
}
