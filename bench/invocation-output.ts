/**
 * What an invocation would send to CloudWatch Logs in AWS, counted while the benchmark's
 * stack keeps its logs off: the lines its handlers log at INFO and above (the level the
 * stack deploys, `POWERTOOLS_LOG_LEVEL: 'INFO'`), sized as Powertools writes them, and the
 * metrics it records, which Powertools writes as one EMF line per invocation.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  METRIC_UNITS,
  METRICS_NAMESPACE,
  type MetricName,
  type MetricsRecorder,
} from '../definitions/metrics.js';

export interface InvocationOutput {
  logLines: number;
  logBytes: number;
  /** Every metric value recorded, in order. */
  metrics: Array<[MetricName, number]>;
}

/** The levels written at INFO. */
const WRITTEN_LEVELS = new Set(['info', 'warn', 'error', 'critical']);

/** Errors as Powertools writes them (JSON.stringify alone would write `{}`). */
const withErrors = (_key: string, value: unknown) =>
  value instanceof Error ? { name: value.name, message: value.message, stack: value.stack } : value;

/** A line's bytes with Powertools' standard keys, as in Lambda (where an X-Ray trace id is always set). */
export function logLineBytes(
  level: string,
  serviceName: string,
  message: unknown,
  attributes: Record<string, unknown>,
): number {
  const line = {
    level: level.toUpperCase(),
    message,
    sampling_rate: 0,
    service: serviceName,
    timestamp: '2026-12-05T00:20:00.000Z',
    xray_trace_id: '1-6751f3a0-0123456789abcdef01234567',
    ...attributes,
  };
  return Buffer.byteLength(JSON.stringify(line, withErrors)) + 1;
}

type Method = (...args: unknown[]) => unknown;

/**
 * `target` with some of its methods wrapped: `wrap` gets each method's name and the method
 * bound to `target`, and returns the function to call instead, or nothing to keep it. A
 * proxy, so that `instanceof` still holds (the benchmark checks for `InMemoryMetrics`).
 */
function wrapMethods<T extends object>(
  target: T,
  wrap: (name: string, method: Method) => Method | undefined,
): T {
  return new Proxy(target, {
    get(object, property) {
      const value: unknown = Reflect.get(object, property, object);
      if (typeof value !== 'function') return value;
      const method = value.bind(object) as Method;
      return (typeof property === 'string' && wrap(property, method)) || method;
    },
  });
}

/** `logger`, counting into the running invocation's output every line it would write at INFO. */
export function countingLogger(
  logger: Logger,
  serviceName: string,
  output: () => InvocationOutput | undefined,
): Logger {
  return wrapMethods(logger, (level, method) => {
    if (!WRITTEN_LEVELS.has(level)) return undefined;
    return (message: unknown, ...extra: unknown[]) => {
      const invocation = output();
      if (invocation) {
        const objects = extra.filter((part) => typeof part === 'object' && part !== null);
        const attributes = Object.assign({}, ...objects) as Record<string, unknown>;
        invocation.logLines++;
        invocation.logBytes += logLineBytes(level, serviceName, message, attributes);
      }
      return method(message, ...extra);
    };
  });
}

/** `metrics`, noting in the running invocation's output every value recorded. */
export function countingMetrics(
  metrics: MetricsRecorder,
  output: () => InvocationOutput | undefined,
): MetricsRecorder {
  return wrapMethods(metrics, (name, method) => {
    if (name !== 'record') return undefined;
    return (metric: unknown, value: unknown) => {
      output()?.metrics.push([metric as MetricName, value as number]);
      return method(metric, value);
    };
  });
}

/**
 * Powertools writes a line as soon as a metric holds 100 values; the lines here hold at
 * most 99, so that Powertools never writes one itself while they are measured.
 */
const VALUES_PER_LINE = 99;

/** The EMF lines Powertools writes for these values, and their bytes (none for no values). */
export function emfLines(
  values: Array<[MetricName, number]>,
  serviceName: string,
): { lines: number; bytes: number } {
  const chunks: Array<Array<[MetricName, number]>> = [];
  let chunk: Array<[MetricName, number]> = [];
  const counts = new Map<MetricName, number>();
  for (const [name, value] of values) {
    if ((counts.get(name) ?? 0) === VALUES_PER_LINE) {
      chunks.push(chunk);
      chunk = [];
      counts.clear();
    }
    chunk.push([name, value]);
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  if (chunk.length > 0) chunks.push(chunk);
  let bytes = 0;
  for (const lineValues of chunks) {
    const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName });
    for (const [name, value] of lineValues) metrics.addMetric(name, METRIC_UNITS[name], value);
    bytes += Buffer.byteLength(JSON.stringify(metrics.serializeMetrics())) + 1;
  }
  return { lines: chunks.length, bytes };
}
