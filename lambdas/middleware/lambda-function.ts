/**
 * The chain every Parley function is built on: a middy handler over the deps of
 * `lambdas/runtime.ts` that publishes the invocation's metrics when it ends, whether it
 * answered or threw. The WebSocket routes add their logger, validation and error frames
 * (`websocket-route.ts`); the authorizer and the stream consumers take it as it is, typed
 * for their events.
 */
import middy, { type MiddyfiedHandler } from '@middy/core';
import type {
  APIGatewayAuthorizerResult,
  APIGatewayRequestAuthorizerEvent,
  Context,
  KinesisStreamEvent,
} from 'aws-lambda';
import type { MetricsRecorder } from '../../definitions/metrics.js';
import { publishMetrics } from './publish-metrics.js';

/** What the shared chain needs from the deps: where the invocation's metrics go. */
type MetricsDeps = () => { metrics: MetricsRecorder };

/** A function as Lambda invokes it, with middlewares still to add. */
export type LambdaFunction<Event, Result> = MiddyfiedHandler<Event, Result, Error, Context>;

/** `handle` with the chain every function shares. */
export function lambdaFunction<Event, Result>(
  deps: MetricsDeps,
  handle: (event: Event, context: Context) => Promise<Result>,
): LambdaFunction<Event, Result> {
  return middy<Event, Result, Error, Context>(handle).use(
    publishMetrics<Event, Result>(() => deps().metrics),
  );
}

/**
 * The REQUEST authorizer of `$connect`: `authorize` answers the policy, or refuses by
 * throwing the error `Unauthorized` (API Gateway then answers the handshake 401).
 */
export function requestAuthorizer(
  deps: MetricsDeps,
  authorize: (event: APIGatewayRequestAuthorizerEvent) => Promise<APIGatewayAuthorizerResult>,
): LambdaFunction<APIGatewayRequestAuthorizerEvent, APIGatewayAuthorizerResult> {
  return lambdaFunction(deps, authorize);
}

/**
 * A consumer of the events stream: `consume` gets a batch and answers the records to
 * retry (or nothing, when a failure throws and the whole batch is retried).
 */
export function streamConsumer<Result>(
  deps: MetricsDeps,
  consume: (batch: KinesisStreamEvent, context: Context) => Promise<Result>,
): LambdaFunction<KinesisStreamEvent, Result> {
  return lambdaFunction(deps, consume);
}
