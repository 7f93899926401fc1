/**
 * The SDK's keep-alives through the real gateway (protocol 1.6), on the stack as the sources
 * build it and as the template deploys it, with the limits made short: the gateway closes a
 * connection after 3 s without a frame (AWS: 10 minutes), the client sends a keep-alive
 * after 1.8 s without one (default: 8 minutes). Pings alone, every second keep-alive, would
 * leave 3.6 s gaps: only the one-way `keepalive` between them keeps the connection open.
 */

import { ConnectionState, ParleyClient, type WebSocketConstructor } from '@parley/sdk';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LOCAL_JWT_SECRET } from '../../lambdas/config.js';
import { mintToken } from '../../lambdas/domain/tokens.js';
import { uniqueId, useTestStack } from '../support/stack.js';

const IDLE_TIMEOUT_MS = 3_000;
const KEEP_ALIVE_MS = 1_800;
/** Long enough for a pong on a busy machine: a late one would end the connection. */
const REQUEST_TIMEOUT_MS = 2_000;
/** Pings answered, one every second keep-alive, while an idle client outlasts the idle limit several times. */
const PINGS = 3;

/**
 * The clients' WebSocket: it records the frames the client sends and receives, and on
 * `darken()` its path from the gateway dies: nothing comes in any more, not even a close,
 * while what the client sends still reaches the gateway (which so keeps the connection
 * open): only the client's own keep-alive can notice.
 */
class RecordingWebSocket extends WebSocket {
  static readonly sockets: RecordingWebSocket[] = [];
  readonly sent: Array<Record<string, unknown>> = [];
  readonly received: Array<Record<string, unknown>> = [];
  readonly closeCodes: number[] = [];
  #dark = false;

  constructor(url: string) {
    super(url);
    RecordingWebSocket.sockets.push(this);
    // The SDK listens through these handlers: a dark path delivers no frame and no close.
    for (const name of ['onmessage', 'onclose'] as const) {
      const inherited = Object.getOwnPropertyDescriptor(WebSocket.prototype, name);
      Object.defineProperty(this, name, {
        get: () => inherited?.get?.call(this),
        set: (handler: ((event: unknown) => void) | null) =>
          inherited?.set?.call(this, handler && ((event: unknown) => !this.#dark && handler(event))),
      });
    }
    this.addEventListener('message', ({ data }) => {
      if (!this.#dark) this.received.push(JSON.parse(String(data)) as Record<string, unknown>);
    });
  }

  darken(): void {
    this.#dark = true;
  }

  override send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
    super.send(data);
  }

  override close(code?: number, reason?: string): void {
    if (code !== undefined) this.closeCodes.push(code);
    super.close(code, reason);
  }
}

const { stack } = useTestStack({ idleTimeoutMs: IDLE_TIMEOUT_MS });

const clients: ParleyClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  RecordingWebSocket.sockets.length = 0;
});

// The first connection to a deployed stack starts its functions' workers, which on a busy
// machine can take longer than a test may: that belongs to the setup, not to the keep-alive.
beforeAll(async () => {
  await idleClient();
  await Promise.all(clients.splice(0).map((client) => client.close()));
  RecordingWebSocket.sockets.length = 0;
});

/** A connected client through its first catch-up, and its socket. */
async function idleClient(): Promise<{ client: ParleyClient; socket: RecordingWebSocket }> {
  const client = new ParleyClient({
    url: stack().url,
    token: await mintToken(uniqueId('idle'), LOCAL_JWT_SECRET),
    deviceId: 'phone',
    WebSocket: RecordingWebSocket as unknown as WebSocketConstructor,
    keepAliveMs: KEEP_ALIVE_MS,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
  });
  clients.push(client);
  const caughtUp = new Promise((resolve) => client.on('caughtUp', resolve));
  await client.connect();
  await caughtUp;
  const [socket] = RecordingWebSocket.sockets;
  if (!socket) throw new Error('the client opened no socket');
  return { client, socket };
}

const isKeepAlive = (frame: Record<string, unknown>) =>
  frame.action === 'keepalive' || frame.action === 'ping';

/** Resolves once the socket has received `count` pongs, or the client's state changes. */
function pongsOrStateChange(client: ParleyClient, socket: RecordingWebSocket, count: number) {
  return new Promise<void>((resolve) => {
    client.on('state', () => resolve());
    socket.addEventListener('message', () => {
      if (socket.received.filter((frame) => frame.type === 'pong').length >= count) resolve();
    });
  });
}

describe('keepalive through the gateway', () => {
  it('keeps an idle client connected across several idle limits, and nothing answers it', async () => {
    const { client, socket } = await idleClient();
    const states: ConnectionState[] = [];
    client.on('state', (state) => states.push(state));
    const sentBefore = socket.sent.length;

    await pongsOrStateChange(client, socket, PINGS);

    const keepAlives = socket.sent.slice(sentBefore).filter(isKeepAlive);
    expect(keepAlives.map((frame) => frame.action)).toEqual([
      'keepalive',
      'ping',
      'keepalive',
      'ping',
      'keepalive',
      'ping',
    ]);
    const keepaliveIds = new Set(
      socket.sent.filter((frame) => frame.action === 'keepalive').map((f) => f.requestId),
    );
    expect(socket.received.filter((frame) => keepaliveIds.has(frame.requestId))).toEqual([]);
    expect(socket.received.filter((frame) => frame.type === 'pong')).toHaveLength(PINGS);
    expect(states).toEqual([]);
    expect(client.state).toBe(ConnectionState.Open);
  });

  it('notices a dead connection at the unanswered ping that follows a keepalive, and reconnects', async () => {
    const { client, socket } = await idleClient();
    const reopened = new Promise<void>((resolve) =>
      client.on('state', (state) => state === ConnectionState.Open && resolve()),
    );
    const sentBefore = socket.sent.length;

    socket.darken();
    await reopened;

    expect(socket.sent.slice(sentBefore).map((frame) => frame.action)).toEqual(['keepalive', 'ping']);
    // Closed by the client, for no pong (ws closes again with the code the gateway echoes).
    expect(socket.closeCodes[0]).toBe(4000);
    expect(RecordingWebSocket.sockets).toHaveLength(2);
  });
});
