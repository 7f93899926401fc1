/**
 * Middy middleware for WebSocket routes: give the invocation a logger that names the
 * caller, parse and validate the frame with its zod schema, turn the handler's answer into
 * a route response, map every error to the protocol's error frame in one place, and
 * publish the invocation's metrics. The connection always stays open.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { LogAttributes } from '@aws-lambda-powertools/logger/types';
import middy, { type MiddlewareObj } from '@middy/core';
import { describeZodError, readableRequestId, type ServerFrame } from '@parley/protocol';
import type { APIGatewayProxyWebsocketEventV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import type { MetricsRecorder } from '../../definitions/metrics.js';
import { BadRequestError, toErrorFrame } from '../domain/errors.js';
import { publishMetrics } from './publish-metrics.js';

/** A WebSocket event with the context our authorizer attached to the connection. */
export type WebSocketEvent = APIGatewayProxyWebsocketEventV2 & {
  requestContext: APIGatewayProxyWebsocketEventV2['requestContext'] & {
    authorizer?: Record<string, unknown> | null;
  };
  queryStringParameters?: Record<string, string | undefined> | null;
};

export interface RouteResult {
  statusCode: number;
  body?: string;
}

export interface Caller {
  userId: string;
  deviceId: string;
  connectionId: string;
}

/** What every WebSocket route needs from the deps. */
export interface RouteDeps {
  logger: Logger;
  metrics: MetricsRecorder;
}

/** The log methods of one route invocation; see `routeLogger`. */
export interface RouteLogger {
  debug(message: string, attributes?: LogAttributes): void;
  info(message: string, attributes?: LogAttributes): void;
  warn(message: string, attributes?: LogAttributes): void;
  error(message: string, attributes?: LogAttributes): void;
}

/** A WebSocket event with the logger of its invocation. */
export interface LoggedEvent extends WebSocketEvent {
  logger: RouteLogger;
}

export interface RouteEvent<Frame> extends LoggedEvent {
  frame: Frame;
  caller: Caller;
}

/** The frame's `requestId` when the body is JSON with a readable one, else null. */
function requestIdIn(body: string | undefined): string | null {
  try {
    return readableRequestId(JSON.parse(body ?? ''));
  } catch {
    return null; // not JSON: no requestId to name
  }
}

/**
 * A view of `logger` for one invocation whose every line carries the connection, the
 * caller when known, the frame's `requestId` when it has one and Lambda's request id.
 * The keys travel with each line instead of being appended to the shared logger: the
 * local stack runs many invocations at once on one logger, so appended keys would cross
 * between them, and a child logger per invocation costs a Logger construction (~170 µs
 * measured) and reports every invocation as a cold start. Nothing outlives the invocation.
 */
export function routeLogger(logger: Logger, event: WebSocketEvent, context?: Context): RouteLogger {
  const authorizer = event.requestContext.authorizer ?? {};
  const requestId = requestIdIn(event.body);
  const keys: LogAttributes = {
    connectionId: event.requestContext.connectionId,
    ...(typeof authorizer.userId === 'string' ? { userId: authorizer.userId } : {}),
    // $connect hands on whatever deviceId the handshake had, even none: name only a real one.
    ...(typeof authorizer.deviceId === 'string' && authorizer.deviceId !== ''
      ? { deviceId: authorizer.deviceId }
      : {}),
    ...(requestId !== null ? { requestId } : {}),
    ...(context?.awsRequestId ? { function_request_id: context.awsRequestId } : {}),
  };
  return {
    debug: (message, attributes) => logger.debug(message, { ...keys, ...attributes }),
    info: (message, attributes) => logger.info(message, { ...keys, ...attributes }),
    warn: (message, attributes) => logger.warn(message, { ...keys, ...attributes }),
    error: (message, attributes) => logger.error(message, { ...keys, ...attributes }),
  };
}

