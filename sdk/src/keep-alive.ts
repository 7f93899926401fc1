/**
 * Keeps one connection alive: API Gateway closes a WebSocket connection that has been idle
 * for 10 minutes ("Idle Connection Timeout", a quota that cannot be raised:
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-execution-service-websocket-limits-table.html).
 * AWS does not say which direction counts; a service built on it keeps idle connections
 * open with frames the server sends alone (https://hotsock.io/docs/connections/keep-alive).
 * So a frame either way restarts the idle wait: a device that receives often sends no
 * keep-alive, and one goes out only once nothing has crossed for the interval. Should the
 * gateway count only the client's frames after all, it closes such a connection about the
 * idle limit after the client's last own frame; the client sees that (`outlivedOwnFrames`
 * at the close) and from then on counts its own frames only (docs/adr/0009-keep-alive.md).
 *
 * A keep-alive is the one-way `keepalive` (protocol 1.6, nothing answers it, half the
 * messages of a ping and its pong) while the connection has shown it works within two
 * intervals: a frame received, a pong. Past that it is an answered `ping`, and no pong in
 * time means the connection is dead, even if the socket has not noticed yet.
 */

/**
 * The keep-alive interval of a client: 8 minutes, the longest that stays inside API
 * Gateway's 10-minute idle limit when a background browser tab fires the timer up to a
 * minute late (Chrome's intensive wake-up throttling:
 * https://chromestatus.com/feature/4718288976216064), with a minute to spare. The ping
 * itself resets the idle time, so the pong's wait does not count against it. Every
 * keep-alive and pong is billed as a message, so fewer of them is cheaper; a dead
 * connection is still noticed within two intervals of silence (16 minutes) and the request
 * timeout, and at once by `ParleyClient.checkConnection()` (docs/adr/0009-keep-alive.md).
 *
 * @example
 * new ParleyClient({ url, token, deviceId, keepAliveMs: DEFAULT_KEEP_ALIVE_MS / 2 });
 */
export const DEFAULT_KEEP_ALIVE_MS = 8 * 60 * 1000;

/**
 * A keep-alive is `ping` once the connection has given no proof of life for two intervals:
 * measured as more than one and a half, since keep-alives come only at whole intervals.
 */
const PROOF_SLOTS = 1.5;

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
 * const connection: KeepAliveConnection = {
 *   sendKeepalive: () => socket.send('{"action":"keepalive"}'),
 *   ping: () => sendPing(socket),
 *   dead: () => socket.close(),
 * };
 */
export interface KeepAliveConnection {
  /** Sends the one-way `keepalive` (protocol 1.6), which nothing answers. */
  sendKeepalive(): void;
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
 * Whether the server takes the one-way `keepalive` (protocol 1.6): a fact about the server,
 * so one answer serves every connection of a client. It starts true and turns false for
 * good once a server answers a `keepalive`, as one older than 1.6 does (an unknown action):
 * from then on every keep-alive is an answered `ping`.
 *
 * @example
 * const server: KeepaliveSupport = { oneWay: true };
 */
export interface KeepaliveSupport {
  oneWay: boolean;
}

/**
 * The keep-alive of one open connection. After `intervalMs` with no frame either way (with
 * no frame sent, once `counting.countsReceived` is false) it sends a keep-alive: the
 * one-way `keepalive`, which API Gateway bills as one message and answers with nothing,
 * while the connection has shown it works (a frame received, a pong) within the last two
 * intervals; an answered `ping` once it has not. So in a long silence the two alternate,
 * and a ping with no answer ends the connection. Made when the connection opens, stopped
 * when it closes; `check()` pings at once.
 *
 * @example
 * const keepAlive = new KeepAlive(300_000, connection, {
 *   now: Date.now,
 *   counting: { countsReceived: true },
 *   support: { oneWay: true },
 * });
 * keepAlive.start();
 * socket.send(frame);
 * keepAlive.sent(); // the idle wait counts from here
 * keepAlive.received(); // and from here, while the gateway counts frames it sends
 * const alive = await keepAlive.check(); // the app came back to the foreground
 * keepAlive.stop(); // on close
 */
export class KeepAlive {
  readonly #intervalMs: number;
  readonly #connection: KeepAliveConnection;
  readonly #now: () => number;
  readonly #counting: IdleCounting;
  readonly #support: KeepaliveSupport;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  /** The ping waiting for its answer, whether the keep-alive or `check()` sent it. */
  #pingInFlight: Promise<boolean> | undefined;
  #lastSentAt = 0;
  /** When the connection last showed it works: it opened, a frame came in, a ping was answered. */
  #lastProofAt = 0;

