/**
 * The transport of a client, and nothing else: it opens a WebSocket with a fresh token,
 * opens it again after a full-jitter backoff when it is lost, matches each answer to its
 * request by `requestId`, and keeps a connection that has been quiet for a while alive. What the
 * frames mean is for the client's other parts (as partysocket's `ReconnectingWebSocket`
 * knows only transport, and centrifuge-js keeps its connection apart from subscriptions).
 */
import type { ServerFrame } from '@parley/protocol';
import { type Backoff, SYSTEM_TIMERS, type TimerHandle, type Timers } from './backoff.js';
import { TypedEmitter } from './emitter.js';
import { codeOf, isDisconnect, ParleyError, ParleyErrorCode } from './errors.js';
import { type IdleCounting, KeepAlive, type KeepaliveSupport, type PingOutcome } from './keep-alive.js';
import { type WebSocketConstructor, type WebSocketLike, WS_OPEN } from './websocket.js';

/**
 * Where the connection stands.
 *
 * @example
 * client.on('state', (state) => banner.hidden = state === ConnectionState.Open);
 */
export enum ConnectionState {
  /** Made, `connect()` not called yet. */
  Idle = 'idle',
  /** Opening a connection. */
  Connecting = 'connecting',
  /** Connected: frames go out at once. */
  Open = 'open',
  /** Lost the connection; waiting out the backoff before the next attempt. */
  Reconnecting = 'reconnecting',
  /** `close()` was called; nothing more happens. */
  Closed = 'closed',
}

/** What a connection reports. */
export interface ConnectionEvents extends Record<string, unknown> {
  state: ConnectionState;
  /** The connection opened: what waited for it may go out now. */
  open: undefined;
  /** The connection (or an attempt at one) was lost; a reconnect follows. */
  lost: undefined;
  /** A frame that answers no request: an event of the server. */
  frame: ServerFrame;
  /** The token provider or the WebSocket class failed; a reconnect follows. */
  error: unknown;
}

/** How to open a connection. */
export interface ConnectionOptions {
  /** The WebSocket URL, to which the token and the device id are added as query parameters. */
  url: string;
  deviceId: string;
  /** The token, or a function called before every attempt for a fresh one. */
  token: string | (() => string | Promise<string>);
  WebSocket: WebSocketConstructor;
  /** The delays between attempts, and how long a connection must stay up to reset them. */
  backoff: Backoff;
  /** How long a request waits for its answer. */
  requestTimeoutMs: number;
  /** After this long without a frame, a keep-alive (`keepalive` or `ping`); 0 turns it off. */
  keepAliveMs: number;
  now: () => number;
  /** The timers of the request timeouts. */
  timers?: Timers;
}

interface PendingRequest {
  resolve: (frame: ServerFrame) => void;
  reject: (error: ParleyError) => void;
  timer: TimerHandle;
}

/** One open socket, the requests waiting on it, and what keeps it alive. */
interface Session {
  socket: WebSocketLike;
  pending: Map<string, PendingRequest>;
  openedAt: number;
  keepAlive: KeepAlive;
  /** The `requestId` of the last `keepalive` sent: only a server older than 1.6 answers it. */
  keepaliveRequestId?: string;
}

/**
 * A WebSocket connection that reconnects by itself until `close()`, and sends requests
 * that resolve with their answer.
 *
 * @example
 * const connection = new ReconnectingConnection({ url, deviceId, token, WebSocket, backoff: new Backoff(), requestTimeoutMs: 10_000, keepAliveMs: 0, now: Date.now });
 * connection.on('frame', (frame) => console.log(frame.type));
 * await connection.start(async () => {});
 * const pong = await connection.request({ action: 'ping' });
 */
export class ReconnectingConnection extends TypedEmitter<ConnectionEvents> {
  readonly #options: ConnectionOptions;
  readonly #timers: Timers;
  #state = ConnectionState.Idle;
  #session: Session | undefined;
  /** The socket being opened, until it opens or fails: `close()` abandons it. */
  #connecting: WebSocketLike | undefined;
  #attempt = 0;
  #reconnectTimer: TimerHandle | undefined;
  #requestCounter = 0;
  /** Shared by the keep-alives of every connection this client opens: see `#learnIdleCounting`. */
  readonly #idleCounting: IdleCounting = { countsReceived: true };
  /** Shared by the keep-alives of every connection this client opens: see `#onKeepaliveAnswered`. */
  readonly #keepaliveSupport: KeepaliveSupport = { oneWay: true };
  /** The token read before the first attempt, which that attempt uses. */
  #firstToken: string | undefined;

