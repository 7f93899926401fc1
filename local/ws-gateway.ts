/**
 * A local emulator of an Amazon API Gateway WebSocket API: the HTTP upgrade with a REQUEST
 * authorizer and `$connect`, route selection on `$request.body.action`, route responses,
 * stage and route throttling, `$disconnect`, the frame, idle and duration limits, and the
 * `@connections` management API on the same port, so the real `ApiGatewayManagementApiClient`
 * talks to it.
 *
 * Event shapes follow what API Gateway sends (AWS developer guide, "Input format of a Lambda
 * function for proxy integration for WebSocket APIs", and the Powertools parser fixtures, which
 * were captured from real events); the tests check them against the Powertools schemas.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type {
  APIGatewayAuthorizerResult,
  APIGatewayEventWebsocketRequestContextV2,
  APIGatewayProxyWebsocketEventV2WithRequestContext,
  APIGatewayRequestAuthorizerEvent,
  Context,
} from 'aws-lambda';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { type ThrottleLimit, TokenBucket } from './token-bucket.js';

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

const REGION = 'us-east-1';
const ACCOUNT_ID = '000000000000';
const DEFAULT_IDLE_TIMEOUT_MS = 10 * 60 * 1000;
const DEFAULT_MAX_CONNECTION_MS = 2 * 60 * 60 * 1000;
const DEFAULT_MAX_FRAME_BYTES = 32 * 1024;
/** Seconds a client is told to wait before it tries the handshake again while not ready. */
const NOT_READY_RETRY_AFTER_SECONDS = 1;
/** API Gateway's message payload limit, for PostToConnection and for client messages. */
const MAX_MESSAGE_BYTES = 128 * 1024;
/** API Gateway's integration timeout: what a handler's Lambda context counts down from. */
const INTEGRATION_TIMEOUT_MS = 29_000;
/** How long stop() waits for a close handshake, then for handlers still running. */
const CLOSE_HANDSHAKE_MS = 1_000;
const STOP_GRACE_MS = 5_000;
const RESERVED_ROUTES = new Set(['$connect', '$disconnect', '$default']);
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

// ---------------------------------------------------------------------------------------------
// The gateway
// ---------------------------------------------------------------------------------------------

interface Connection {
  id: string;
  socket: WebSocket;
  connectedAt: number;
  lastActiveAt: number;
  sourceIp: string;
  userAgent: string | undefined;
  domainName: string;
  authorizer: WebSocketAuthorizerContext | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  maxTimer: NodeJS.Timeout;
  terminateTimer: NodeJS.Timeout | undefined;
  /** Set when the gateway closes the connection, to report in `$disconnect`. */
  closing: { code: number; reason: string } | undefined;
  /** Settles once `$disconnect` has run. */
  disconnected: Promise<void>;
}

interface Caller {
  connectionId: string;
  connectedAt: number;
  sourceIp: string;
  userAgent: string | undefined;
  domainName: string;
  authorizer: WebSocketAuthorizerContext | undefined;
}

