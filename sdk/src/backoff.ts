/**
 * Reconnect delays: full-jitter exponential backoff (AWS Architecture Blog, "Exponential
 * Backoff And Jitter"): a random delay between 0 and min(max, initial × 2^attempt), so
 * that a fleet of clients cut off together does not come back together.
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
