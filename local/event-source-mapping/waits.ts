/**
 * The waits of a mapping: each ends at once when the mapping stops (its signal aborts), and
 * none leaves a timer or a listener behind, so `stop()` returns promptly and leaves the
 * process free to exit.
 */

/**
 * Something a wait can be ended early by: a shard's reader waiting for a free slot, or
 * an idle shard waiting out the poll interval until a put wakes it.
 */
export class EarlyEnd {
  private end: (() => void) | undefined;

  /** Ends the wait in progress, if any; a later wait is not affected. */
  trigger(): void {
    this.end?.();
  }

  /** Waits `ms` (forever when undefined), until `trigger()`, or until `signal` aborts. */
  wait(signal: AbortSignal, ms?: number): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) {
        resolve();
        return;
      }
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.end = undefined;
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      this.end = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** Waits `ms`, or less if `signal` aborts; leaves no timer behind either way. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new EarlyEnd().wait(signal, ms);
}

/** Waits until the clock (`Date.now()`) reaches `at`, or `signal` aborts. */
export async function sleepUntil(at: number, signal: AbortSignal): Promise<void> {
  // A timer may fire a little early (Node counts from the start of the loop's turn): wait again.
  for (let wait = at - Date.now(); wait > 0 && !signal.aborted; wait = at - Date.now()) {
    await sleep(Math.ceil(wait), signal);
  }
}

/**
 * The wait of an idle shard between two polls. `wake()` ends it, or, when the shard is
 * polling at that moment, makes its next wait end at once: a put during a poll is not
 * missed.
 */
export class IdleWait {
  private woken = false;
  private readonly earlyEnd = new EarlyEnd();

  wake(): void {
    this.woken = true;
    this.earlyEnd.trigger();
  }

  /** Waits `ms`, or less when `wake()` was called since the last wait or `signal` aborts. */
  async wait(signal: AbortSignal, ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return;
    }
    if (signal.aborted) return;
    await this.earlyEnd.wait(signal, ms);
    this.woken = false;
  }
}
