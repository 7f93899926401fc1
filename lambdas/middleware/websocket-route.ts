/**
 * Middy middleware for WebSocket routes: parse and validate the frame with its zod schema,
 * turn the handler's answer into a route response, and map every error to the protocol's
 * error frame in one place. The connection always stays open.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import middy, { type MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyWebsocketEventV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { BadRequestError, ParleyError, toErrorFrame } from '../domain/errors.js';
import { describeZodError, readableRequestId, type ServerFrame } from '../domain/protocol.js';

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

export interface RouteEvent<Frame> extends WebSocketEvent {
  frame: Frame;
  caller: Caller;
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
 * echoing the frame's `requestId` when it had a readable one.
 */
export function routeResponse<Event extends WebSocketEvent>(
  logger: () => Logger,
): MiddlewareObj<Event, RouteResult, Error, Context> {
  return {
    after: (request) => {
      const frame = request.response as unknown as ServerFrame | undefined;
      request.response =
        frame === undefined ? { statusCode: 200 } : { statusCode: 200, body: JSON.stringify(frame) };
    },
    onError: (request) => {
      let requestId: string | null = null;
      try {
        requestId = readableRequestId(JSON.parse(request.event.body ?? ''));
      } catch {
        // not JSON: nothing to echo
      }
      const error = request.error;
      if (error instanceof ParleyError && error.code !== 'internal') {
        logger().info('frame refused', { code: error.code, reason: error.message });
      } else {
        logger().error('route failed', {
          error: error ?? undefined,
          connectionId: request.event.requestContext.connectionId,
        });
      }
      request.response = { statusCode: 200, body: JSON.stringify(toErrorFrame(error, requestId)) };
    },
  };
}

/** A route handler as API Gateway invokes it. */
export type RouteHandler = (event: WebSocketEvent, context: Context) => Promise<RouteResult>;

/**
 * A validated route: `serve` gets the parsed frame and the caller and returns the answer
 * frame; validation, the route response and error mapping are the middleware's.
 */
export function frameRoute<Schema extends z.ZodType>(
  schema: Schema,
  logger: () => Logger,
  serve: (event: RouteEvent<z.infer<Schema>>) => Promise<ServerFrame | undefined>,
): RouteHandler {
  const handler = middy(serve as unknown as (event: RouteEvent<z.infer<Schema>>) => Promise<RouteResult>)
    .use(validFrame(schema))
    .use(routeResponse<RouteEvent<z.infer<Schema>>>(logger));
  return handler as unknown as RouteHandler;
}
