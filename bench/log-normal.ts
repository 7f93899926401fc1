/**
 * Log-normal distributions fitted to a published p50 and p99: the shape of a network or
 * service latency (positive, a long right tail), pinned by the two figures sources give.
 */

/** The standard normal's 99th percentile: ln(p99 / p50) = Z99 × σ. */
const Z99 = 2.326_347_874_040_841;

export interface LogNormal {
  /** ln of the median. */
  mu: number;
  sigma: number;
}

/** The log-normal whose median is `p50` and whose 99th percentile is `p99` (both > 0, p99 ≥ p50). */
export function fitLogNormal(p50: number, p99: number): LogNormal {
  if (!(p50 > 0) || !(p99 >= p50) || !Number.isFinite(p99)) {
    throw new RangeError(`a log-normal needs 0 < p50 ≤ p99, not p50 ${p50} and p99 ${p99}`);
  }
  return { mu: Math.log(p50), sigma: Math.log(p99 / p50) / Z99 };
}

/**
 * Draws from `distribution` with `random` (floats in [0, 1)), by Box-Muller: two uniform
 * draws a sample, so a seeded source gives the same samples in the same order.
 */
export function sampleLogNormal(distribution: LogNormal, random: () => number): number {
  // 1 − u is in (0, 1], so the logarithm is finite.
  const u1 = 1 - random();
  const u2 = random();
  const normal = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  return Math.exp(distribution.mu + distribution.sigma * normal);
}