class UpgradeRefusal {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

/**
 * Starts the emulator on one port: WebSocket upgrades and the `@connections` API.
 *
 * @example
 * ```ts
 * const gateway = await startWebSocketGateway({
 *   port: 0,
 *   authorizer: authorize,
 *   routes: { $connect: connect, $disconnect: disconnect, $default: fallback, send },
 * });
 * const pusher = new ApiGatewayManagementApiClient({ endpoint: gateway.managementEndpoint, region: 'us-east-1' });
 * // … clients connect to gateway.url …
 * await gateway.stop();
 * ```
 */
export async function startWebSocketGateway(
  options: WebSocketGatewayOptions,
): Promise<RunningWebSocketGateway> {
  const host = options.host ?? '127.0.0.1';
  const stage = options.stage ?? 'local';
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const maxConnectionMs = options.maxConnectionMs ?? DEFAULT_MAX_CONNECTION_MS;
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const log = options.log ?? defaultLog;
  const routes = options.routes;
  const apiId = randomApiId();
  // A bad limit fails the start, not every connection.
  const allowed = createThrottle(options.throttle, routes);
  const answers = (routeKey: string) => options.answeredRoutes?.has(routeKey) ?? true;
  let ready = options.ready === undefined;
  // A stack that fails to get ready stops the gateway; until then it keeps answering 503.
  options.ready?.then(
    () => {
      ready = true;
    },
    () => {},
  );

  const connections = new Map<string, Connection>();
  const pendingUpgrades = new Set<Duplex>();
  const inFlight = new Set<Promise<unknown>>();
  let stopping = false;

  const track = (work: Promise<unknown>) => {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  };

  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    maxPayload: Math.max(maxFrameBytes, MAX_MESSAGE_BYTES),
    // API Gateway selects a subprotocol only when $connect answers with the header.
    handleProtocols: () => false,
  });

  // --- invoking handlers -------------------------------------------------------------------

  const invokeRoute = async (routeKey: string, event: WebSocketGatewayEvent) => {
    const handler = routes[routeKey];
    if (!handler) return { ok: true as const, result: undefined };
    try {
      const result = await handler(event, createLambdaContext(routeKey));
      return { ok: true as const, result: result ?? undefined };
    } catch (error) {
      return { ok: false as const, error };
    }
  };

  const baseRequestContext = (
    caller: Caller,
    routeKey: string,
    eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT',
  ) => {
    const requestId = randomId();
    const now = Date.now();
    return {
      routeKey,
      eventType,
      extendedRequestId: requestId,
      requestTime: formatClfTime(now),
      messageDirection: 'IN' as const,
      stage,
      connectedAt: caller.connectedAt,
      requestTimeEpoch: now,
      identity: identityOf(caller),
      requestId,
      domainName: caller.domainName,
      connectionId: caller.connectionId,
      apiId,
    };
  };

  // --- the upgrade: authorizer, $connect, then the connection ------------------------------

  const handleUpgrade = async (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (error) => log('warn', 'upgrade socket error', { error: String(error) }));
    if (stopping) return refuseUpgrade(socket, 503, { message: 'Service Unavailable' });
    if (!ready) {
      return refuseUpgrade(
        socket,
        503,
        { message: 'Service Unavailable: not ready yet, try again shortly' },
        { 'Retry-After': String(NOT_READY_RETRY_AFTER_SECONDS) },
      );
    }
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (!isStagePath(url.pathname, stage)) return refuseUpgrade(socket, 403, { message: 'Forbidden' });
    if (!isWebSocketUpgrade(request)) return refuseUpgrade(socket, 400, { message: 'Bad Request' });
    // Throttled before the authorizer runs: a refused handshake costs the backend nothing.
    if (!allowed('$connect')) return refuseUpgrade(socket, 429, { message: 'Too Many Requests' });

    pendingUpgrades.add(socket);
    try {
      const { headers, multiValueHeaders } = headersOf(request.rawHeaders);
      const userAgent = headerValue(request, 'user-agent');
      const caller: Caller = {
        connectionId: randomId(),
        connectedAt: Date.now(),
        sourceIp: sourceIpOf(request),
        userAgent,
        domainName: headerValue(request, 'host') ?? host,
        authorizer: undefined,
      };
      const query = queryOf(url);
      const forwarded = {
        'X-Amzn-Trace-Id': `Root=1-${Math.floor(caller.connectedAt / 1000).toString(16)}-${randomBytes(12).toString('hex')}`,
        'X-Forwarded-For': caller.sourceIp,
        'X-Forwarded-Port': String(request.socket.localPort ?? ''),
        'X-Forwarded-Proto': 'http',
      };

      if (options.authorizer) {
        caller.authorizer = await authorize(options.authorizer, {
          type: 'REQUEST',
          methodArn: `arn:aws:execute-api:${REGION}:${ACCOUNT_ID}:${apiId}/${stage}/$connect`,
          headers: { ...headers, 'content-length': '0', ...forwarded },
          multiValueHeaders: { ...multiValueHeaders, 'content-length': ['0'], ...multiValued(forwarded) },
          queryStringParameters: query.single ?? {},
          multiValueQueryStringParameters: query.multi ?? {},
          stageVariables: {},
          requestContext: baseRequestContext(caller, '$connect', 'CONNECT'),
          isBase64Encoded: false,
          body: null,
        });
      }

      // The $connect event carries the client's headers, not the hop-by-hop upgrade ones.
      const connectHeaders = { ...withoutHopHeaders(headers), ...forwarded };
      const connectEvent: WebSocketGatewayEvent = {
        headers: connectHeaders,
        multiValueHeaders: multiValued(connectHeaders, withoutHopHeaders(multiValueHeaders)),
        ...(query.single ? { queryStringParameters: query.single } : {}),
        ...(query.multi ? { multiValueQueryStringParameters: query.multi } : {}),
        requestContext: {
          ...baseRequestContext(caller, '$connect', 'CONNECT'),
          ...(caller.authorizer ? { authorizer: caller.authorizer } : {}),
        } as WebSocketGatewayRequestContext,
        isBase64Encoded: false,
      };
      const connected = await invokeRoute('$connect', connectEvent);
      if (!connected.ok) {
        log('error', '$connect failed', {
          connectionId: caller.connectionId,
          error: describeError(connected.error),
        });
        throw new UpgradeRefusal(500, { message: 'Internal server error' });
      }
      const status = connected.result?.statusCode;
      if (typeof status === 'number' && status >= 400) {
        const body = connected.result?.body;
        throw new UpgradeRefusal(
          status,
          body === undefined ? { message: STATUS_CODES[status] ?? 'Error' } : body,
        );
      }

      pendingUpgrades.delete(socket);
      if (stopping || socket.destroyed || !socket.writable) {
        // $connect succeeded but the client is gone: the backend still needs its $disconnect.
        socket.destroy();
        await runDisconnect(caller, 1006, 'Connection closed before the upgrade completed');
        return;
      }
      wss.handleUpgrade(request, socket, head, (webSocket) => openConnection(webSocket, caller));
    } catch (error) {
      pendingUpgrades.delete(socket);
      if (error instanceof UpgradeRefusal) return refuseUpgrade(socket, error.status, error.body);
      log('error', 'upgrade failed', { error: describeError(error) });
      refuseUpgrade(socket, 500, { message: 'Internal server error' });
    }
  };

  const authorize = async (
    authorizer: RequestAuthorizerHandler,
    event: WebSocketAuthorizerEvent,
  ): Promise<WebSocketAuthorizerContext> => {
    const started = Date.now();
    let result: unknown;
    try {
      const answer = await authorizer(
        event as unknown as APIGatewayRequestAuthorizerEvent,
        createLambdaContext('authorizer'),
      );
      // Lambda hands API Gateway the JSON of the answer.
      result = JSON.parse(JSON.stringify(answer ?? null));
    } catch (error) {
      if (messageOf(error) === 'Unauthorized') throw new UpgradeRefusal(401, { message: 'Unauthorized' });
      log('error', 'authorizer failed', { error: describeError(error) });
      throw new UpgradeRefusal(500, { message: null });
    }
    const decision = decide(result, event.methodArn);
    if (decision.kind === 'invalid') {
      log('error', `authorizer answer refused: ${decision.reason}`, { answer: result });
      throw new UpgradeRefusal(500, { message: null });
    }
    if (decision.kind === 'deny') throw new UpgradeRefusal(403, { message: 'Forbidden' });
    return {
      ...decision.context,
      principalId: decision.principalId,
      integrationLatency: Date.now() - started,
    };
  };

  // --- an open connection ------------------------------------------------------------------

  const openConnection = (socket: WebSocket, caller: Caller) => {
    let markDisconnected: () => void = () => {};
    const connection: Connection = {
      id: caller.connectionId,
      socket,
      connectedAt: caller.connectedAt,
      lastActiveAt: Date.now(),
      sourceIp: caller.sourceIp,
      userAgent: caller.userAgent,
      domainName: caller.domainName,
      authorizer: caller.authorizer,
      idleTimer: undefined,
      maxTimer: setTimeout(() => closeConnection(connection, 1001, 'Going away'), maxConnectionMs),
      terminateTimer: undefined,
      closing: undefined,
      disconnected: new Promise<void>((resolve) => {
        markDisconnected = resolve;
      }),
    };
    connections.set(connection.id, connection);
    resetIdleTimer(connection);

    socket.on('error', (error) =>
      log('warn', 'connection error', { connectionId: connection.id, error: String(error) }),
    );
    socket.on('ping', () => touch(connection));
    socket.on('pong', () => touch(connection));
    socket.on('message', (data, isBinary) => {
      touch(connection);
      handleFrame(connection, data, isBinary);
    });
    socket.once('close', (code, reasonBuffer) => {
      clearTimeout(connection.idleTimer);
      clearTimeout(connection.maxTimer);
      clearTimeout(connection.terminateTimer);
      connections.delete(connection.id);
      const closing = connection.closing;
      const statusCode = closing?.code ?? code;
      const reason = closing?.reason ?? disconnectReasonOf(code, reasonBuffer.toString());
      const work = runDisconnect(caller, statusCode, reason).finally(markDisconnected);
      track(work);
    });
    log('info', 'connected', { connectionId: connection.id });
  };

  const touch = (connection: Connection) => {
    connection.lastActiveAt = Date.now();
    resetIdleTimer(connection);
  };

  const resetIdleTimer = (connection: Connection) => {
    clearTimeout(connection.idleTimer);
    connection.idleTimer = setTimeout(() => closeConnection(connection, 1001, 'Going away'), idleTimeoutMs);
  };

  const closeConnection = (connection: Connection, code: number, reason: string) => {
    if (connection.closing) return;
    connection.closing = { code, reason };
    clearTimeout(connection.idleTimer);
    clearTimeout(connection.maxTimer);
    connection.socket.close(code, reason);
    // A client that never answers the close frame is cut off, as API Gateway does.
    connection.terminateTimer = setTimeout(() => connection.socket.terminate(), CLOSE_HANDSHAKE_MS);
  };

  const runDisconnect = async (caller: Caller, statusCode: number, reason: string) => {
    const event: WebSocketGatewayEvent = {
      headers: disconnectHeaders(caller.domainName),
      multiValueHeaders: multiValued(disconnectHeaders(caller.domainName)),
      requestContext: {
        ...baseRequestContext(caller, '$disconnect', 'DISCONNECT'),
        disconnectStatusCode: statusCode,
        disconnectReason: reason,
        ...(caller.authorizer ? { authorizer: caller.authorizer } : {}),
      } as WebSocketGatewayRequestContext,
      isBase64Encoded: false,
    };
    const outcome = await invokeRoute('$disconnect', event);
    if (!outcome.ok) {
      log('error', '$disconnect failed', {
        connectionId: caller.connectionId,
        error: describeError(outcome.error),
      });
    }
    log('info', 'disconnected', { connectionId: caller.connectionId, statusCode, reason });
  };

  const handleFrame = (connection: Connection, data: RawData, isBinary: boolean) => {
    if (connection.closing) return;
    if (isBinary) {
      // API Gateway does not take binary frames: it closes the connection with 1003.
      closeConnection(connection, 1003, 'Unsupported data');
      return;
    }
    const bytes = toBuffer(data);
    if (bytes.length > maxFrameBytes) {
      // API Gateway's frame limit: the connection is closed, the frame reaches no route
      // ("Amazon API Gateway quotas for configuring and running a WebSocket API").
      closeConnection(connection, 1009, 'Message too big');
      return;
    }
    const text = bytes.toString('utf8');
    const routeKey = selectRoute(text, routes);
    const caller = callerOf(connection);
    const requestContext = {
      ...baseRequestContext(caller, routeKey, 'MESSAGE'),
      messageId: randomId(),
      ...(caller.authorizer ? { authorizer: caller.authorizer } : {}),
    };
    const event: WebSocketGatewayEvent = { requestContext, body: text, isBase64Encoded: false };
    if (!allowed(routeKey)) {
      sendText(connection, gatewayMessage('Too Many Requests', connection.id, requestContext.requestId));
      return;
    }
    // Like API Gateway, every frame is its own invocation: no ordering, no serialisation.
    track(
      (async () => {
        if (!routes[routeKey]) {
          sendText(connection, gatewayMessage('Forbidden', connection.id, requestContext.requestId));
          return;
        }
        const outcome = await invokeRoute(routeKey, event);
        if (!outcome.ok) {
          log('error', `${routeKey} failed`, {
            connectionId: connection.id,
            error: describeError(outcome.error),
          });
          sendText(
            connection,
            gatewayMessage('Internal server error', connection.id, requestContext.requestId),
          );
          return;
        }
        // Only a route with a route response sends its integration's answer back.
        const body = outcome.result?.body;
        if (typeof body === 'string' && answers(routeKey)) sendText(connection, body);
      })(),
    );
  };

  const sendText = (connection: Connection, text: string | Buffer) => {
    if (connection.socket.readyState !== WebSocket.OPEN) return false;
    connection.socket.send(text, { binary: false });
    return true;
  };

  // --- the @connections management API -----------------------------------------------------

  const handleManagement = async (request: IncomingMessage, response: ServerResponse) => {
    const requestId = randomUUID();
    const reply = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      if (response.headersSent) return;
      const text = body === undefined ? '' : JSON.stringify(body);
      response.writeHead(status, {
        'Content-Type': 'application/json',
        'Content-Length': String(Buffer.byteLength(text)),
        'x-amzn-RequestId': requestId,
        ...headers,
      });
      response.end(text);
    };
    // No body, exactly as API Gateway answers: the error type is in the header.
    const gone = () => reply(410, undefined, { 'x-amzn-ErrorType': 'GoneException' });

    const pathname = (request.url ?? '/').split('?')[0] ?? '/';
    const match = /^(?:\/([^/]+))?\/@connections\/([^/]+)\/?$/.exec(pathname);
    if (!match || (match[1] !== undefined && match[1] !== stage)) {
      request.resume();
      return reply(404, { message: 'Not Found' }, { 'x-amzn-ErrorType': 'NotFoundException' });
    }
    let connectionId: string;
    try {
      connectionId = decodeURIComponent(match[2] ?? '');
    } catch {
      request.resume();
      return reply(400, { message: 'Invalid connection id' }, { 'x-amzn-ErrorType': 'BadRequestException' });
    }
    const method = request.method ?? 'GET';
    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
      request.resume();
      return reply(405, { message: 'Method Not Allowed' }, { Allow: 'POST, GET, DELETE' });
    }

    if (method === 'POST') {
      const body = await readBody(request, MAX_MESSAGE_BYTES);
      if (body === 'too large') {
        return reply(
          413,
          { message: 'Request Entity Too Large' },
          { 'x-amzn-ErrorType': 'PayloadTooLargeException' },
        );
      }
      const connection = connections.get(connectionId);
      if (!connection || connection.closing || !sendText(connection, body)) return gone();
      return reply(200);
    }

    request.resume();
    const connection = connections.get(connectionId);
    if (!connection || connection.closing) return gone();
    if (method === 'GET') {
      return reply(200, {
        connectedAt: new Date(connection.connectedAt).toISOString(),
        identity: { sourceIp: connection.sourceIp, userAgent: connection.userAgent ?? '' },
        lastActiveAt: new Date(connection.lastActiveAt).toISOString(),
      });
    }
    closeConnection(connection, 1000, '');
    return reply(204);
  };

  // --- the server --------------------------------------------------------------------------

  const server = createServer((request, response) => {
    handleManagement(request, response).catch((error) => {
      log('error', 'management request failed', { error: describeError(error) });
      if (!response.headersSent) {
        response.writeHead(500, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify({ message: 'Internal server error' }));
      }
    });
  });
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    track(handleUpgrade(request, socket, head));
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(`port ${options.port} on ${host} is busy: the WebSocket gateway cannot listen there`)
          : error,
      );
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(options.port, host);
  });
  server.on('error', (error) => log('error', 'server error', { error: String(error) }));

  const port = (server.address() as AddressInfo).port;
  const urlHost = urlHostOf(host);

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      stopping = true;
      for (const socket of pendingUpgrades) socket.destroy();
      const open = [...connections.values()];
      for (const connection of open) closeConnection(connection, 1001, 'Going away');
      await settleWithin(
        open.map((connection) => connection.disconnected),
        CLOSE_HANDSHAKE_MS + STOP_GRACE_MS,
      );
      if (!(await settleWithin([...inFlight], STOP_GRACE_MS))) {
        log('warn', 'stopping with handlers still running', { count: inFlight.size });
      }
      wss.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    })();
    return stopped;
  };

  return {
    url: `ws://${urlHost}:${port}`,
    managementEndpoint: `http://${urlHost}:${port}`,
    port,
    connectionCount: () =>
      [...connections.values()].filter(
        (connection) => !connection.closing && connection.socket.readyState === WebSocket.OPEN,
      ).length,
    stop,
  };
}

