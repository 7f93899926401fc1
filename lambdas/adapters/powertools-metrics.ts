/**
 * Records Parley's metrics with Powertools as CloudWatch embedded metric format (EMF): one
 * JSON line on stdout per flush, which Lambda ships to CloudWatch Logs and CloudWatch turns
 * into metrics, so the hot path makes no CloudWatch call.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  METRIC_UNITS,
  METRICS_NAMESPACE,
  type MetricName,
  type MetricsRecorder,
} from '../../definitions/metrics.js';

export class PowertoolsMetricsRecorder implements MetricsRecorder {
  readonly #metrics: Metrics;

  /** `serviceName` becomes the `service` dimension of every metric. */
  constructor(options: { serviceName: string }) {
    this.#metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: options.serviceName });
  }

  record(name: MetricName, value: number): void {
    this.#metrics.addMetric(name, METRIC_UNITS[name], value);
  }

  flush(): void {
    // Publishing an empty buffer prints only Powertools' "No application metrics to publish"
    // warning, and most invocations (ping, sync, a send without retry) record nothing.
    if (this.#metrics.hasStoredMetrics()) this.#metrics.publishStoredMetrics();
  }
}
