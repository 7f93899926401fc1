/**
 * The builders of the WebSocket route functions, on the chain every function shares
 * (`lambda-function.ts`): give the invocation a logger that names the caller, parse and
 * validate the frame with its zod schema, turn the handler's answer into a route
 * response, and map every error to the protocol's error frame in one place. The
 * connection always stays open.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { LogAttributes } from '@aws-lambda-powertools/logger/types';
import type { MiddlewareObj } from '@middy/core';
import { describeZodError, readableRequestId, type ServerFrame } from '@parley/protocol';
import type { APIGatewayProxyWebsocketEventV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { isOneWayRoute } from '../../definitions/functions.js';
import type { MetricsRecorder } from '../../definitions/metrics.js';
import { type LimitedRoute, limitedRouteOf } from '../../definitions/rate-limits.js';
import { BadRequestError, ConfigurationError, RateLimitedError, toErrorFrame } from '../domain/errors.js';
import type { ConnectionPusher } from '../domain/ports.js';
import type { RouteRateLimiter } from '../domain/rate-limits.js';
import { type LambdaFunction, lambdaFunction } from './lambda-function.js';

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
  /** The per-user limits; a route with a limit refuses the frames over it. */
  rateLimiter?: RouteRateLimiter;
  /** `@connections`: a one-way route posts its answer and error frames to the caller with it. */
  pusher?: ConnectionPusher;
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
  /**
   * The caller's rate limit on this route: settled before `serve` runs, unless the route
   * reads alongside it (`FrameRouteOptions`); then `serve` awaits it before its first write.
   */
  admission: Promise<void>;
}

