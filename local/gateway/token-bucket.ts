/**
 * A token bucket, the algorithm API Gateway throttles with ("Throttle requests to your REST
 * APIs for better throughput" and "Protect your WebSocket APIs" in the API Gateway developer
 * guide): it holds at most `burstLimit` tokens, starts full, gains `rateLimit` tokens a
 * second, and each request takes one. A request that finds the bucket empty is refused and
 * takes nothing, so a client that keeps sending too fast still gets its share once it slows down.
 */

/** Rounding slack: a client that sends exactly at the rate must not lose a request to it. */
const EPSILON = 1e-9;

/**
 * A throttle as a stage or route sets it (`ThrottlingRateLimit`, `ThrottlingBurstLimit`):
 * `burstLimit` requests at once, then `rateLimit` a second. Zero for both refuses every
 * request, which is how AWS lets a route be switched off.
 */
export interface ThrottleLimit {
  /** Tokens added a second: the steady rate (0 or more). */
  rateLimit: number;
  /** The bucket's size: requests a rested bucket lets through at once (an integer, 0 or more). */
  burstLimit: number;
}

/** Throws a RangeError naming the field when `limit` is not a usable bucket. */
function checkThrottleLimit(limit: ThrottleLimit): void {
  if (!Number.isInteger(limit.burstLimit) || limit.burstLimit < 0) {
    throw new RangeError(`burstLimit: must be an integer of 0 or more, not ${limit.burstLimit}`);
  }
  if (!Number.isFinite(limit.rateLimit) || limit.rateLimit < 0) {
    throw new RangeError(`rateLimit: must be a number of 0 or more, not ${limit.rateLimit}`);
  }
}

export class TokenBucket {
  readonly #burstLimit: number;
  readonly #rateLimit: number;
  readonly #now: () => number;
  #tokens: number;
  #filledAt: number;

  /**
   * @example
   * ```ts
   * const bucket = new TokenBucket({ rateLimit: 50, burstLimit: 100 });
   * if (!bucket.take()) answerTooManyRequests();
   * ```
   */
  constructor(limit: ThrottleLimit, now: () => number = Date.now) {
    checkThrottleLimit(limit);
    this.#burstLimit = limit.burstLimit;
    this.#rateLimit = limit.rateLimit;
    this.#now = now;
    this.#tokens = limit.burstLimit;
    this.#filledAt = now();
  }

  /** Takes a token if there is one; false when the bucket is empty (nothing is taken). */
  take(): boolean {
    this.#refill();
    if (this.#tokens < 1 - EPSILON) return false;
    this.#tokens = Math.max(0, this.#tokens - 1);
    return true;
  }

  /** Whole tokens left now: requests that may follow at once. */
  available(): number {
    this.#refill();
    return Math.floor(this.#tokens + EPSILON);
  }

  #refill(): void {
    const now = this.#now();
    // A clock that steps back adds nothing (and takes nothing away).
    const elapsedMs = Math.max(0, now - this.#filledAt);
    this.#tokens = Math.min(this.#burstLimit, this.#tokens + (elapsedMs / 1000) * this.#rateLimit);
    this.#filledAt = now;
  }
}
