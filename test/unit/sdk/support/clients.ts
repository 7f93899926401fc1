/**
 * Clients for the SDK's unit tests: a `ParleyClient` wired to a fake server with small
 * reconnect delays, its sockets tracked so that `closeClients()` in `afterEach` leaves none
 * open, and ways to wait for what a client does without sleeping.
 */

import {
  ConnectionState,
  conversationIdFor,
  ParleyClient,
  type ParleyClientEvents,
  type ParleyClientOptions,
  type WebSocketConstructor,
} from '@parley/sdk';
import { expect, vi } from 'vitest';
import WebSocket from 'ws';
import { mintToken } from '../../../../lambdas/domain/tokens.js';
import { type ClientFrame, closeFakeServers, type FakeConnection, type FakeServer } from './fake-server.js';
import { conversationsPage } from './frames.js';

/** Any secret: the fake server does not verify tokens. */
export const SECRET = 'sdk-unit-test-secret';
export const ALICE = 'alice';
export const BOB = 'bob';
export const CAROL = 'carol';
export const WITH_BOB = conversationIdFor(ALICE, BOB);
export const WITH_CAROL = conversationIdFor(ALICE, CAROL);

export const RECONNECT = { initialDelayMs: 20, maxDelayMs: 100, minUptimeMs: 1_000 } as const;

/** The `ws` WebSocket, remembering every instance so that none outlives its test. */
export class TrackedWebSocket extends WebSocket {
  static readonly live = new Set<TrackedWebSocket>();
  static opened = 0;
  readonly closed: Promise<void>;

  constructor(url: string) {
    super(url);
    TrackedWebSocket.live.add(this);
    this.once('open', () => {
      TrackedWebSocket.opened += 1;
    });
    this.closed = new Promise((resolve) =>
      this.once('close', () => {
        TrackedWebSocket.live.delete(this);
        resolve();
      }),
    );
  }
}

/** How many of the clients' sockets ever completed their handshake, in any test so far. */
export function openedSocketCount(): number {
  return TrackedWebSocket.opened;
}

const clients = new Set<ParleyClient>();

export type TestClientOptions = Partial<ParleyClientOptions> & {
  /** The token's `sub`; default alice. Ignored when `token` is given. */
  userId?: string;
};

/**
 * A client of the fake server (not connected yet), closed by `closeClients()`.
 *
 * @example
 * const client = await createClient(server, { deviceId: 'laptop' });
 */
export async function createClient(
  server: FakeServer | string,
  options: TestClientOptions = {},
): Promise<ParleyClient> {
  const { userId = ALICE, ...rest } = options;
  const client = new ParleyClient({
    url: typeof server === 'string' ? server : server.url,
    token: await mintToken(userId, SECRET),
    deviceId: 'phone',
    WebSocket: TrackedWebSocket as unknown as WebSocketConstructor,
    reconnect: RECONNECT,
    random: () => 0.5,
    now: () => Date.now(),
    ...rest,
  });
  clients.add(client);
  return client;
}

/**
 * A client whose server is down (connected, and refused at every attempt): it keeps trying,
 * and queues what is written. Setting `server.refusing = false` lets it in.
 */
export async function offlineClient(
  server: FakeServer,
  options: TestClientOptions = {},
): Promise<ParleyClient> {
  server.refusing = true;
  const client = await createClient(server, options);
  await client.connect();
  return client;
}

/** Closes every client made by `createClient` and waits until their sockets are closed. */
export async function closeClients(): Promise<void> {
  await Promise.all([...clients].map((client) => client.close()));
  clients.clear();
}

/** Waits until every socket of the clients is closed (the fake server's close ends them). */
export async function clientSocketsClosed(): Promise<void> {
  await Promise.all([...TrackedWebSocket.live].map((socket) => socket.closed));
}

const ALL_EVENTS = [
  'state',
  'message',
  'conversations',
  'typing',
  'presence',
  'caughtUp',
  'block',
  'error',
] as const;

/** Resolves once `check()` holds, checking now and after every event of the client. */
export function until(client: ParleyClient, check: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const offs: Array<() => void> = [];
    const test = () => {
      if (!check()) return;
      for (const off of offs) off();
      resolve();
    };
    for (const event of ALL_EVENTS) offs.push(client.on(event, test));
    test();
  });
}