/** Puts the invocation's `routeLogger` on the event, for the handler and the middleware after it. */
export function withRouteLogger<Event extends LoggedEvent>(
  logger: () => Logger,
): MiddlewareObj<Event, RouteResult, Error, Context> {
  return {
    before: (request) => {
      request.event.logger = routeLogger(logger(), request.event, request.context);
    },
  };
}

/** Who is calling, from the authorizer context API Gateway attaches to every route. */
export function callerOf(event: WebSocketEvent): Caller {
  const authorizer = event.requestContext.authorizer ?? {};
  const userId = authorizer.userId;
  const deviceId = authorizer.deviceId;
  if (typeof userId !== 'string' || typeof deviceId !== 'string') {
    // Only reachable if the API is deployed without the authorizer: refuse, never guess.
    throw new Error('the connection has no authorizer context');
  }
  return { userId, deviceId, connectionId: event.requestContext.connectionId };
}

/** Parses the JSON body; a body that is not a JSON object is `bad_request`. */
export function parseJsonObject(body: string | undefined): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body ?? '');
  } catch {
    throw new BadRequestError('frame: must be a JSON object (the text is not JSON)');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BadRequestError('frame: must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

/** Validates the frame against `schema` and puts it, with the caller, on the event. */
export function validFrame<Schema extends z.ZodType>(
  schema: Schema,
): MiddlewareObj<RouteEvent<z.infer<Schema>>, RouteResult, Error, Context> {
  return {
    before: (request) => {
      const frame = parseJsonObject(request.event.body);
      const result = schema.safeParse(frame);
      if (!result.success) throw new BadRequestError(describeZodError(result.error));
      request.event.frame = result.data;
      request.event.caller = callerOf(request.event);
    },
  };
}

/**
 * Sends the handler's frame back as the route response, and any error as an error frame
 * echoing the frame's `requestId` when it had a readable one. `logger` serves only when
 * the error came before `withRouteLogger` could run.
 */
export function routeResponse<Event extends LoggedEvent>(
  logger: () => Logger,
): MiddlewareObj<Event, RouteResult, Error, Context> {
  return {
    after: (request) => {
      const frame = request.response as unknown as ServerFrame | undefined;
      request.response =
        frame === undefined ? { statusCode: 200 } : { statusCode: 200, body: JSON.stringify(frame) };
    },
    onError: (request) => {
      const requestId = requestIdIn(request.event.body);
      const log =
        (request.event.logger as RouteLogger | undefined) ??
        routeLogger(logger(), request.event, request.context);
      const error = request.error;
      const answer = toErrorFrame(error, requestId);
      if (answer.code !== 'internal') {
        log.info('frame refused', { code: answer.code, reason: answer.message });
      } else {
        log.error('route failed', { error: error ?? undefined });
      }
      request.response = { statusCode: 200, body: JSON.stringify(answer) };
    },
  };
}

/** A route handler as API Gateway invokes it. */
export type RouteHandler = (event: WebSocketEvent, context: Context) => Promise<RouteResult>;

/**
 * A validated route: `serve` gets the parsed frame, the caller and the invocation's logger
 * and returns the answer frame; logging keys, validation, the route response, error
 * mapping and publishing the metrics are the middleware's.
 */
export function frameRoute<Schema extends z.ZodType>(
  schema: Schema,
  deps: () => RouteDeps,
  serve: (event: RouteEvent<z.infer<Schema>>) => Promise<ServerFrame | undefined>,
): RouteHandler {
  type Event = RouteEvent<z.infer<Schema>>;
  const handler = middy(serve as unknown as (event: Event) => Promise<RouteResult>)
    .use(publishMetrics<Event, RouteResult>(() => deps().metrics))
    .use(withRouteLogger<Event>(() => deps().logger))
    .use(validFrame(schema))
    .use(routeResponse<Event>(() => deps().logger));
  return handler as unknown as RouteHandler;
}