  constructor(options: ConnectionOptions) {
    super();
    this.#options = options;
    this.#timers = options.timers ?? SYSTEM_TIMERS;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** Open: requests go out at once. */
  get isOpen(): boolean {
    return this.#state === ConnectionState.Open;
  }

  /** Reads a token now, for a caller that needs it early; the first attempt uses it. */
  async firstToken(): Promise<string> {
    this.#firstToken = await this.#tokenNow();
    return this.#firstToken;
  }

  /**
   * Says `connecting`, waits for `prepare` (the client loading what it stored), then opens
   * the connection and keeps it open until `close()`. When `prepare` fails, the connection
   * is idle again and may be started again.
   */
  async start(prepare: () => Promise<void>): Promise<void> {
    if (this.#state !== ConnectionState.Idle) return;
    this.#setState(ConnectionState.Connecting);
    try {
      await prepare();
    } catch (error) {
      if (!this.#closed()) this.#setState(ConnectionState.Idle);
      throw error;
    }
    // close() may have been called while preparing.
    if (this.#closed()) return;
    void this.#open();
  }

  /** Skips the rest of the backoff wait and tries to connect now. */
  reconnectNow(): void {
    if (this.#state !== ConnectionState.Reconnecting) return;
    this.#options.backoff.cancel(this.#reconnectTimer);
    void this.#open();
  }

  /** Closes for good: waiting requests fail with `closed`, and no attempt follows. */
  close(): void {
    if (this.#state === ConnectionState.Closed) return;
    this.#setState(ConnectionState.Closed);
    this.#options.backoff.cancel(this.#reconnectTimer);
    // A handshake under way would otherwise open a connection after close().
    this.#connecting?.close(1000, 'client closed');
    this.#connecting = undefined;
    const session = this.#session;
    this.#session = undefined;
    if (session) {
      session.keepAlive.stop();
      this.#failPending(session, new ParleyError(ParleyErrorCode.Closed, 'the client was closed'));
      session.socket.close(1000, 'client closed');
    }
  }

  /**
   * Sends a frame that expects an answer, and resolves with the answer: an `error` answer
   * rejects with its code, no answer within `requestTimeoutMs` with `timeout`, and a
   * connection lost first with `connection_lost`.
   */
  request<Answer extends ServerFrame>(frame: Record<string, unknown>): Promise<Answer> {
    const session = this.#session;
    if (!session || session.socket.readyState !== WS_OPEN) {
      return Promise.reject(new ParleyError(ParleyErrorCode.ConnectionLost, 'not connected'));
    }
    const requestId = this.#nextRequestId();
    const { requestTimeoutMs } = this.#options;
    return new Promise<Answer>((resolve, reject) => {
      const timer = this.#timers.setTimeout(() => {
        session.pending.delete(requestId);
        const message = `no answer to ${String(frame.action)} within ${requestTimeoutMs} ms`;
        reject(new ParleyError(ParleyErrorCode.Timeout, message));
      }, requestTimeoutMs);
      session.pending.set(requestId, { resolve: resolve as (frame: ServerFrame) => void, reject, timer });
      try {
        session.socket.send(JSON.stringify({ ...frame, requestId }));
        session.keepAlive.sent();
      } catch (error) {
        this.#timers.clearTimeout(timer);
        session.pending.delete(requestId);
        const message = error instanceof Error ? error.message : 'send failed';
        reject(new ParleyError(ParleyErrorCode.ConnectionLost, message, { cause: error }));
      }
    });
  }

  /**
   * Pings now and resolves with whether the connection works: true on any answer; false when
   * not connected, when the connection closes meanwhile, or when no answer comes within
   * `requestTimeoutMs`, and then the connection is closed and opened again at once (with the
   * usual backoff). While waiting out a backoff, the next attempt starts now.
   */
  checkNow(): Promise<boolean> {
    const session = this.#session;
    if (!session || session.socket.readyState !== WS_OPEN) {
      this.reconnectNow();
      return Promise.resolve(false);
    }
    return session.keepAlive.check();
  }

  /** Sends a frame that gets no answer; false when not connected. */
  send(frame: Record<string, unknown>): boolean {
    const session = this.#session;
    if (!session || session.socket.readyState !== WS_OPEN) return false;
    session.socket.send(JSON.stringify(frame));
    session.keepAlive.sent();
    return true;
  }

  async #open(): Promise<void> {
    if (this.#closed()) return;
    this.#setState(ConnectionState.Connecting);
    let socket: WebSocketLike;
    try {
      const token = this.#firstToken ?? (await this.#tokenNow());
      this.#firstToken = undefined;
      if (this.#closed()) return;
      socket = new this.#options.WebSocket(this.#urlWith(token));
    } catch (error) {
      this.emit('error', error);
      this.#scheduleReconnect();
      return;
    }
    this.#connecting = socket;
    this.#listen(socket);
  }

  #listen(socket: WebSocketLike): void {
    const session: Session = {
      socket,
      pending: new Map(),
      openedAt: 0,
      keepAlive: new KeepAlive(
        this.#options.keepAliveMs,
        {
          sendKeepalive: () => this.#sendKeepalive(session),
          ping: () => this.#ping(session),
          dead: () => this.#endDeadSession(session),
        },
        { now: this.#options.now, counting: this.#idleCounting, support: this.#keepaliveSupport },
      ),
    };
    socket.onopen = () => {
      if (this.#connecting === socket) this.#connecting = undefined;
      if (this.#closed()) {
        socket.close(1000, 'client closed');
        return;
      }
      session.openedAt = this.#options.now();
      this.#session = session;
      session.keepAlive.start();
      this.#setState(ConnectionState.Open);
      this.emit('open', undefined);
    };
    socket.onmessage = (event) => {
      if (this.#session !== session) return;
      session.keepAlive.received();
      this.#onFrame(session, typeof event.data === 'string' ? event.data : String(event.data));
    };
    socket.onerror = (event) => {
      // Always followed by a close, which decides what happens next.
      if (this.#connecting === socket && handshakeStatusOf(event) === 429) this.#onTooManyConnections();
    };
    socket.onclose = () => {
      if (this.#connecting === socket) this.#connecting = undefined;
      this.#onClose(session);
    };
  }

  #urlWith(token: string): string {
    const { url, deviceId } = this.#options;
    const separator = url.includes('?') ? '&' : '?';
    return `${url}${separator}token=${encodeURIComponent(token)}&deviceId=${encodeURIComponent(deviceId)}`;
  }

  async #tokenNow(): Promise<string> {
    const { token } = this.#options;
    return typeof token === 'string' ? token : await token();
  }

  #onClose(session: Session): void {
    session.keepAlive.stop();
    const wasCurrent = this.#session === session;
    if (wasCurrent) this.#session = undefined;
    this.#failPending(session, new ParleyError(ParleyErrorCode.ConnectionLost, 'the connection closed'));
    if (this.#closed()) return;
    this.#learnIdleCounting(session);
    if (!wasCurrent && this.#state !== ConnectionState.Connecting) return;
    // A connection that stayed up long enough was a success: count the attempts afresh.
    const { backoff, now } = this.#options;
    if (session.openedAt && now() - session.openedAt >= backoff.minUptimeMs) this.#attempt = 0;
    this.emit('lost', undefined);
    this.#scheduleReconnect();
  }

  /**
   * A connection that closed while only frames it received had kept the keep-alive from
   * pinging was most likely closed for idleness: this gateway counts the client's frames
   * only, so from now on the keep-alive does too. A close at the gateway's 2-hour limit says
   * nothing of that, and is left out. Another close mistaken for it (a network lost at that
   * moment) only costs the pings counting received frames saved.
   */
  #learnIdleCounting(session: Session): void {
    if (!this.#idleCounting.countsReceived || !session.keepAlive.outlivedOwnFrames()) return;
    const { now, keepAliveMs } = this.#options;
    if (session.openedAt && now() - session.openedAt >= GATEWAY_MAX_CONNECTION_MS - keepAliveMs) return;
    this.#idleCounting.countsReceived = false;
  }

  /**
   * The server refused the handshake with 429: the user holds the most connections allowed
   * (or too many handshakes came at once). Trying again soon would only be refused again, so
   * the next attempts wait as if several had failed already, and the app is told why.
   */
  #onTooManyConnections(): void {
    this.#attempt = Math.max(this.#attempt, TOO_MANY_CONNECTIONS_ATTEMPT);
    this.emit(
      'error',
      new ParleyError(
        ParleyErrorCode.RateLimited,
        'the server refused the connection (HTTP 429): this user has the most connections allowed open; close one, and the client keeps trying with a longer backoff',
      ),
    );
  }

  #scheduleReconnect(): void {
    if (this.#closed()) return;
    this.#setState(ConnectionState.Reconnecting);
    const { backoff } = this.#options;
    backoff.cancel(this.#reconnectTimer);
    this.#reconnectTimer = backoff.wait(this.#attempt, () => void this.#open());
    this.#attempt += 1;
  }

  /**
   * The one-way keep-alive. It carries a `requestId` although a 1.6 server answers nothing:
   * a server older than 1.6 refuses it as an unknown action, and its answer echoes the id,
   * which tells that answer apart from the app's own errors (`#onKeepaliveAnswered`).
   */
  #sendKeepalive(session: Session): void {
    if (this.#session !== session) return;
    const requestId = this.#nextRequestId();
    if (this.send({ action: 'keepalive', requestId })) session.keepaliveRequestId = requestId;
  }

  /** A `requestId` this client has not used: its device and a count. */
  #nextRequestId(): string {
    this.#requestCounter += 1;
    return `${this.#options.deviceId.slice(0, 40)}-${this.#requestCounter}`;
  }

  /**
   * A `keepalive` was answered: a 1.6 server never does, an older one refuses the unknown
   * action with `bad_request`. The answer is no failure of anything the app did, so it goes
   * no further; from now on every keep-alive of this client is a `ping`, which every server
   * answers (as the outbox stops asking for no echo when a server refuses that).
   */
  #onKeepaliveAnswered(session: Session): void {
    session.keepaliveRequestId = undefined;
    this.#keepaliveSupport.oneWay = false;
  }

  /** The keep-alive's ping: any answer, an error one too, shows the connection works. */
  async #ping(session: Session): Promise<PingOutcome> {
    if (this.#session !== session) return 'closed';
    try {
      await this.request({ action: 'ping' });
      return 'answered';
    } catch (error) {
      const code = codeOf(error);
      if (code === ParleyErrorCode.Timeout) return 'no-answer';
      return isDisconnect(code) ? 'closed' : 'answered';
    }
  }

  /**
   * No pong came: the socket may not notice a dead network for many minutes, so the
   * connection stops listening to it, closes it and reconnects now, with the usual backoff.
   */
  #endDeadSession(session: Session): void {
    if (this.#session !== session) return;
    session.socket.onmessage = null;
    session.socket.onclose = null;
    session.socket.close(4000, 'no pong');
    this.#onClose(session);
  }

  #failPending(session: Session, error: ParleyError): void {
    for (const [requestId, pending] of session.pending) {
      this.#timers.clearTimeout(pending.timer);
      session.pending.delete(requestId);
      pending.reject(error);
    }
  }

  #onFrame(session: Session, text: string): void {
    let frame: ServerFrame;
    try {
      frame = JSON.parse(text) as ServerFrame;
    } catch {
      return;
    }
    const requestId = 'requestId' in frame ? frame.requestId : undefined;
    if (typeof requestId !== 'string') {
      this.emit('frame', frame);
      return;
    }
    if (requestId === session.keepaliveRequestId) {
      this.#onKeepaliveAnswered(session);
      return;
    }
    const pending = session.pending.get(requestId);
    // An answer nobody waits for (late, or a second one) changes nothing.
    if (!pending) return;
    session.pending.delete(requestId);
    this.#timers.clearTimeout(pending.timer);
    if (frame.type === 'error') pending.reject(new ParleyError(frame.code, frame.message));
    else pending.resolve(frame);
  }

  /** Read through a method: TypeScript would narrow the field across an await. */
  #closed(): boolean {
    return this.#state === ConnectionState.Closed;
  }

  #setState(state: ConnectionState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
  }
}

/**
 * After a 429 at handshake, reconnect as if this many attempts had failed: with the default
 * backoff, waits of up to 8 s, then 16 s, then the 30 s cap, instead of starting at 0.5 s.
 */
const TOO_MANY_CONNECTIONS_ATTEMPT = 4;

/**
 * API Gateway ends every WebSocket connection after 2 hours, however busy
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-execution-service-websocket-limits-table.html).
 */
const GATEWAY_MAX_CONNECTION_MS = 2 * 60 * 60 * 1000;

/**
 * The HTTP status of a refused handshake, where the WebSocket says it: Node's `ws` names it
 * in its error ("Unexpected server response: 429"); browsers tell nothing, and there the
 * usual backoff applies.
 */
function handshakeStatusOf(event: unknown): number | undefined {
  const message =
    typeof event === 'object' && event !== null ? (event as { message?: unknown }).message : undefined;
  const match = typeof message === 'string' ? /Unexpected server response: (\d{3})/.exec(message) : null;
  return match ? Number(match[1]) : undefined;
}
