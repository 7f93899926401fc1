/**
 * Keeps one connection alive: API Gateway closes a WebSocket connection that has been idle
 * for 10 minutes ("Idle Connection Timeout", a quota that cannot be raised:
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-execution-service-websocket-limits-table.html).
 * AWS does not say which direction counts; services built on it report that traffic either
 * way resets it (https://hotsock.io/docs/connections/keep-alive). The client cannot make the
 * server send, so it counts only its own frames: once it has sent nothing for the interval,
 * it sends the protocol's `ping`. The pong also tells it the connection still works: no pong
 * in time means the connection is dead, even if the socket has not noticed yet.
 */

/**
 * The keep-alive interval of a client: 8 minutes, the longest that stays inside API
 * Gateway's 10-minute idle limit when a background browser tab fires the timer up to a
 * minute late (Chrome's intensive wake-up throttling:
 * https://chromestatus.com/feature/4718288976216064), with a minute to spare. The ping
 * itself resets the idle time, so the pong's wait does not count against it. Every ping
 * and pong is billed as a message, so fewer of them is cheaper; a dead connection is
 * still noticed within 8 minutes and the request timeout (docs/adr/0009-keep-alive.md).
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
 * The keep-alive of one open connection: after `intervalMs` with no frame sent, a ping; a ping
 * with no answer ends the connection. Made when the connection opens, stopped when it closes.
 *
 * @example
 * const keepAlive = new KeepAlive(300_000, connection);
 * keepAlive.start();
 * socket.send(frame);
 * keepAlive.sent(); // the idle wait counts from here
 * keepAlive.stop(); // on close
 */
export class KeepAlive {
  readonly #intervalMs: number;
  readonly #connection: KeepAliveConnection;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #pinging = false;

  /** `intervalMs` 0 makes a keep-alive that never pings. */
  constructor(intervalMs: number, connection: KeepAliveConnection) {
    this.#intervalMs = intervalMs;
    this.#connection = connection;
  }

  /** The connection opened: the idle wait starts. */
  start(): void {
    if (this.#intervalMs === 0) return;
    this.#running = true;
    this.#restart();
  }

  /** A frame went out (a ping too): the idle wait starts again. */
  sent(): void {
    if (this.#running) this.#restart();
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