  /** `intervalMs` 0 makes a keep-alive that never sends anything by itself. */
  constructor(
    intervalMs: number,
    connection: KeepAliveConnection,
    options: { now: () => number; counting: IdleCounting; support: KeepaliveSupport },
  ) {
    this.#intervalMs = intervalMs;
    this.#connection = connection;
    this.#now = options.now;
    this.#counting = options.counting;
    this.#support = options.support;
  }

  /** The connection opened: the idle wait starts. */
  start(): void {
    this.#running = true;
    this.#lastSentAt = this.#now();
    this.#lastProofAt = this.#lastSentAt;
    this.#restart();
  }

  /** A frame went out (a keep-alive too): the idle wait starts again. */
  sent(): void {
    if (!this.#running) return;
    this.#lastSentAt = this.#now();
    this.#restart();
  }

  /**
   * A frame came in: the connection works, and the idle wait starts again while the
   * gateway counts the frames it sends.
   */
  received(): void {
    if (!this.#running) return;
    this.#lastProofAt = this.#now();
    if (this.#counting.countsReceived) this.#restart();
  }

  /**
   * True when the client has sent nothing for longer than the interval: only frames it
   * received kept the keep-alive from sending. A gateway that closes the connection then
   * did not count them.
   */
  outlivedOwnFrames(): boolean {
    return this.#intervalMs > 0 && this.#lastSentAt > 0 && this.#now() - this.#lastSentAt > this.#intervalMs;
  }

  /**
   * Pings now (or joins the ping already waiting) and resolves with whether the connection
   * works: false, and the connection ended, when no answer came in time; false when it
   * closed meanwhile.
   */
  check(): Promise<boolean> {
    if (!this.#running) return Promise.resolve(false);
    this.#pingInFlight ??= this.#ping().finally(() => {
      this.#pingInFlight = undefined;
    });
    return this.#pingInFlight;
  }

  /** The connection closed: nothing more happens. */
  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #restart(): void {
    clearTimeout(this.#timer);
    this.#timer = this.#intervalMs === 0 ? undefined : setTimeout(() => this.#idle(), this.#intervalMs);
  }

  #idle(): void {
    this.#timer = undefined;
    // A ping still waiting for its answer is enough; the wait starts again once it is answered.
    if (this.#pingInFlight) return;
    // Keep-alives fire an interval apart, so "no proof for two intervals" is decided at the
    // slot: half an interval of slack keeps a pong that came a round trip after its ping,
    // or a timer that fires a moment early, from costing a second keepalive in a row.
    const provenLately = this.#now() - this.#lastProofAt < PROOF_SLOTS * this.#intervalMs;
    if (this.#support.oneWay && provenLately) {
      this.#connection.sendKeepalive();
      // Sending restarts the wait through `sent()`; this covers a send that went nowhere.
      if (!this.#timer && this.#running) this.#restart();
      return;
    }
    void this.check();
  }

  async #ping(): Promise<boolean> {
    const outcome = await this.#connection.ping();
    if (!this.#running) return false;
    if (outcome === 'no-answer') {
      this.stop();
      this.#connection.dead();
      return false;
    }
    if (outcome === 'closed') return false;
    this.#lastProofAt = this.#now();
    if (!this.#timer) this.#restart();
    return true;
  }
}
