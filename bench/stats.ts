/** Percentiles and summaries of samples. */

export interface Distribution {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of ascending `sorted`; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}

export function distribution(samples: readonly number[]): Distribution {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((total, value) => total + value, 0);
  return {
    count: sorted.length,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length ? (sorted.at(-1) as number) : Number.NaN,
  };
}

export function mean(samples: readonly number[]): number {
  return samples.length ? samples.reduce((total, value) => total + value, 0) / samples.length : Number.NaN;
}

/** Rounds for the JSON file: three significant decimals are plenty for milliseconds. */
export function round(value: number, decimals = 3): number {
  if (!Number.isFinite(value)) return value;
  // Tiny values (GB per message) keep three significant digits instead of rounding to 0.
  if (value !== 0 && Math.abs(value) < 10 ** -decimals) return Number(value.toPrecision(3));
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}
