/**
 * Publishes the metrics an invocation recorded once it ends, whether it answered or threw.
 * Powertools' own `logMetrics` would do the same for a Powertools `Metrics`, but it warns on
 * every invocation that recorded nothing and knows nothing of the in-memory recorder.
 */
import type { MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import type { MetricsRecorder } from '../../definitions/metrics.js';

export function publishMetrics<Event, Result>(
  metrics: () => MetricsRecorder,
): MiddlewareObj<Event, Result, Error, Context> {
  const flush = () => metrics().flush();
  return { after: flush, onError: flush };
}