/** Resolves with the next `event` whose payload passes `predicate`. */
export function nextEvent<Name extends keyof ParleyClientEvents & string>(
  client: ParleyClient,
  event: Name,
  predicate: (payload: ParleyClientEvents[Name]) => boolean = () => true,
): Promise<ParleyClientEvents[Name]> {
  return new Promise((resolve) => {
    const off = client.on(event, (payload) => {
      if (!predicate(payload)) return;
      off();
      resolve(payload);
    });
  });
}

/** Every payload of `event` from now on. */
export function record<Name extends keyof ParleyClientEvents & string>(
  client: ParleyClient,
  event: Name,
): Array<ParleyClientEvents[Name]> {
  const payloads: Array<ParleyClientEvents[Name]> = [];
  client.on(event, (payload) => payloads.push(payload));
  return payloads;
}

export const reachedState = (client: ParleyClient, state: ConnectionState) =>
  until(client, () => client.state === state);

/**
 * Answers the catch-up that opens every connection (the `conversations` frame) and returns
 * that frame.
 */
export async function answerCatchUp(
  connection: FakeConnection,
  page: Partial<Parameters<typeof conversationsPage>[0]> = {},
): Promise<ClientFrame> {
  const frame = await connection.nextFrame();
  expect(frame).toMatchObject({ action: 'conversations' });
  connection.answer(frame, conversationsPage({ conversations: [], cursor: 'cursor-1', ...page }));
  return frame;
}

/**
 * A client that is connected to the server and through its first catch-up (an empty
 * list, cursor `cursor-1`), with the connection the server holds.
 */
export async function connectedClient(
  server: FakeServer,
  options: TestClientOptions = {},
): Promise<{ client: ParleyClient; connection: FakeConnection }> {
  const client = await createClient(server, options);
  await client.connect();
  const connection = await server.nextConnection();
  await answerCatchUp(connection);
  await processed(connection, client);
  expect(client.state).toBe(ConnectionState.Open);
  return { client, connection };
}

const SENTINEL = 'processed-sentinel';

/** Lets every promise chain the client started run to its end (one turn of the event loop). */
export function settled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Resolves once the client has handled every frame the server sent it so far: frames are
 * handled in order, so its `presence` event for a last presence frame means all before it
 * are done.
 */
export async function processed(connection: FakeConnection, client: ParleyClient): Promise<void> {
  const seen = nextEvent(client, 'presence', (users) => users.some((user) => user.userId === SENTINEL));
  connection.send({ type: 'presence', users: [{ userId: SENTINEL, online: false, lastSeen: null }] });
  await seen;
  await settled();
}

const BARRIER = 'barrier';

/**
 * The frames the client sent that the test has not taken yet, up to now: it makes the
 * client send typing frames of a conversation of its own, and takes every frame before them.
 */
export async function framesSentSoFar(
  connection: FakeConnection,
  client: ParleyClient,
): Promise<ClientFrame[]> {
  await settled();
  client.typing(BARRIER);
  client.stopTyping(BARRIER);
  const frames: ClientFrame[] = [];
  for (;;) {
    const frame = await connection.nextFrame();
    if (frame.action === 'typing' && frame.conversationId === BARRIER) {
      expect(frame.state).toBe('start');
      break;
    }
    frames.push(frame);
  }
  expect(await connection.nextFrame()).toEqual({ action: 'typing', conversationId: BARRIER, state: 'stop' });
  return frames;
}

/** Asserts that the client sent nothing the test has not taken yet. */
export async function expectNothingSent(connection: FakeConnection, client: ParleyClient): Promise<void> {
  expect(await framesSentSoFar(connection, client)).toEqual([]);
}

/**
 * Fakes the clock and `setTimeout` only (the sockets' I/O stays real), from now to the end
 * of the test.
 */
export function useFakeClock(): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
}

/**
 * For `afterEach`: closes every client and fake server, waits until every socket is closed,
 * and fails the test if it left a timer behind (under a fake clock, where they are counted).
 */
export async function cleanUpSdkTest(): Promise<void> {
  try {
    await closeClients();
    await closeFakeServers();
    await clientSocketsClosed();
    if (vi.isFakeTimers()) expect(vi.getTimerCount(), 'timers left behind').toBe(0);
  } finally {
    vi.useRealTimers();
  }
}
