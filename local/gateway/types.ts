/**
 * The public types of the WebSocket gateway emulator: its options, what it gives route handlers
 * and the authorizer, and what a running gateway offers.
 */
import type {
  APIGatewayAuthorizerResult,
  APIGatewayEventWebsocketRequestContextV2,
  APIGatewayProxyWebsocketEventV2WithRequestContext,
  APIGatewayRequestAuthorizerEvent,
  Context,
} from 'aws-lambda';
import type { HopDelays } from '../latency/hop-delays.js';
import type { ThrottleLimit } from './token-bucket.js';

/** What a route handler may return; only `$connect` looks at `statusCode`. */
export interface WebSocketRouteResult {
  statusCode?: number;
  body?: string;
}

/**
 * `requestContext.authorizer` as API Gateway hands it to every route of an authorized
 * connection: the authorizer's `context` with its values stringified (as AWS documents for
 * Lambda proxy integrations), plus `principalId` and `integrationLatency` (ms).
 */
export interface WebSocketAuthorizerContext {
  principalId: string;
  integrationLatency: number;
  [key: string]: string | number;
}

/**
 * The request context of a WebSocket proxy event. It extends the `@types/aws-lambda` type, which
 * declares `messageId` for every event; as in AWS, only MESSAGE events carry it at runtime.
 */
export interface WebSocketGatewayRequestContext extends APIGatewayEventWebsocketRequestContextV2 {
  identity: { sourceIp: string; userAgent?: string };
  /** Present when the API has an authorizer, on every event of the connection. */
  authorizer?: WebSocketAuthorizerContext;
  /** DISCONNECT events only. */
  disconnectStatusCode?: number;
  /** DISCONNECT events only. */
  disconnectReason?: string;
}

/**
 * The Lambda proxy event of a WebSocket route. `$connect` carries the upgrade's headers and
 * query string; `$disconnect` carries API Gateway's fixed headers; MESSAGE events carry `body`.
 */
export type WebSocketGatewayEvent =
  APIGatewayProxyWebsocketEventV2WithRequestContext<WebSocketGatewayRequestContext> & {
    headers?: Record<string, string>;
    multiValueHeaders?: Record<string, string[]>;
  };

/**
 * The REQUEST authorizer event of a WebSocket `$connect`. It differs from the REST API shape that
 * `APIGatewayRequestAuthorizerEvent` describes (no `resource`, `path`, `httpMethod`), so the
 * authorizer receives it cast to that type.
 */
export interface WebSocketAuthorizerEvent {
  type: 'REQUEST';
  methodArn: string;
  headers: Record<string, string>;
  multiValueHeaders: Record<string, string[]>;
  queryStringParameters: Record<string, string>;
  multiValueQueryStringParameters: Record<string, string[]>;
  stageVariables: Record<string, string>;
  requestContext: Omit<WebSocketGatewayRequestContext, 'messageId' | 'authorizer'>;
  isBase64Encoded: false;
  body: null;
}

export type WebSocketRouteHandler = (
  event: WebSocketGatewayEvent,
  context: Context,
  // biome-ignore lint/suspicious/noConfusingVoidType: a handler may return nothing, as a Lambda handler may
) => Promise<WebSocketRouteResult | undefined | void>;

/**
 * A MOCK integration: API Gateway serves the route itself, from its templates, invoking
 * nothing. Given the client's frame (a JSON object), returns the answer the templates
 * write, or nothing for a one-way route (no integration response).
 */
export type WebSocketMockIntegration = (
  frame: Readonly<Record<string, unknown>>,
) => Record<string, unknown> | undefined;

export type RequestAuthorizerHandler = (
  event: APIGatewayRequestAuthorizerEvent,
  context: Context,
) => Promise<APIGatewayAuthorizerResult>;

/**
 * A stage's throttling, as `DefaultRouteSettings` and `RouteSettings.{routeKey}` of an
 * `AWS::ApiGatewayV2::Stage` set it. Each is one token bucket shared by every connection.
 */
export interface WebSocketThrottle {
  /** `DefaultRouteSettings.ThrottlingRateLimit/BurstLimit`: every route without its own. */
  stage?: ThrottleLimit;
  /** `RouteSettings.{routeKey}`: a route's own throttle, in place of the stage's. */
  routes?: Record<string, ThrottleLimit>;
}

/** The hops of API Gateway that a model of AWS delays. */
export type GatewayDelays = Pick<
  HopDelays,
  'clientToGateway' | 'gatewayToClient' | 'invoke' | 'postToConnection'
>;

export interface WebSocketGatewayOptions {
  /** 0 picks a free port. */
  port: number;
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default `local`. */
  stage?: string;
  /** Runs on the HTTP upgrade before `$connect`. */
  authorizer?: RequestAuthorizerHandler;
  /** Keys: `$connect`, `$disconnect`, `$default` and action names such as `send`. */
  routes: Record<string, WebSocketRouteHandler>;
  /**
   * Routes with a MOCK integration instead of a handler, by action name: their answer goes
   * back like a handler's (when the route answers), and nothing is invoked.
   */
  mocks?: Readonly<Record<string, WebSocketMockIntegration>>;
  /** API Gateway closes a connection idle this long (code 1001). Default 10 minutes. */
  idleTimeoutMs?: number;
  /** API Gateway closes any connection this old (code 1001). Default 2 hours. */
  maxConnectionMs?: number;
  /** Default 32 KB, API Gateway's frame limit: a bigger frame closes the connection with 1009. */
  maxFrameBytes?: number;
  /**
   * Throttling per stage and route, as API Gateway applies it: a frame is counted against its
   * selected route key, a handshake against `$connect`. A throttled frame invokes no route and
   * is answered with API Gateway's `Too Many Requests` frame, the connection staying open; a
   * throttled handshake is answered HTTP 429. No throttling when absent. There is no limit
   * per connection, as in API Gateway.
   */
  throttle?: WebSocketThrottle;
  /**
   * The routes that have a route response: only their integration's answer goes back to the
   * client, as in API Gateway. Default: every route answers.
   */
  answeredRoutes?: ReadonlySet<string>;
  /**
   * Delays that model AWS (a benchmark's `--aws-model`): frames between devices and the
   * gateway, the invoke of a route, and PostToConnection. Frames of one connection keep their
   * order. None when absent.
   */
  delays?: GatewayDelays;
  /**
   * Until this resolves, handshakes are answered HTTP 503 with `Retry-After`, so that a client
   * never reaches routes whose backend is not there yet. Default: ready at once.
   */
  ready?: Promise<unknown>;
  log?: (level: 'info' | 'warn' | 'error', message: string, details?: unknown) => void;
}

export interface RunningWebSocketGateway {
  /** `ws://127.0.0.1:PORT` */
  url: string;
  /** `http://127.0.0.1:PORT`: the `endpoint` of an `ApiGatewayManagementApiClient`. */
  managementEndpoint: string;
  port: number;
  connectionCount(): number;
  /** Closes every connection (running `$disconnect` for each) and frees the port. */
  stop(): Promise<void>;
}
