/**
 * The batch a shard's reader gathers before it hands it to the slots, with its batching
 * window (MaximumBatchingWindowInSeconds, [BAT] "Lambda event source mappings", section
 * "Batching behavior",
 * https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventsourcemapping.html#invocation-eventsourcemapping-batching).
 *
 * Lambda reads on "until it has gathered a full batch, the batching window expires, or the
 * batch reaches the payload limit of 6 MB" ("Using AWS Lambda with Amazon Kinesis",
 * https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html). Here the window opens
 * when the first record of the batch is read, and the 6 MB limit does not close it.
 */
import type { KinesisStreamRecord } from 'aws-lambda';

export class BatchingWindow {
  private records: KinesisStreamRecord[] = [];
  /** When the window of the batch closes, on the `now` clock. */
  private closesAt = 0;

  /**
   * @param windowMs 0 hands every read over at once.
   * @param now A monotonic clock in milliseconds; tests pass their own.
   */
  constructor(
    private readonly batchSize: number,
    private readonly windowMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get size(): number {
    return this.records.length;
  }

  /** How many more records the batch can take: a batch never holds more than `batchSize`. */
  get room(): number {
    return this.batchSize - this.records.length;
  }

  /**
   * Adds records that passed the filter ([FLT] "If you're using batching windows, Lambda
   * applies your filter criteria to each new event to determine whether to add it to the
   * current batch"); the first record of a batch opens its window.
   */
  add(records: KinesisStreamRecord[]): void {
    const wasEmpty = this.records.length === 0;
    this.records.push(...records);
    if (wasEmpty && this.records.length > 0) this.closesAt = this.now() + this.windowMs;
  }

  /**
   * Whether to hand the batch over now: it is full or its window has elapsed, or the shard
   * is closed and read to its end, so nothing more can join it.
   */
  isDue(shardReadToEnd: boolean): boolean {
    return (
      this.records.length > 0 &&
      (this.windowMs === 0 ||
        this.records.length >= this.batchSize ||
        this.now() >= this.closesAt ||
        shardReadToEnd)
    );
  }

  /** Empties the batch and returns its records. */
  take(): KinesisStreamRecord[] {
    const records = this.records;
    this.records = [];
    return records;
  }

  /** The wait before the next read while the window is open: `pollIntervalMs`, but no later than its end. */
  waitMs(pollIntervalMs: number): number {
    return Math.min(pollIntervalMs, Math.max(0, this.closesAt - this.now()));
  }
}
