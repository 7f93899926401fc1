/**
 * The routes of the API: selecting one for a frame (`$request.body.action`), invoking its
 * handler, answering the client as API Gateway does, and `$disconnect`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RawData } from 'ws';
import type { Connection } from './connection.js';
import { type Caller, createLambdaContext, type EventShapes, gatewayMessage } from './event-shapes.js';
import { describeError, type GatewayLog } from './log.js';
import type {
  WebSocketGatewayEvent,
  WebSocketMockIntegration,
  WebSocketRouteHandler,
  WebSocketRouteResult,
} from './types.js';

const RESERVED_ROUTES = new Set(['$connect', '$disconnect', '$default']);

/** A handler's answer, or what it threw. */
export type RouteOutcome =
  | { ok: true; result: WebSocketRouteResult | undefined }
  | { ok: false; error: unknown };

export interface RouteDispatcherOptions {
  routes: Record<string, WebSocketRouteHandler>;
  /** Routes API Gateway answers itself (MOCK integrations): nothing is invoked. */
  mocks: Readonly<Record<string, WebSocketMockIntegration>>;
  shapes: EventShapes;
  /** Takes a token of the route's throttle; false when the route is throttled. */
  allowed: (routeKey: string) => boolean;
  /** Whether a route has a route response, so that its answer goes back to the client. */
  answers: (routeKey: string) => boolean;
  maxFrameBytes: number;
  /** How long API Gateway takes to start the route's Lambda handler (a model of AWS); none when absent. */
  invokeDelay?: (routeKey: string) => number;
  /** Keeps a handler's run, so that a stop can wait for it. */
  track: (work: Promise<unknown>) => void;
  log: GatewayLog;
}

export class RouteDispatcher {
  readonly #options: RouteDispatcherOptions;

  constructor(options: RouteDispatcherOptions) {
    this.#options = options;
  }

  /** Runs the route's handler; a route without one answers nothing. */
  async invoke(routeKey: string, event: WebSocketGatewayEvent): Promise<RouteOutcome> {
    const handler = this.#options.routes[routeKey];
    if (!handler) return { ok: true, result: undefined };
    const delayMs = this.#options.invokeDelay?.(routeKey) ?? 0;
    if (delayMs > 0) await sleep(delayMs);
    try {
      const result = await handler(event, createLambdaContext(routeKey));
      return { ok: true, result: result ?? undefined };
    } catch (error) {
      return { ok: false, error };
    }
  }

  /** Serves one frame a client sent, as its own invocation, in no order with the others. */
  frame(connection: Connection, data: RawData, isBinary: boolean): void {
    if (connection.closing) return;
    if (isBinary) {
      // API Gateway does not take binary frames: it closes the connection with 1003.
      connection.close(1003, 'Unsupported data');
      return;
    }
    const bytes = toBuffer(data);
    if (bytes.length > this.#options.maxFrameBytes) {
      // API Gateway's frame limit: the connection is closed, the frame reaches no route
      // ("Amazon API Gateway quotas for configuring and running a WebSocket API").
      connection.close(1009, 'Message too big');
      return;
    }
    const text = bytes.toString('utf8');
    const { routes, mocks } = this.#options;
    const routeKey = selectRoute(
      text,
      (action) => Object.hasOwn(routes, action) || Object.hasOwn(mocks, action),
    );
    const event = this.#options.shapes.messageEvent(connection.caller, routeKey, text);
    const requestId = event.requestContext.requestId;
    if (!this.#options.allowed(routeKey)) {
      connection.send(gatewayMessage('Too Many Requests', connection.id, requestId));
      return;
    }
    // Like API Gateway, every frame is its own invocation: no ordering, no serialisation.
    this.#options.track(this.#serve(connection, routeKey, event, requestId));
  }

  /** Runs `$disconnect` for a connection that has closed; a failure is logged, not thrown. */
  async disconnect(caller: Caller, statusCode: number, reason: string): Promise<void> {
    const event = this.#options.shapes.disconnectEvent(caller, statusCode, reason);
    const outcome = await this.invoke('$disconnect', event);
    if (!outcome.ok) {
      this.#options.log('error', '$disconnect failed', {
        connectionId: caller.connectionId,
        error: describeError(outcome.error),
      });
    }
    this.#options.log('info', 'disconnected', { connectionId: caller.connectionId, statusCode, reason });
  }

  async #serve(connection: Connection, routeKey: string, event: WebSocketGatewayEvent, requestId: string) {
    const mock = this.#options.mocks[routeKey];
    if (mock) {
      // A route is selected on a JSON object's action, so the body parses to one here.
      const answer = mock(JSON.parse(event.body ?? '{}') as Record<string, unknown>);
      if (answer && this.#options.answers(routeKey)) connection.send(JSON.stringify(answer));
      return;
    }
    if (!this.#options.routes[routeKey]) {
      connection.send(gatewayMessage('Forbidden', connection.id, requestId));
      return;
    }
    const outcome = await this.invoke(routeKey, event);
    if (!outcome.ok) {
      this.#options.log('error', `${routeKey} failed`, {
        connectionId: connection.id,
        error: describeError(outcome.error),
      });
      connection.send(gatewayMessage('Internal server error', connection.id, requestId));
      return;
    }
    // Only a route with a route response sends its integration's answer back.
    const body = outcome.result?.body;
    if (typeof body === 'string' && this.#options.answers(routeKey)) connection.send(body);
  }
}

/** `$request.body.action`: a JSON object whose `action` names a route, else `$default`. */
function selectRoute(text: string, isRoute: (action: string) => boolean): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return '$default';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return '$default';
  const action = (parsed as { action?: unknown }).action;
  if (typeof action !== 'string' || RESERVED_ROUTES.has(action) || !isRoute(action)) return '$default';
  return action;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