// ---------------------------------------------------------------------------------------------
// Route selection and authorizer policies
// ---------------------------------------------------------------------------------------------

/** `$request.body.action`: a JSON object whose `action` names a route, else `$default`. */
function selectRoute(text: string, routes: Record<string, WebSocketRouteHandler>): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return '$default';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return '$default';
  const action = (parsed as { action?: unknown }).action;
  if (typeof action !== 'string' || RESERVED_ROUTES.has(action) || !Object.hasOwn(routes, action))
    return '$default';
  return action;
}

/**
 * Whether a request to `routeKey` may go on, taking a token if so. A route with its own
 * settings uses its own bucket in place of the stage's: the API Gateway guide says route-level
 * throttling overrides the stage's default route settings for that route ("Protect your
 * WebSocket APIs in API Gateway"), and `RouteSettings.{routeKey}` replaces
 * `DefaultRouteSettings` for that route. Every other route shares the stage's bucket.
 */
function createThrottle(
  throttle: WebSocketThrottle | undefined,
  routes: Record<string, WebSocketRouteHandler>,
): (routeKey: string) => boolean {
  if (!throttle) return () => true;
  const bucketOf = (path: string, limit: ThrottleLimit) => {
    try {
      return new TokenBucket(limit);
    } catch (error) {
      throw new RangeError(`${path}.${messageOf(error)}`, { cause: error });
    }
  };
  const stage = throttle.stage ? bucketOf('throttle.stage', throttle.stage) : undefined;
  const own = new Map<string, TokenBucket>();
  for (const [routeKey, limit] of Object.entries(throttle.routes ?? {})) {
    // As AWS refuses the settings of a route key the API does not have.
    if (!Object.hasOwn(routes, routeKey)) {
      throw new RangeError(`throttle.routes.${routeKey}: the API has no route ${routeKey}`);
    }
    own.set(routeKey, bucketOf(`throttle.routes.${routeKey}`, limit));
  }
  return (routeKey) => (own.get(routeKey) ?? stage)?.take() ?? true;
}