export interface FrameRouteOptions {
  /**
   * `serve` may start its reads while the rate limit is taken (one write to the counter),
   * instead of after it: the two round trips overlap. It must await `admission` before it
   * writes anything. A refusal is still the answer, whatever else `serve` ran into.
   */
  readsAlongsideLimit?: boolean;
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
function routeLogger(logger: Logger, event: WebSocketEvent, context?: Context): RouteLogger {
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

/** The frame in `body`, checked against `schema`; a frame it refuses is `bad_request`. */
function validFrame<Schema extends z.ZodType>(schema: Schema, body: string | undefined): z.infer<Schema> {
  const result = schema.safeParse(parseJsonObject(body));
  if (!result.success) throw new BadRequestError(describeZodError(result.error));
  return result.data;
}

/**
 * Sends any error back as an error frame echoing the frame's `requestId` when it had a
 * readable one, logged as a refusal when it is the caller's fault and as a failure when
 * it is ours. The one place a route's errors become frames.
 */
function errorFrame(logger: () => Logger): MiddlewareObj<WebSocketEvent, RouteResult, Error, Context> {
  return {
    onError: (request) => {
      const requestId = requestIdIn(request.event.body);
      const log = routeLogger(logger(), request.event, request.context);
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

/**
 * On a one-way route (no route response: definitions/functions.ts `answered: false`), API
 * Gateway sends the caller nothing back, whatever the function returns. There the answer
 * or error frame, when there is one, is posted to the caller's connection through
 * `@connections`, and the function returns no body. A route that most often answers
 * nothing (`ack` without `requestId`, `typing`) is one-way because a two-way route whose
 * function returns no body may still send, and bill, an empty frame: AWS does not say, and
 * a user reports that it does (docs/capacity.md §2). The route is known by the event's
 * `routeKey`, which API Gateway selects from the frame's `action`.
 *
 * A frame over the caller's limit gets no answer there: each answer would be a post, an
 * `@connections` request counted against the account's throttle, which every user's
 * messages share, so a flood of refused frames would slow everyone else's delivery. A
 * route response is not counted again; a post is.
 */
function postAnswerOnOneWayRoute(
  deps: () => RouteDeps,
): MiddlewareObj<WebSocketEvent, RouteResult, Error, Context> {
  const deliver = async (request: {
    event: WebSocketEvent;
    context: Context;
    response: RouteResult | null;
    error?: unknown;
  }) => {
    const { routeKey, connectionId } = request.event.requestContext;
    if (!isOneWayRoute(routeKey)) return;
    const body = request.response?.body;
    request.response = { statusCode: 200 };
    if (body === undefined || request.error instanceof RateLimitedError) return;
    const log = routeLogger(deps().logger, request.event, request.context);
    const { pusher } = deps();
    if (!pusher) {
      throw new ConfigurationError(
        'a one-way route answers through @connections: definitions/functions.ts `posts`',
      );
    }
    try {
      const outcome = await pusher.post(connectionId, body);
      // Gone: the caller left. Throttled: its answer is lost like a dropped frame, and a
      // request that carried a requestId times out at the client, which sends it again.
      if (outcome !== 'delivered') log.info('answer not posted', { outcome });
    } catch (error) {
      // A function deployed without the @connections endpoint fails loudly, not quietly.
      if (error instanceof ConfigurationError) throw error;
      log.error('could not post the answer', { error });
    }
  };
  return { after: deliver, onError: deliver };
}

/** A route handler as API Gateway invokes it. */
export type RouteHandler = LambdaFunction<WebSocketEvent, RouteResult>;

/**
 * A route whose answer goes back to the caller (`$default`): `serve` gets the event with
 * the invocation's logger and returns the answer frame, or nothing; the route response (or
 * on a one-way route the post), error mapping and publishing the metrics are the builder's.
 */
export function answeredRoute(
  deps: () => RouteDeps,
  serve: (event: LoggedEvent) => Promise<ServerFrame | undefined>,
): RouteHandler {
  const answer = async (event: WebSocketEvent, context: Context): Promise<RouteResult> => {
    const frame = await serve({ ...event, logger: routeLogger(deps().logger, event, context) });
    return frame === undefined ? { statusCode: 200 } : { statusCode: 200, body: JSON.stringify(frame) };
  };
  // Registered first, so that it runs after `errorFrame` has made the error frame.
  return lambdaFunction(deps, answer)
    .use(postAnswerOnOneWayRoute(deps))
    .use(errorFrame(() => deps().logger));
}

/**
 * A validated route: `serve` gets the parsed frame, the caller and the invocation's logger
 * and returns the answer frame; logging keys, validation, the route response, error
 * mapping and publishing the metrics are the builder's.
 */
export function frameRoute<Schema extends z.ZodType>(
  schema: Schema,
  deps: () => RouteDeps,
  serve: (event: RouteEvent<z.infer<Schema>>) => Promise<ServerFrame | undefined>,
  options: FrameRouteOptions = {},
): RouteHandler {
  return answeredRoute(deps, async (event) => {
    const caller = callerOf(event);
    const route = limitedRouteOf(event.requestContext.routeKey);
    const limiter = route ? deps().rateLimiter : undefined;
    // A refusal this instance already knows of: `serve` does not even start reading.
    const known = route && limiter?.knownRefusal?.(caller.userId, route);
    if (known) throw new RateLimitedError(known.message);
    // Before validation: a flood of invalid frames counts against the limit too.
    const admission = admitWithinLimit(limiter, caller.userId, route);
    if (!options.readsAlongsideLimit) await admission;
    // Awaited on every way out below; this only keeps a refusal that comes while `serve`
    // is still reading from counting as unhandled.
    else admission.catch(() => {});
    try {
      const answer = await serve({ ...event, frame: validFrame(schema, event.body), caller, admission });
      await admission;
      return answer;
    } catch (error) {
      await admission;
      throw error;
    }
  });
}

/** Refuses with `rate_limited` a frame over the caller's limit on its route. */
async function admitWithinLimit(
  limiter: RouteRateLimiter | undefined,
  userId: string,
  route: LimitedRoute | undefined,
): Promise<void> {
  if (!route || !limiter) return;
  const decision = await limiter.take(userId, route);
  if (!decision.admitted) throw new RateLimitedError(decision.message);
}

/**
 * `$connect` or `$disconnect`: `serve` gets the event with the invocation's logger and
 * returns the status API Gateway answers the handshake with (on `$disconnect` it goes
 * nowhere). An error is thrown on, as Lambda reports it: the handshake fails with 500.
 */
export function connectionRoute(
  deps: () => RouteDeps,
  serve: (event: LoggedEvent) => Promise<RouteResult>,
): RouteHandler {
  return lambdaFunction(deps, (event: WebSocketEvent, context: Context) =>
    serve({ ...event, logger: routeLogger(deps().logger, event, context) }),
  );
}
