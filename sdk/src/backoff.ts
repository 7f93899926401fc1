/**
 * The SDK's one backoff, for reconnects and for the retries of sends and acks: full-jitter
 * exponential backoff (AWS Architecture Blog, "Exponential Backoff And Jitter"): a random
 * delay between 0 and min(max, initial × 2^attempt), so that a fleet of clients cut off
 * together does not come back together. The random source and the timers are passed in,
 * so that tests decide both.
 */
/**
 * Reconnect timing.
 *
 * @example
 * new ParleyClient({ url, token, deviceId, reconnect: { initialDelayMs: 1_000, maxDelayMs: 60_000 } });
 */
export interface BackoffOptions {
  /** The cap of the first delay. Default 500 ms. */
  initialDelayMs?: number;
  /** The cap of any delay. Default 30 s. */
  maxDelayMs?: number;
  /**
   * How long a connection must stay open before the attempts count from zero again, so
   * that a server that accepts and then drops at once is not hammered. Default 5 s.
   */
  minUptimeMs?: number;
}

export const DEFAULT_BACKOFF = { initialDelayMs: 500, maxDelayMs: 30_000, minUptimeMs: 5_000 } as const;

/**
 * The delay before reconnect attempt `attempt` (0 for the first retry).
 *
 * @example
 * backoffDelay(3, { initialDelayMs: 500, maxDelayMs: 30_000 }, Math.random); // 0 … 4000 ms
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const initial = options.initialDelayMs ?? DEFAULT_BACKOFF.initialDelayMs;
  const max = options.maxDelayMs ?? DEFAULT_BACKOFF.maxDelayMs;
  const cap = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}

/** A timer's handle: what `setTimeout` returns, or a test's own number. */
export type TimerHandle = ReturnType<typeof setTimeout> | number;

/**
 * The timers a backoff waits with: the platform's by default, a test's own otherwise.
 *
 * @example
 * const timers: Timers = { setTimeout: (run, ms) => setTimeout(run, ms), clearTimeout: (handle) => clearTimeout(handle) };
 */
export interface Timers {
  setTimeout(run: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

/** The platform's timers, looked up at each call so that a test's fake clock applies. */
export const SYSTEM_TIMERS: Timers = {
  setTimeout: (run, delayMs) => setTimeout(run, delayMs),
  clearTimeout: (handle) => clearTimeout(handle),
};

/**
 * Waits out backoff delays. The caller counts its attempts: the reconnect loop per
 * connection, a send per message, an ack per conversation and kind.
 *
 * @example
 * const backoff = new Backoff({ initialDelayMs: 100 }, () => 0.5);
 * const handle = backoff.wait(attempt, () => void reconnect());
 * backoff.cancel(handle); // on close
 */
export class Backoff {
  readonly #options: BackoffOptions;
  readonly #random: () => number;
  readonly #timers: Timers;

  constructor(options: BackoffOptions = {}, random: () => number = Math.random, timers = SYSTEM_TIMERS) {
    this.#options = options;
    this.#random = random;
    this.#timers = timers;
  }

  /** How long a connection must stay open before the attempts count from zero again. */
  get minUptimeMs(): number {
    return this.#options.minUptimeMs ?? DEFAULT_BACKOFF.minUptimeMs;
  }

  /** Calls `run` once the delay of attempt `attempt` has passed. */
  wait(attempt: number, run: () => void): TimerHandle {
    return this.#timers.setTimeout(run, backoffDelay(attempt, this.#options, this.#random));
  }

  /** Cancels a wait; a handle that already ran, or none, is fine. */
  cancel(handle: TimerHandle | undefined): void {
    this.#timers.clearTimeout(handle);
  }
}

/**
 * Backoff waits kept by what each retries (a conversation): at most one per key, and all
 * of them cancelled at once.
 *
 * @example
 * const waits = new KeyedWaits(backoff);
 * waits.wait('dm:alice:bob', attempts, () => flush('dm:alice:bob'));
 * waits.has('dm:alice:bob'); // true until it runs
 */
export class KeyedWaits {
  readonly #backoff: Backoff;
  readonly #timers = new Map<string, TimerHandle>();

  constructor(backoff: Backoff) {
    this.#backoff = backoff;
  }

  has(key: string): boolean {
    return this.#timers.has(key);
  }

  /** Runs `run` once the delay of attempt `attempt` has passed, in place of any wait of `key`. */
  wait(key: string, attempt: number, run: () => void): void {
    this.#backoff.cancel(this.#timers.get(key));
    this.#timers.set(
      key,
      this.#backoff.wait(attempt, () => {
        this.#timers.delete(key);
        run();
      }),
    );
  }

  cancelAll(): void {
    for (const timer of this.#timers.values()) this.#backoff.cancel(timer);
    this.#timers.clear();
  }
}