type Decision =
  | { kind: 'allow'; principalId: string; context: Record<string, string> }
  | { kind: 'deny' }
  | { kind: 'invalid'; reason: string };

/** An explicit Deny wins, then an Allow of `execute-api:Invoke` on the method ARN; else 403. */
function decide(answer: unknown, methodArn: string): Decision {
  if (typeof answer !== 'object' || answer === null) return { kind: 'invalid', reason: 'not an object' };
  const { principalId, policyDocument, context } = answer as Record<string, unknown>;
  if (typeof principalId !== 'string') return { kind: 'invalid', reason: 'principalId must be a string' };
  const statements = (policyDocument as { Statement?: unknown } | undefined)?.Statement;
  if (!Array.isArray(statements))
    return { kind: 'invalid', reason: 'policyDocument.Statement must be a list' };
  const stringified: Record<string, string> = {};
  if (context !== undefined && context !== null) {
    if (typeof context !== 'object' || Array.isArray(context)) return { kind: 'invalid', reason: 'context' };
    for (const [key, value] of Object.entries(context)) {
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        return { kind: 'invalid', reason: `context.${key} must be a string, number or boolean` };
      }
      stringified[key] = String(value);
    }
  }
  const applies = (statement: Record<string, unknown>) =>
    listOf(statement.Action).some((action) => matchesAction(action)) &&
    listOf(statement.Resource).some((resource) => wildcardMatch(resource, methodArn));
  const relevant = statements.filter(
    (statement): statement is Record<string, unknown> => typeof statement === 'object' && statement !== null,
  );
  if (relevant.some((statement) => statement.Effect === 'Deny' && applies(statement)))
    return { kind: 'deny' };
  if (relevant.some((statement) => statement.Effect === 'Allow' && applies(statement))) {
    return { kind: 'allow', principalId, context: stringified };
  }
  return { kind: 'deny' };
}

function listOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function matchesAction(action: string): boolean {
  return ['*', 'execute-api:*', 'execute-api:invoke'].some((pattern) =>
    wildcardMatch(action.toLowerCase(), pattern),
  );
}

function wildcardMatch(pattern: string, value: string): boolean {
  const source = pattern
    .split('')
    .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`).test(value);
}

// ---------------------------------------------------------------------------------------------
// Event pieces
// ---------------------------------------------------------------------------------------------

function callerOf(connection: Connection): Caller {
  return {
    connectionId: connection.id,
    connectedAt: connection.connectedAt,
    sourceIp: connection.sourceIp,
    userAgent: connection.userAgent,
    domainName: connection.domainName,
    authorizer: connection.authorizer,
  };
}

function identityOf(caller: Caller): { sourceIp: string; userAgent?: string } {
  return caller.userAgent === undefined
    ? { sourceIp: caller.sourceIp }
    : { sourceIp: caller.sourceIp, userAgent: caller.userAgent };
}

/** The headers API Gateway puts on every `$disconnect` event. */
function disconnectHeaders(domainName: string): Record<string, string> {
  return { Host: domainName, 'x-api-key': '', 'X-Forwarded-For': '', 'x-restapi': '' };
}

/**
 * The frame API Gateway sends when it does not serve a frame (`Forbidden`, `Internal server
 * error`, `Too Many Requests`), byte for byte as clients receive it from AWS, spacing included:
 * `{"message": "Forbidden", "connectionId":"…", "requestId":"…"}`.
 */
function gatewayMessage(message: string, connectionId: string, requestId: string): string {
  const json = JSON.stringify;
  return `{"message": ${json(message)}, "connectionId":${json(connectionId)}, "requestId":${json(requestId)}}`;
}

function disconnectReasonOf(code: number, reason: string): string {
  if (code === 1005) return 'Client-side close frame status not set';
  if (code === 1006 && reason === '') return 'Connection closed abnormally';
  return reason;
}

function headersOf(rawHeaders: string[]) {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (let index = 0; index + 1 < rawHeaders.length; index += 2) {
    const name = rawHeaders[index] as string;
    const value = rawHeaders[index + 1] as string;
    headers[name] = value;
    multiValueHeaders[name] = [...(multiValueHeaders[name] ?? []), value];
  }
  return { headers, multiValueHeaders };
}

const HOP_HEADERS = new Set(['connection', 'upgrade', 'content-length']);

function withoutHopHeaders<T>(headers: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_HEADERS.has(name.toLowerCase())));
}

function multiValued(
  headers: Record<string, string>,
  base: Record<string, string[]> = {},
): Record<string, string[]> {
  const result: Record<string, string[]> = { ...base };
  for (const [name, value] of Object.entries(headers)) if (!(name in result)) result[name] = [value];
  return result;
}

function queryOf(url: URL) {
  if ([...url.searchParams.keys()].length === 0) return { single: undefined, multi: undefined };
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const [name, value] of url.searchParams) {
    single[name] = value;
    multi[name] = [...(multi[name] ?? []), value];
  }
  return { single, multi };
}

function headerValue(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[value.length - 1] : value;
}

function sourceIpOf(request: IncomingMessage): string {
  const address = request.socket.remoteAddress ?? '127.0.0.1';
  return address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
}

function isStagePath(pathname: string, stage: string): boolean {
  return pathname === '/' || pathname === `/${stage}` || pathname === `/${stage}/`;
}

function isWebSocketUpgrade(request: IncomingMessage): boolean {
  return (
    request.method === 'GET' &&
    (headerValue(request, 'upgrade') ?? '').toLowerCase() === 'websocket' &&
    typeof request.headers['sec-websocket-key'] === 'string' &&
    request.headers['sec-websocket-version'] === '13'
  );
}

function refuseUpgrade(socket: Duplex, status: number, body: unknown, headers: Record<string, string> = {}) {
  if (socket.destroyed) return;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Connection: close\r\n' +
      Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('') +
      `Content-Type: ${typeof body === 'string' ? 'text/plain' : 'application/json'}\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\n` +
      `x-amzn-RequestId: ${randomUUID()}\r\n` +
      `\r\n${text}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/** Ids shaped like API Gateway's connection and request ids: 15 url-safe base64 chars and `=`. */
function randomId(): string {
  return `${randomBytes(11).toString('base64url')}=`;
}

function randomApiId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(10)].map((byte) => alphabet[byte % alphabet.length]).join('');
}

