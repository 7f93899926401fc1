/**
 * Retry delays: full-jitter exponential backoff (AWS Architecture Blog, "Exponential
 * Backoff And Jitter"). The delay before retry `attempt` is uniform between 0 and
 * min(maxDelayMs, baseDelayMs × 2^attempt): competing writers spread out instead of
 * retrying in step. The randomness and the wait come from the caller, so that tests can
 * drive both.
 */

export interface BackoffPolicy {
  /** The cap of the first retry's delay; it doubles with each attempt. */
  baseDelayMs: number;
  /** The cap no delay exceeds, however many attempts failed. */
  maxDelayMs: number;
}

export interface BackoffDeps {
  /** Uniform in [0, 1). */
  random: () => number;
  sleep: (ms: number) => Promise<void>;
}

/** The delay before retry `attempt` (0 for the first retry), in whole milliseconds. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.floor(random() * cap);
}

/** Waits out the delay before retry `attempt`. */
export function waitBeforeRetry(attempt: number, policy: BackoffPolicy, deps: BackoffDeps): Promise<void> {
  return deps.sleep(backoffDelay(attempt, policy, deps.random));
}
