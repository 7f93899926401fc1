/**
 * A token bucket, the algorithm API Gateway throttles with: it holds at most `burst`
 * tokens, starts full, gains `perSecond` tokens a second, and each frame takes one. A frame
 * that finds the bucket empty is refused and takes nothing, so a client that keeps sending
 * too fast still gets its fair share once it slows down.
 */

/** Rounding slack: a client that sends exactly at the rate must not lose a frame to it. */
const EPSILON = 1e-9;

/** How many frames a connection may send: `burst` at once, then `perSecond` steadily. */
export interface FrameRateLimit {
  /** The bucket's size: frames a fresh or rested connection may send at once (an integer, 1 or more). */
  burst: number;
  /** Tokens added a second: the steady rate (more than 0). */
  perSecond: number;
}

/** Throws a RangeError naming the field when `limit` is not a usable bucket. */
export function checkFrameRateLimit(limit: FrameRateLimit): void {
  if (!Number.isInteger(limit.burst) || limit.burst < 1) {
    throw new RangeError(`burst: must be an integer of 1 or more, not ${limit.burst}`);
  }
  if (!Number.isFinite(limit.perSecond) || limit.perSecond <= 0) {
    throw new RangeError(`perSecond: must be a number above 0, not ${limit.perSecond}`);
  }
}

export class TokenBucket {
  readonly #burst: number;
  readonly #perSecond: number;
  readonly #now: () => number;
  #tokens: number;
  #filledAt: number;

  /**
   * @example
   * ```ts
   * const bucket = new TokenBucket({ burst: 100, perSecond: 50 });
   * if (!bucket.take()) answerRateLimited();
   * ```
   */
  constructor(limit: FrameRateLimit, now: () => number = Date.now) {
    checkFrameRateLimit(limit);
    this.#burst = limit.burst;
    this.#perSecond = limit.perSecond;
    this.#now = now;
    this.#tokens = limit.burst;
    this.#filledAt = now();
  }

  /** Takes a token if there is one; false when the bucket is empty (nothing is taken). */
  take(): boolean {
    const now = this.#now();
    // A clock that steps back adds nothing (and takes nothing away).
    const elapsedMs = Math.max(0, now - this.#filledAt);
    this.#tokens = Math.min(this.#burst, this.#tokens + (elapsedMs / 1000) * this.#perSecond);
    this.#filledAt = now;
    if (this.#tokens < 1 - EPSILON) return false;
    this.#tokens = Math.max(0, this.#tokens - 1);
    return true;
  }

  /** Whole tokens left now: frames that may follow at once. */
  available(): number {
    const elapsedMs = Math.max(0, this.#now() - this.#filledAt);
    return Math.floor(Math.min(this.#burst, this.#tokens + (elapsedMs / 1000) * this.#perSecond) + EPSILON);
  }
}