/** `09/Feb/2024:18:11:43 +0000`, the CLF time API Gateway puts in `requestTime`. */
function formatClfTime(epochMs: number): string {
  const date = new Date(epochMs);
  const two = (value: number) => String(value).padStart(2, '0');
  return (
    `${two(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}:` +
    `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} +0000`
  );
}

function createLambdaContext(functionName: string): Context {
  const deadline = Date.now() + INTEGRATION_TIMEOUT_MS;
  const today = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${today}/[$LATEST]${randomBytes(16).toString('hex')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** The body, or 'too large' once it passes `limit` bytes (the rest is read and dropped). */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer | 'too large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    request.on('end', () => resolve(size > limit ? 'too large' : Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** Waits for every promise to settle, at most `ms`; says whether they all did. */
async function settleWithin(promises: Array<Promise<unknown>>, ms: number): Promise<boolean> {
  if (promises.length === 0) return true;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([Promise.allSettled(promises).then(() => true as const), expired]);
  } finally {
    clearTimeout(timer);
  }
}

function urlHostOf(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function describeError(error: unknown): unknown {
  return error instanceof Error ? { name: error.name, message: error.message, stack: error.stack } : error;
}

function defaultLog(level: 'info' | 'warn' | 'error', message: string, details?: unknown) {
  if (level === 'info') return;
  console.error(`[ws-gateway] ${level}: ${message}`, details ?? '');
}
