/**
 * Timers a test runs by hand, for the SDK parts that take their timers as a parameter:
 * nothing fires until the test says so, and the test can read every delay asked for.
 */
import type { TimerHandle, Timers } from '../../../../sdk/src/backoff.js';

export class ManualTimers implements Timers {
  readonly #waiting = new Map<number, { run: () => void; delayMs: number }>();
  #lastHandle = 0;
  /** Every delay asked for, in order, cancelled ones included. */
  readonly requested: number[] = [];

  setTimeout(run: () => void, delayMs: number): TimerHandle {
    this.#lastHandle += 1;
    this.#waiting.set(this.#lastHandle, { run, delayMs });
    this.requested.push(delayMs);
    return this.#lastHandle;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (typeof handle === 'number') this.#waiting.delete(handle);
  }

  /** The delays of the timers still waiting. */
  get waiting(): number[] {
    return [...this.#waiting.values()].map((timer) => timer.delayMs);
  }

  /** Fires every timer waiting now (not those they start). */
  fireAll(): void {
    const due = [...this.#waiting];
    this.#waiting.clear();
    for (const [, timer] of due) timer.run();
  }
}
