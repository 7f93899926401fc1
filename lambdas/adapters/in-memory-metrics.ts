/**
 * Keeps the recorded metrics in memory. The local stack and the tests use it instead of
 * EMF, which only means something on a Lambda's stdout: nothing is printed, and a test or
 * a benchmark reads the values back.
 */
import type { MetricName, MetricsRecorder } from '../../definitions/metrics.js';

interface Series {
  count: number;
  sum: number;
  /** The most recent values, oldest first. */
  values: number[];
}

export class InMemoryMetrics implements MetricsRecorder {
  readonly #series = new Map<MetricName, Series>();
  readonly #maxValues: number;

  /**
   * `maxValues` bounds the values kept per metric, since the local stack may run for
   * hours; counts and sums stay exact.
   */
  constructor(options: { maxValues?: number } = {}) {
    this.#maxValues = options.maxValues ?? 100_000;
  }

  record(name: MetricName, value: number): void {
    const series = this.#series.get(name) ?? { count: 0, sum: 0, values: [] };
    series.count += 1;
    series.sum += value;
    series.values.push(value);
    // Trim in batches, so that recording stays O(1) on average.
    if (series.values.length >= 2 * this.#maxValues) series.values.splice(0, this.#maxValues);
    this.#series.set(name, series);
  }

  /** Nothing to ship: the values stay readable until `reset`. */
  flush(): void {}

  /**
   * The values recorded under `name`, oldest first. Past `maxValues`, the oldest are
   * dropped in batches, but the last `maxValues` are always there.
   */
  values(name: MetricName): number[] {
    return [...(this.#series.get(name)?.values ?? [])];
  }

  /** How many values were recorded under `name`. */
  count(name: MetricName): number {
    return this.#series.get(name)?.count ?? 0;
  }

  /** The sum of every value recorded under `name`: the count, for a count metric. */
  sum(name: MetricName): number {
    return this.#series.get(name)?.sum ?? 0;
  }

  reset(): void {
    this.#series.clear();
  }
}
