/**
 * One open WebSocket connection: its caller, its idle and duration limits, sending to it and
 * closing it as API Gateway does.
 */
import { type RawData, WebSocket } from 'ws';
import { DelayLine } from '../latency/delay-line.js';
import { type Caller, disconnectReasonOf } from './event-shapes.js';
import { type GatewayLog, logSocketError } from './log.js';

/** How long a close waits for the client's close frame before it cuts the connection off. */
export const CLOSE_HANDSHAKE_MS = 1_000;

export interface ConnectionLimits {
  /** API Gateway closes a connection idle this long (code 1001). */
  idleTimeoutMs: number;
  /** API Gateway closes any connection this old (code 1001). */
  maxConnectionMs: number;
}

/** How long a frame takes between the device and the gateway, each way; none when absent. */
export interface ConnectionTransit {
  inbound(): number;
  outbound(): number;
}

/** What the gateway does when a connection receives a frame and when it closes. */
export interface ConnectionEvents {
  frame(connection: Connection, data: RawData, isBinary: boolean): void;
  /** The socket has closed; settles once `$disconnect` has run. */
  closed(connection: Connection, statusCode: number, reason: string): Promise<void>;
}

export class Connection {
  readonly caller: Caller;
  lastActiveAt = Date.now();
  /** Set when the gateway closes the connection, to report in `$disconnect`. */
  closing: { code: number; reason: string } | undefined;
  /** Settles once `$disconnect` has run. */
  readonly disconnected: Promise<void>;
  readonly #socket: WebSocket;
  readonly #idleTimeoutMs: number;
  #idleTimer: NodeJS.Timeout | undefined;
  readonly #maxTimer: NodeJS.Timeout;
  #terminateTimer: NodeJS.Timeout | undefined;
  readonly #transit: ConnectionTransit | undefined;
  readonly #inbound = new DelayLine();
  readonly #outbound = new DelayLine();

  constructor(
    socket: WebSocket,
    caller: Caller,
    limits: ConnectionLimits,
    events: ConnectionEvents,
    log: GatewayLog,
    transit?: ConnectionTransit,
  ) {
    this.caller = caller;
    this.#transit = transit;
    this.#socket = socket;
    this.#idleTimeoutMs = limits.idleTimeoutMs;
    this.#maxTimer = setTimeout(() => this.close(1001, 'Going away'), limits.maxConnectionMs);
    this.#resetIdleTimer();
    let markDisconnected: () => void = () => {};
    this.disconnected = new Promise<void>((resolve) => {
      markDisconnected = resolve;
    });

    socket.on('error', (error) => logSocketError(log, 'connection', error, { connectionId: this.id }));
    socket.on('ping', () => this.#touch());
    socket.on('pong', () => this.#touch());
    socket.on('message', (data, isBinary) => {
      this.#touch();
      // The frame reaches the gateway once it has crossed the modelled network, in order.
      this.#inbound.push(this.#transit?.inbound() ?? 0, () => events.frame(this, data, isBinary));
    });
    socket.once('close', (code, reasonBuffer) => {
      this.#clearTimers();
      // Frames still crossing the network are lost with the connection.
      this.#inbound.clear();
      this.#outbound.clear();
      const statusCode = this.closing?.code ?? code;
      const reason = this.closing?.reason ?? disconnectReasonOf(code, reasonBuffer.toString());
      void events.closed(this, statusCode, reason).finally(markDisconnected);
    });
  }

  get id(): string {
    return this.caller.connectionId;
  }

  /** Open and not being closed by the gateway. */
  get isOpen(): boolean {
    return !this.closing && this.#socket.readyState === WebSocket.OPEN;
  }

  /** Sends one text frame; false when the socket is no longer open. */
  send(text: string | Buffer): boolean {
    if (this.#socket.readyState !== WebSocket.OPEN) return false;
    // A frame the server sends keeps the connection from idling out too, as services built
    // on API Gateway report (https://hotsock.io/docs/connections/keep-alive; AWS does not say).
    this.#resetIdleTimer();
    this.#outbound.push(this.#transit?.outbound() ?? 0, () => {
      if (this.#socket.readyState === WebSocket.OPEN) this.#socket.send(text, { binary: false });
    });
    return true;
  }

  /** Closes with `code`, which `$disconnect` reports; a second close changes nothing. */
  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = { code, reason };
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#maxTimer);
    this.#socket.close(code, reason);
    // A client that never answers the close frame is cut off, as API Gateway does.
    this.#terminateTimer = setTimeout(() => this.#socket.terminate(), CLOSE_HANDSHAKE_MS);
  }

  #touch(): void {
    this.lastActiveAt = Date.now();
    this.#resetIdleTimer();
  }

  #resetIdleTimer(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.close(1001, 'Going away'), this.#idleTimeoutMs);
  }

  #clearTimers(): void {
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#maxTimer);
    clearTimeout(this.#terminateTimer);
  }
}
