/**
 * A local emulator of an Amazon API Gateway WebSocket API: the HTTP upgrade with a REQUEST
 * authorizer and `$connect` (`upgrade.ts`), route selection on `$request.body.action`, route
 * responses and `$disconnect` (`routes.ts`), stage and route throttling (`throttle.ts`), the
 * frame, idle and duration limits (`connection.ts`), and the `@connections` management API on
 * the same port (`management-api.ts`), so the real `ApiGatewayManagementApiClient` talks to it.
 *
 * Event shapes follow what API Gateway sends (`event-shapes.ts`); the tests check them against
 * the Powertools schemas.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  CLOSE_HANDSHAKE_MS,
  Connection,
  type ConnectionLimits,
  type ConnectionTransit,
} from './connection.js';
import { type Caller, EventShapes } from './event-shapes.js';
import { defaultLog, type GatewayLog } from './log.js';
import { MAX_MESSAGE_BYTES, ManagementApi } from './management-api.js';
import { RouteDispatcher } from './routes.js';
import { createThrottle } from './throttle.js';
import type { RunningWebSocketGateway, WebSocketGatewayOptions } from './types.js';
import { type GatewayState, UpgradeHandler } from './upgrade.js';

export type {
  GatewayDelays,
  RequestAuthorizerHandler,
  RunningWebSocketGateway,
  WebSocketAuthorizerContext,
  WebSocketAuthorizerEvent,
  WebSocketGatewayEvent,
  WebSocketGatewayOptions,
  WebSocketGatewayRequestContext,
  WebSocketMockIntegration,
  WebSocketRouteHandler,
  WebSocketRouteResult,
  WebSocketThrottle,
} from './types.js';

const DEFAULT_IDLE_TIMEOUT_MS = 10 * 60 * 1000;
const DEFAULT_MAX_CONNECTION_MS = 2 * 60 * 60 * 1000;
const DEFAULT_MAX_FRAME_BYTES = 32 * 1024;
/** How long stop() waits, after the close handshakes, for handlers still running. */
const STOP_GRACE_MS = 5_000;

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
  const gateway = new Gateway(options, host);
  const server = createServer((request, response) => gateway.management.serve(request, response));
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) =>
    gateway.upgrade(request, socket, head),
  );
  await listen(server, options.port, host);
  server.on('error', (error) => gateway.log('error', 'server error', { error: String(error) }));

  const port = (server.address() as AddressInfo).port;
  const urlHost = urlHostOf(host);
  let stopped: Promise<void> | undefined;
  return {
    url: `ws://${urlHost}:${port}`,
    managementEndpoint: `http://${urlHost}:${port}`,
    port,
    connectionCount: () => gateway.connectionCount(),
    stop: () => {
      stopped ??= gateway.stop().then(
        () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      );
      return stopped;
    },
  };
}

/** The state of a running gateway: its connections, the handlers still running, and its parts. */
class Gateway {
  readonly log: GatewayLog;
  readonly management: ManagementApi;
  readonly #connections = new Map<string, Connection>();
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #limits: ConnectionLimits;
  readonly #dispatcher: RouteDispatcher;
  readonly #upgrades: UpgradeHandler;
  readonly #wss: WebSocketServer;
  readonly #transit: ConnectionTransit | undefined;
  #ready: boolean;
  #stopping = false;

  constructor(options: WebSocketGatewayOptions, host: string) {
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    const shapes = new EventShapes(options.stage ?? 'local');
    // A bad limit fails the start, not every connection.
    const allowed = createThrottle(options.throttle, { ...options.routes, ...options.mocks });
    this.log = options.log ?? defaultLog;
    this.#limits = {
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      maxConnectionMs: options.maxConnectionMs ?? DEFAULT_MAX_CONNECTION_MS,
    };
    this.#ready = options.ready === undefined;
    // A stack that fails to get ready stops the gateway; until then it keeps answering 503.
    options.ready?.then(
      () => {
        this.#ready = true;
      },
      () => {},
    );
    this.#dispatcher = new RouteDispatcher({
      routes: options.routes,
      mocks: options.mocks ?? {},
      shapes,
      allowed,
      answers: (routeKey) => options.answeredRoutes?.has(routeKey) ?? true,
      maxFrameBytes,
      ...(options.delays ? { invokeDelay: (routeKey: string) => options.delays?.invoke(routeKey) ?? 0 } : {}),
      track: (work) => this.#track(work),
      log: this.log,
    });
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: Math.max(maxFrameBytes, MAX_MESSAGE_BYTES),
      // API Gateway selects a subprotocol only when $connect answers with the header.
      handleProtocols: () => false,
    });
    this.#upgrades = new UpgradeHandler({
      host,
      shapes,
      authorizer: options.authorizer,
      dispatcher: this.#dispatcher,
      allowed,
      state: () => this.#state(),
      accept: (request, socket, head, caller) =>
        this.#wss.handleUpgrade(request, socket, head, (webSocket) => this.#open(webSocket, caller)),
      log: this.log,
    });
    this.management = new ManagementApi(
      shapes.stage,
      this.#connections,
      this.log,
      options.delays ? () => options.delays?.postToConnection() ?? 0 : undefined,
    );
    const delays = options.delays;
    this.#transit = delays
      ? { inbound: () => delays.clientToGateway(), outbound: () => delays.gatewayToClient() }
      : undefined;
  }

  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.#track(this.#upgrades.handle(request, socket, head));
  }

  connectionCount(): number {
    return [...this.#connections.values()].filter((connection) => connection.isOpen).length;
  }

  /** Closes every connection, runs their `$disconnect`, and waits a while for running handlers. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#upgrades.destroyPending();
    const open = [...this.#connections.values()];
    for (const connection of open) connection.close(1001, 'Going away');
    await settleWithin(
      open.map((connection) => connection.disconnected),
      CLOSE_HANDSHAKE_MS + STOP_GRACE_MS,
    );
    if (!(await settleWithin([...this.#inFlight], STOP_GRACE_MS))) {
      this.log('warn', 'stopping with handlers still running', { count: this.#inFlight.size });
    }
    this.#wss.close();
  }

  #state(): GatewayState {
    if (this.#stopping) return 'stopping';
    return this.#ready ? 'serving' : 'not ready';
  }

  #open(socket: WebSocket, caller: Caller): void {
    const connection = new Connection(
      socket,
      caller,
      this.#limits,
      {
        frame: (connection, data, isBinary) => this.#dispatcher.frame(connection, data, isBinary),
        closed: (connection, statusCode, reason) => {
          this.#connections.delete(connection.id);
          const work = this.#dispatcher.disconnect(connection.caller, statusCode, reason);
          this.#track(work);
          return work;
        },
      },
      this.log,
      this.#transit,
    );
    this.#connections.set(connection.id, connection);
    this.log('info', 'connected', { connectionId: connection.id });
  }

  #track(work: Promise<unknown>): void {
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
  }
}

async function listen(server: ReturnType<typeof createServer>, port: number, host: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(`port ${port} on ${host} is busy: the WebSocket gateway cannot listen there`)
          : error,
      );
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
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
