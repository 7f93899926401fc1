/**
 * One clock for every process of the benchmark: milliseconds since the epoch with
 * sub-millisecond resolution. `performance.timeOrigin` is read from the system clock when
 * each process starts, so timestamps taken in the load generator and in the stack's
 * process can be subtracted from each other (on one machine, to within a few microseconds).
 */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
