import { afterEach, describe, expect, it, vi } from 'vitest';
import { METRICS_NAMESPACE, MetricName } from '../../definitions/metrics.js';
import { InMemoryMetrics } from '../../lambdas/adapters/in-memory-metrics.js';
import { PowertoolsMetricsRecorder } from '../../lambdas/adapters/powertools-metrics.js';
import { configFromEnvironment } from '../../lambdas/config.js';
import { createDeps } from '../../lambdas/runtime.js';
import { captureOutput, testConfig } from './support/harness.js';

let output: ReturnType<typeof captureOutput> | undefined;
afterEach(() => {
  output?.restore();
  output = undefined;
  vi.unstubAllEnvs();
});

function capture() {
  output = captureOutput();
  return output;
}

describe('the Powertools metrics recorder', () => {
  it('prints what an invocation recorded as one EMF line in the Parley namespace, by service', () => {
    const recorder = new PowertoolsMetricsRecorder({ serviceName: 'parley-dev' });
    const { json } = capture();

    recorder.record(MetricName.DeliveryLatency, 87);
    recorder.record(MetricName.DeliveryLatency, 95);
    recorder.record(MetricName.GoneConnections, 1);
    recorder.flush();

    expect(json()).toEqual([
      {
        _aws: {
          Timestamp: expect.any(Number),
          CloudWatchMetrics: [
            {
              Namespace: 'Parley',
              Dimensions: [['service']],
              Metrics: [
                { Name: 'DeliveryLatency', Unit: 'Milliseconds' },
                { Name: 'GoneConnections', Unit: 'Count' },
              ],
            },
          ],
        },
        service: 'parley-dev',
        DeliveryLatency: [87, 95],
        GoneConnections: 1,
      },
    ]);
    expect(METRICS_NAMESPACE).toBe('Parley');
  });

  it('prints nothing, not even a warning, for an invocation that recorded nothing', () => {
    const recorder = new PowertoolsMetricsRecorder({ serviceName: 'parley-dev' });
    const { lines } = capture();

    recorder.flush();

    expect(lines).toEqual([]);
  });

  it('prints each value once: a flush empties the buffer', () => {
    const recorder = new PowertoolsMetricsRecorder({ serviceName: 'parley-dev' });
    const { json } = capture();

    recorder.record(MetricName.EventsDelivered, 1);
    recorder.flush();
    recorder.flush();
    recorder.record(MetricName.EventsDelivered, 1);
    recorder.flush();

    expect(json().map((line) => line.EventsDelivered)).toEqual([1, 1]);
  });

  it('is what the deps record with in AWS, with POWERTOOLS_SERVICE_NAME as the service dimension', () => {
    const deps = createDeps(configFromEnvironment('default', { POWERTOOLS_SERVICE_NAME: 'parley-prod' }));
    const { json } = capture();

    deps.metrics.record(MetricName.SequencingRetries, 2);
    deps.metrics.flush();

    expect(json()).toEqual([expect.objectContaining({ service: 'parley-prod', SequencingRetries: 2 })]);
    deps.clients.destroy();
  });
});

describe('the in-memory metrics', () => {
  it('keeps every value for reading back, and prints nothing', () => {
    const metrics = new InMemoryMetrics();
    const { lines } = capture();

    metrics.record(MetricName.DeliveryLatency, 40);
    metrics.record(MetricName.DeliveryLatency, 60);
    metrics.record(MetricName.EventsDelivered, 1);
    metrics.record(MetricName.EventsDelivered, 1);
    metrics.flush();

    expect(metrics.values(MetricName.DeliveryLatency)).toEqual([40, 60]);
    expect(metrics.sum(MetricName.EventsDelivered)).toBe(2);
    expect(metrics.values(MetricName.GoneConnections)).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('keeps at least the last maxValues values of a metric, and its exact count and sum', () => {
    const metrics = new InMemoryMetrics({ maxValues: 3 });

    for (let value = 1; value <= 10; value += 1) metrics.record(MetricName.DeliveryLatency, value);

    const kept = metrics.values(MetricName.DeliveryLatency);
    expect(kept.slice(-3)).toEqual([8, 9, 10]);
    expect(kept.length).toBeLessThan(6);
    expect(metrics.count(MetricName.DeliveryLatency)).toBe(10);
    expect(metrics.sum(MetricName.DeliveryLatency)).toBe(55);
  });

  it('forgets everything on reset', () => {
    const metrics = new InMemoryMetrics();
    metrics.record(MetricName.DuplicatesSuppressed, 1);

    metrics.reset();

    expect(metrics.sum(MetricName.DuplicatesSuppressed)).toBe(0);
  });

  it('is what the deps record with on this machine, so the local stack prints no EMF', () => {
    const deps = createDeps(testConfig());
    const { lines } = capture();

    deps.metrics.record(MetricName.EventsDelivered, 1);
    deps.metrics.flush();

    expect(deps.metrics).toBeInstanceOf(InMemoryMetrics);
    expect(lines).toEqual([]);
    deps.clients.destroy();
  });
});
