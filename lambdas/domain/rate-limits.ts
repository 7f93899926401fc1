/**
 * Per-user limits on frames and handshakes, held across Lambda instances by a counter per
 * user, route and window in a table (docs/adr/0012-per-user-limits.md). Each admitted
 * frame costs one conditional write. An instance that has been refused for a user and route
 * refuses again without a write until the second or window that was full has ended.
 */
import {
  type LimitedRoute,
  RATE_WINDOW_SECONDS,
  type RateLimits,
  type RouteLimit,
} from '../../definitions/rate-limits.js';

export interface CountRequest {
  userId: string;
  route: LimitedRoute;
  /** The window's first second, in epoch seconds. */
  windowStart: number;
  /** The second of the clock within the window, 0 to RATE_WINDOW_SECONDS - 1. */
  second: number;
  /** When the counter may be deleted, in epoch seconds. */
  expiresAt: number;
  limit: RouteLimit;
}

/** Admitted, or refused because the window (or only the current second) is full. */
export type CountOutcome = { admitted: true } | { admitted: false; windowFull: boolean };

/** Counts one frame against the limit, atomically across every caller, or refuses it. */
export interface RateCounter {
  count(request: CountRequest): Promise<CountOutcome>;
}

export type RateRefusal = { admitted: false; message: string };
export type RateDecision = { admitted: true } | RateRefusal;

/** What the routes ask: may this user make one more frame (or handshake) of this route now? */
export interface RouteRateLimiter {
  take(userId: string, route: LimitedRoute): Promise<RateDecision>;
  /**
   * The refusal this instance already knows about, without a write; undefined when `take`
   * would have to count. A route that reads while its limit is taken asks this first, so a
   * flood this instance already refuses costs no reads either.
   */
  knownRefusal?(userId: string, route: LimitedRoute): RateRefusal | undefined;
}

/** Counters expire this long after their window, well after any instance reads them. */
const COUNTER_GRACE_SECONDS = 60;
/** Past this many remembered refusals, the ended ones are forgotten. */
const MAX_REMEMBERED_REFUSALS = 10_000;

export class RateLimiter implements RouteRateLimiter {
  readonly #counter: RateCounter;
  readonly #limits: RateLimits | undefined;
  readonly #now: () => number;
  /** `{userId}#{route}` → until when (epoch ms) this instance refuses without a write. */
  readonly #refusedUntil = new Map<string, number>();

  /** No `limits`: every frame is admitted without a write (only tests run so). */
  constructor(options: { counter: RateCounter; limits: RateLimits | undefined; now: () => number }) {
    this.#counter = options.counter;
    this.#limits = options.limits;
    this.#now = options.now;
  }

  knownRefusal(userId: string, route: LimitedRoute): RateRefusal | undefined {
    const limit = this.#limits?.[route];
    if (!limit) return undefined;
    const until = this.#refusedUntil.get(`${userId}#${route}`);
    const now = this.#now();
    return until !== undefined && now < until ? refusal(route, limit, until - now) : undefined;
  }

  async take(userId: string, route: LimitedRoute): Promise<RateDecision> {
    const limit = this.#limits?.[route];
    if (!limit) return { admitted: true };
    const known = this.knownRefusal(userId, route);
    if (known) return known;
    const now = this.#now();
    const key = `${userId}#${route}`;
    const epochSecond = Math.floor(now / 1000);
    const windowStart = epochSecond - (epochSecond % RATE_WINDOW_SECONDS);
    const outcome = await this.#counter.count({
      userId,
      route,
      windowStart,
      second: epochSecond - windowStart,
      expiresAt: windowStart + RATE_WINDOW_SECONDS + COUNTER_GRACE_SECONDS,
      limit,
    });
    if (outcome.admitted) return outcome;
    const end = (outcome.windowFull ? windowStart + RATE_WINDOW_SECONDS : epochSecond + 1) * 1000;
    this.#remember(key, end, now);
    return refusal(route, limit, end - now);
  }

  #remember(key: string, until: number, now: number): void {
    if (this.#refusedUntil.size >= MAX_REMEMBERED_REFUSALS) {
      for (const [other, otherUntil] of this.#refusedUntil) {
        if (otherUntil <= now) this.#refusedUntil.delete(other);
      }
    }
    this.#refusedUntil.set(key, until);
  }
}

function refusal(route: LimitedRoute, limit: RouteLimit, retryInMs: number): RateRefusal {
  const what = route === 'connect' ? 'handshakes' : `${route} frames`;
  return {
    admitted: false,
    message:
      `rate limit: at most ${limit.perSecond} ${what} a second and ${limit.perWindow} every ` +
      `${RATE_WINDOW_SECONDS} seconds per user; retry in ${Math.max(1, Math.ceil(retryInMs / 1000))} s`,
  };
}
