/**
 * Requests made again on the same connection after a transient failure (`isTransient`: the
 * server failed, refused as over the user's limit, or gave no answer in time), after the
 * SDK's backoff, for as long as the connection they were made on stays the current one.
 */
import type { Backoff, TimerHandle } from './backoff.js';
import { codeOf, isTransient, ParleyError, ParleyErrorCode } from './errors.js';

export class TransientRetry {
  readonly #backoff: Backoff;
  /** The waits under way, each ended early by `close`. */
  readonly #pauses = new Set<{ timer: TimerHandle; resume: () => void }>();
  #closed = false;

  constructor(backoff: Backoff) {
    this.#backoff = backoff;
  }

  /** The client was closed: nothing is asked again. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Runs `step` until it succeeds. Rejects with a final error at once; after a wait, with
   * `closed` once the client is closed, and with `connection_lost` once `stillCurrent()`
   * is false (the next connection's open does the work again).
   */
  async run<T>(step: () => Promise<T>, stillCurrent: () => boolean): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await step();
      } catch (error) {
        if (!isTransient(codeOf(error))) throw error;
        await this.#pause(attempt);
        if (this.#closed) throw new ParleyError(ParleyErrorCode.Closed, 'the client was closed');
        if (!stillCurrent()) {
          throw new ParleyError(ParleyErrorCode.ConnectionLost, 'the connection closed before a retry');
        }
      }
    }
  }

  /** Ends every wait: nothing is asked again after this. */
  close(): void {
    this.#closed = true;
    for (const pause of [...this.#pauses]) pause.resume();
  }

  #pause(attempt: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const resume = () => {
        this.#backoff.cancel(pause.timer);
        this.#pauses.delete(pause);
        resolve();
      };
      const pause = { timer: this.#backoff.wait(attempt, resume), resume };
      this.#pauses.add(pause);
    });
  }
}
