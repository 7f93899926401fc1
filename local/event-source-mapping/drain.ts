/**
 * `drain()`: resolves once every record put before the call is handled, filtered out or sent
 * to the on-failure destination. Each call starts a new epoch; a shard has drained an epoch
 * when a poll that began after the call found nothing to read and nothing in flight.
 */

/** What the tracker reads of a shard. */
export interface DrainableShard {
  /** The loop of the shard has ended (stopped, closed, or failed). */
  readonly ended: boolean;
  /** The epoch of the last empty poll at the tip of the shard with nothing in flight. */
  readonly drainedEpoch: number;
}

export class DrainTracker {
  private epoch = 0;
  private readonly waiters: { epoch: number; resolve: () => void }[] = [];

  /** @param shards Read at each `settle()`, so it may be filled after the tracker is made. */
  constructor(
    private readonly signal: AbortSignal,
    private readonly shards: readonly DrainableShard[],
  ) {}

  /** The epoch a poll starting now would drain. */
  get current(): number {
    return this.epoch;
  }

  /** Whether a drain is in progress. */
  get waiting(): boolean {
    return this.waiters.length > 0;
  }

  /** Whether a drain in progress needs a shard that last drained `drainedEpoch` to poll again. */
  awaits(drainedEpoch: number): boolean {
    return this.waiters.some((waiter) => waiter.epoch > drainedEpoch);
  }

  /** Starts a new epoch and resolves once every shard has drained it, or the mapping stops. */
  request(): Promise<void> {
    this.epoch++;
    const epoch = this.epoch;
    return new Promise<void>((resolve) => {
      this.waiters.push({ epoch, resolve });
      this.settle();
    });
  }

  /** Resolves every drain that every shard has reached; all of them once the mapping stops. */
  settle(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const waiter = this.waiters[i] as (typeof this.waiters)[number];
      if (
        this.signal.aborted ||
        this.shards.every((shard) => shard.ended || shard.drainedEpoch >= waiter.epoch)
      ) {
        this.waiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }
}
