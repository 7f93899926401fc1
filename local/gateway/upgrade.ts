/**
 * The HTTP upgrade of a WebSocket handshake, as API Gateway serves it: the checks that refuse it
 * early (not ready, stopping, wrong path, throttled), the REQUEST authorizer, `$connect`, and the
 * HTTP answer of a refused handshake.
 */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { decide } from './authorizer-policy.js';
import {
  type Caller,
  createLambdaContext,
  type EventShapes,
  handshakeRequestOf,
  randomId,
} from './event-shapes.js';
import { describeError, type GatewayLog, logSocketError, messageOf } from './log.js';
import type { RouteDispatcher } from './routes.js';
import type {
  RequestAuthorizerHandler,
  WebSocketAuthorizerContext,
  WebSocketAuthorizerEvent,
} from './types.js';

/** Seconds a client is told to wait before it tries the handshake again while not ready. */
const NOT_READY_RETRY_AFTER_SECONDS = 1;

/** Whether handshakes are served now, or why not. */
export type GatewayState = 'serving' | 'not ready' | 'stopping';

export interface UpgradeOptions {
  /** The domain name of a request without a `Host` header. */
  host: string;
  shapes: EventShapes;
  authorizer: RequestAuthorizerHandler | undefined;
  dispatcher: RouteDispatcher;
  /** Takes a token of the `$connect` throttle; false when handshakes are throttled. */
  allowed: (routeKey: string) => boolean;
  state: () => GatewayState;
  /** Completes the handshake of a caller that `$connect` let in, and opens its connection. */
  accept: (request: IncomingMessage, socket: Duplex, head: Buffer, caller: Caller) => void;
  log: GatewayLog;
}

/** A handshake answered with an HTTP status instead of a connection. */
class UpgradeRefusal {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

export class UpgradeHandler {
  readonly #options: UpgradeOptions;
  /** Sockets whose authorizer or `$connect` is still running. */
  readonly #pending = new Set<Duplex>();

  constructor(options: UpgradeOptions) {
    this.#options = options;
  }

  async handle(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const onUpgradeError = (error: Error) => logSocketError(this.#options.log, 'upgrade socket', error);
    socket.on('error', onUpgradeError);
    const state = this.#options.state();
    if (state === 'stopping') return refuseUpgrade(socket, 503, { message: 'Service Unavailable' });
    if (state === 'not ready') {
      return refuseUpgrade(
        socket,
        503,
        { message: 'Service Unavailable: not ready yet, try again shortly' },
        { 'Retry-After': String(NOT_READY_RETRY_AFTER_SECONDS) },
      );
    }
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (!isStagePath(url.pathname, this.#options.shapes.stage)) {
      return refuseUpgrade(socket, 403, { message: 'Forbidden' });
    }
    if (!isWebSocketUpgrade(request)) return refuseUpgrade(socket, 400, { message: 'Bad Request' });
    // Throttled before the authorizer runs: a refused handshake costs the backend nothing.
    if (!this.#options.allowed('$connect'))
      return refuseUpgrade(socket, 429, { message: 'Too Many Requests' });

    this.#pending.add(socket);
    try {
      const caller = await this.#connect(request, url);
      this.#pending.delete(socket);
      if (this.#options.state() === 'stopping' || socket.destroyed || !socket.writable) {
        // $connect succeeded but the client is gone: the backend still needs its $disconnect.
        socket.destroy();
        await this.#options.dispatcher.disconnect(
          caller,
          1006,
          'Connection closed before the upgrade completed',
        );
        return;
      }
      this.#options.accept(request, socket, head, caller);
      // From here the socket carries a connection: its errors are the connection's.
      socket.on('error', (error) =>
        logSocketError(this.#options.log, 'connection', error, { connectionId: caller.connectionId }),
      );
      socket.off('error', onUpgradeError);
    } catch (error) {
      this.#pending.delete(socket);
      if (error instanceof UpgradeRefusal) return refuseUpgrade(socket, error.status, error.body);
      this.#options.log('error', 'upgrade failed', { error: describeError(error) });
      refuseUpgrade(socket, 500, { message: 'Internal server error' });
    }
  }

  /** Drops the handshakes still waiting for the authorizer or `$connect`. */
  destroyPending(): void {
    for (const socket of this.#pending) socket.destroy();
  }

  /** Runs the authorizer and `$connect`; the caller they let in, or an `UpgradeRefusal`. */
  async #connect(request: IncomingMessage, url: URL): Promise<Caller> {
    const { shapes, authorizer, dispatcher, log } = this.#options;
    const caller: Caller = {
      connectionId: randomId(),
      connectedAt: Date.now(),
      sourceIp: sourceIpOf(request),
      userAgent: headerValue(request, 'user-agent'),
      domainName: headerValue(request, 'host') ?? this.#options.host,
      authorizer: undefined,
    };
    const handshake = handshakeRequestOf(request, url, caller);
    if (authorizer) {
      caller.authorizer = await this.#authorize(authorizer, shapes.authorizerEvent(caller, handshake));
    }
    const connected = await dispatcher.invoke('$connect', shapes.connectEvent(caller, handshake));
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
    return caller;
  }

  /** The authorizer's context for every route, or an `UpgradeRefusal` as API Gateway answers. */
  async #authorize(
    authorizer: RequestAuthorizerHandler,
    event: WebSocketAuthorizerEvent,
  ): Promise<WebSocketAuthorizerContext> {
    const { log } = this.#options;
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
  }
}

/** Answers a handshake with an HTTP status and closes the socket. */
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
