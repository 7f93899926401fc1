/**
 * Keeps one connection alive: API Gateway closes a WebSocket connection that has been idle
 * for 10 minutes ("Idle Connection Timeout", a quota that cannot be raised:
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-execution-service-websocket-limits-table.html).
 * AWS does not say which direction counts; a service built on it keeps idle connections
 * open with frames the server sends alone (https://hotsock.io/docs/connections/keep-alive).
 * So a frame either way restarts the idle wait: a device that receives often never pings,
 * and a ping goes out only once nothing has crossed for the interval. Should the gateway
 * count only the client's frames after all, it closes such a connection about the idle
 * limit after the client's last own frame; the client sees that (`outlivedOwnFrames` at the
 * close) and from then on counts its own frames only (docs/adr/0009-keep-alive.md). A frame
 * received also tells it the connection works; so does a pong: no pong in time means the
 * connection is dead, even if the socket has not noticed yet.
 */

/**
 * The keep-alive interval of a client: 8 minutes, the longest that stays inside API
 * Gateway's 10-minute idle limit when a background browser tab fires the timer up to a
 * minute late (Chrome's intensive wake-up throttling:
 * https://chromestatus.com/feature/4718288976216064), with a minute to spare. The ping
 * itself resets the idle time, so the pong's wait does not count against it. Every ping
 * and pong is billed as a message, so fewer of them is cheaper; a dead connection is
 * still noticed within 8 minutes of silence and the request timeout
 * (docs/adr/0009-keep-alive.md).
 *
 * @example
 * new ParleyClient({ url, token, deviceId, keepAliveMs: DEFAULT_KEEP_ALIVE_MS / 2 });
 */
export const DEFAULT_KEEP_ALIVE_MS = 8 * 60 * 1000;

/**
 * How a ping ended.
 *
 * @example
 * const outcome: PingOutcome = answered ? 'answered' : 'no-answer';
 */
export type PingOutcome =
  /** Something answered: the connection works. */
  | 'answered'
  /** Nothing answered within the request timeout. */
  | 'no-answer'
  /** The connection closed meanwhile; closing decides what comes next. */
  | 'closed';

/**
 * What the keep-alive needs of its connection.
 *
 * @example
 * const connection: KeepAliveConnection = { ping: () => sendPing(socket), dead: () => socket.close() };
 */
export interface KeepAliveConnection {
  /** Sends `ping` and resolves with how it ended. */
  ping(): Promise<PingOutcome>;
  /** No pong came: the connection is dead; close it and reconnect. */
  dead(): void;
}

/**
 * Whether frames from the server keep a connection alive: a fact about the gateway, so
 * one answer serves every connection of a client. It starts true and turns false for good
 * once a connection was closed for idleness while it received (see `KeepAlive`).
 *
 * @example
 * const gateway: IdleCounting = { countsReceived: true };
 */
export interface IdleCounting {
  countsReceived: boolean;
}

/**
 * The keep-alive of one open connection: after `intervalMs` with no frame either way (with
 * no frame sent, once `counting.countsReceived` is false), a ping; a ping with no answer
 * ends the connection. Made when the connection opens, stopped when it closes.
 *
 * @example
 * const keepAlive = new KeepAlive(300_000, connection, { now: Date.now, counting: { countsReceived: true } });
 * keepAlive.start();
 * socket.send(frame);
 * keepAlive.sent(); // the idle wait counts from here
 * keepAlive.received(); // and from here, while the gateway counts frames it sends
 * keepAlive.stop(); // on close
 */
export class KeepAlive {
  readonly #intervalMs: number;
  readonly #connection: KeepAliveConnection;
  readonly #now: () => number;
  readonly #counting: IdleCounting;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #pinging = false;
  #lastSentAt = 0;

  /** `intervalMs` 0 makes a keep-alive that never pings. */
  constructor(
    intervalMs: number,
    connection: KeepAliveConnection,
    options: { now: () => number; counting: IdleCounting },
  ) {
    this.#intervalMs = intervalMs;
    this.#connection = connection;
    this.#now = options.now;
    this.#counting = options.counting;
  }

  /** The connection opened: the idle wait starts. */
  start(): void {
    if (this.#intervalMs === 0) return;
    this.#running = true;
    this.#lastSentAt = this.#now();
    this.#restart();
  }

  /** A frame went out (a ping too): the idle wait starts again. */
  sent(): void {
    if (!this.#running) return;
    this.#lastSentAt = this.#now();
    this.#restart();
  }

  /** A frame came in: the idle wait starts again, while the gateway counts the frames it sends. */
  received(): void {
    if (this.#running && this.#counting.countsReceived) this.#restart();
  }

  /**
   * True when the client has sent nothing for longer than the interval: only frames it
   * received kept the keep-alive from pinging. A gateway that closes the connection then
   * did not count them.
   */
  outlivedOwnFrames(): boolean {
    return this.#intervalMs > 0 && this.#lastSentAt > 0 && this.#now() - this.#lastSentAt > this.#intervalMs;
  }

  /** The connection closed: nothing more happens. */
  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #restart(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#idle(), this.#intervalMs);
  }

  #idle(): void {
    this.#timer = undefined;
    // A ping still waiting for its answer is enough; the wait starts again once it is answered.
    if (this.#pinging) return;
    this.#pinging = true;
    void this.#connection.ping().then((outcome) => {
      this.#pinging = false;
      if (!this.#running) return;
      if (outcome === 'no-answer') {
        this.stop();
        this.#connection.dead();
      } else if (outcome === 'answered' && !this.#timer) {
        this.#restart();
      }
    });
  }
}
