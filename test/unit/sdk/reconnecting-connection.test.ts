import { ConnectionState, ParleyError, ParleyErrorCode, type WebSocketConstructor } from '@parley/sdk';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Backoff } from '../../../sdk/src/backoff.js';
import { type ConnectionOptions, ReconnectingConnection } from '../../../sdk/src/connection.js';
import { cleanUpSdkTest, TrackedWebSocket } from './support/clients.js';
import { type FakeServer, startFakeServer } from './support/fake-server.js';
import { ManualTimers } from './support/manual-timers.js';

const connections = new Set<ReconnectingConnection>();

afterEach(async () => {
  for (const connection of connections) connection.close();
  connections.clear();
  await cleanUpSdkTest();
});

/** With random() = 0.5 each delay is half its cap: 50 ms for the first attempt, then 100, 200… */
const RECONNECT = { initialDelayMs: 100, maxDelayMs: 1_000, minUptimeMs: 5_000 };
const REQUEST_TIMEOUT_MS = 1_000;

/** A connection to the fake server whose timers and clock the test drives. */
function connectionTo(server: FakeServer, options: Partial<ConnectionOptions> = {}) {
  const timers = new ManualTimers();
  const clock = { now: 1_764_000_000_000 };
  const connection = new ReconnectingConnection({
    url: server.url,
    deviceId: 'phone',
    token: 'token-1',
    WebSocket: TrackedWebSocket as unknown as WebSocketConstructor,
    backoff: new Backoff(RECONNECT, () => 0.5, timers),
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    keepAliveMs: 0,
    now: () => clock.now,
    timers,
    ...options,
  });
  connections.add(connection);
  return { connection, timers, clock };
}

function reached(connection: ReconnectingConnection, state: ConnectionState): Promise<void> {
  return new Promise((resolve) => {
    if (connection.state === state) return resolve();
    const off = connection.on('state', (now) => {
      if (now !== state) return;
      off();
      resolve();
    });
  });
}

async function openConnection(server: FakeServer, options: Partial<ConnectionOptions> = {}) {
  const made = connectionTo(server, options);
  await made.connection.start(async () => {});
  const remote = await server.nextConnection();
  await reached(made.connection, ConnectionState.Open);
  return { ...made, remote };
}

describe('requests on the connection', () => {
  it('resolves each request with the answer that carries its requestId, whatever the order of the answers', async () => {
    const server = await startFakeServer();
    const { connection, remote } = await openConnection(server);

    const ping = connection.request({ action: 'ping' });
    const sync = connection.request({ action: 'sync', conversationId: 'dm:alice:bob', afterSeq: 0 });
    const pingFrame = await remote.nextFrame();
    const syncFrame = await remote.nextFrame();
    remote.answer(syncFrame, { type: 'history', messages: [], lastSeq: 0, hasMore: false, receipts: [] });
    remote.answer(pingFrame, { type: 'pong' });

    expect(pingFrame.requestId).toMatch(/^phone-\d+$/);
    expect(syncFrame.requestId).not.toBe(pingFrame.requestId);
    expect(await ping).toEqual({ type: 'pong', requestId: pingFrame.requestId });
    expect(await sync).toMatchObject({ type: 'history', requestId: syncFrame.requestId });
  });

  it('rejects a request with the code and message of its error answer', async () => {
    const server = await startFakeServer();
    const { connection, remote } = await openConnection(server);

    const request = connection.request({ action: 'send', to: 'bob', body: '' });
    const frame = await remote.nextFrame();
    remote.answer(frame, {
      type: 'error',
      code: 'bad_request',
      message: 'body: must be 1 to 4096 characters',
    });

    await expect(request).rejects.toMatchObject({
      name: 'ParleyError',
      code: ParleyErrorCode.BadRequest,
      message: 'body: must be 1 to 4096 characters',
    });
  });

  it('rejects a request with timeout after requestTimeoutMs, and drops its late answer, while events still come through', async () => {
    const server = await startFakeServer();
    const { connection, remote, timers } = await openConnection(server);
    const events = vi.fn();
    connection.on('frame', events);

    const request = connection.request({ action: 'ping' });
    const frame = await remote.nextFrame();
    expect(timers.waiting).toEqual([REQUEST_TIMEOUT_MS]);
    timers.fireAll();
    await expect(request).rejects.toMatchObject({
      code: ParleyErrorCode.Timeout,
      message: `no answer to ping within ${REQUEST_TIMEOUT_MS} ms`,
    });
    remote.answer(frame, { type: 'pong' });
    const presence = { type: 'presence', users: [] };
    const delivered = new Promise((resolve) => connection.on('frame', resolve));
    remote.send(presence);

    expect(await delivered).toEqual(presence);
    expect(events.mock.calls).toEqual([[presence]]);
  });

  it('rejects the requests waiting when the connection drops with connection_lost, and new ones at once until it is open again', async () => {
    const server = await startFakeServer();
    const { connection, remote, timers } = await openConnection(server);
    const waiting = connection.request({ action: 'ping' });
    await remote.nextFrame();

    remote.drop();

    await expect(waiting).rejects.toMatchObject({ code: ParleyErrorCode.ConnectionLost });
    await reached(connection, ConnectionState.Reconnecting);
    await expect(connection.request({ action: 'ping' })).rejects.toMatchObject({
      code: ParleyErrorCode.ConnectionLost,
      message: 'not connected',
    });
    // Only the reconnect waits: the request's timeout went with it.
    expect(timers.waiting).toEqual([50]);
  });

  it('sends a frame that gets no answer only while open', async () => {
    const server = await startFakeServer();
    const { connection, remote } = await openConnection(server);

    expect(connection.send({ action: 'typing', conversationId: 'dm:alice:bob', state: 'start' })).toBe(true);
    expect(await remote.nextFrame()).toEqual({
      action: 'typing',
      conversationId: 'dm:alice:bob',
      state: 'start',
    });
    connection.close();
    expect(connection.send({ action: 'typing', conversationId: 'dm:alice:bob', state: 'stop' })).toBe(false);
  });
});

describe('reconnecting', () => {
  it('asks the token provider before every attempt and waits a backoff delay drawn from its random source and timers', async () => {
    const server = await startFakeServer();
    let issued = 0;
    const token = vi.fn(async () => `token-${++issued}`);
    const { connection, remote: first, timers } = await openConnection(server, { token });

    first.drop();
    await reached(connection, ConnectionState.Reconnecting);
    expect(timers.waiting).toEqual([50]);
    timers.fireAll();
    const second = await server.nextConnection();
    await reached(connection, ConnectionState.Open);
    second.drop();
    await reached(connection, ConnectionState.Reconnecting);

    expect(timers.waiting).toEqual([100]);
    expect([first.token, second.token]).toEqual(['token-1', 'token-2']);
    expect(second.deviceId).toBe('phone');
    expect(token).toHaveBeenCalledTimes(2);
  });

  it('counts the attempts from zero again once a connection stayed open minUptimeMs', async () => {
    const server = await startFakeServer();
    const { connection, remote: first, timers, clock } = await openConnection(server);
    first.drop();
    await reached(connection, ConnectionState.Reconnecting);
    timers.fireAll();
    const second = await server.nextConnection();
    await reached(connection, ConnectionState.Open);

    clock.now += RECONNECT.minUptimeMs;
    second.drop();
    await reached(connection, ConnectionState.Reconnecting);

    expect(timers.requested).toEqual([50, 50]);
  });

  it('reports a handshake refused with 429 as rate_limited and waits longer before the next attempt', async () => {
    const server = await startFakeServer();
    server.refusing = true;
    server.refusalStatus = 429;
    const { connection, timers } = connectionTo(server);
    const errors: unknown[] = [];
    connection.on('error', (error) => errors.push(error));

    await connection.start(async () => {});
    await reached(connection, ConnectionState.Reconnecting);

    expect(errors).toEqual([expect.objectContaining({ code: ParleyErrorCode.RateLimited })]);
    expect((errors[0] as ParleyError).message).toContain('HTTP 429');
    // As if four attempts had failed: half of min(100 × 2⁴, 1000) ms, not the first attempt's 50.
    expect(timers.waiting).toEqual([500]);
  });

  it('reconnects after a handshake refused otherwise with the usual backoff, reporting nothing', async () => {
    const server = await startFakeServer();
    server.refusing = true;
    const { connection, timers } = connectionTo(server);
    const errors: unknown[] = [];
    connection.on('error', (error) => errors.push(error));

    await connection.start(async () => {});
    await reached(connection, ConnectionState.Reconnecting);

    expect(errors).toEqual([]);
    expect(timers.waiting).toEqual([50]);
  });

  it('reports a token provider that fails and tries again after the backoff', async () => {
    const server = await startFakeServer();
    const failure = new Error('the identity service is down');
    const token = vi.fn<() => Promise<string>>().mockRejectedValueOnce(failure).mockResolvedValue('token-2');
    const { connection, timers } = connectionTo(server, { token });
    const errors: unknown[] = [];
    connection.on('error', (error) => errors.push(error));

    await connection.start(async () => {});
    await reached(connection, ConnectionState.Reconnecting);
    expect(errors).toEqual([failure]);
    expect(server.handshakes).toBe(0);
    timers.fireAll();

    expect((await server.nextConnection()).token).toBe('token-2');
  });

  it('stays idle when what it waits for before the first attempt fails, and can be started again', async () => {
    const server = await startFakeServer();
    const { connection } = connectionTo(server);
    const states: ConnectionState[] = [];
    connection.on('state', (state) => states.push(state));

    await expect(connection.start(() => Promise.reject(new Error('storage is broken')))).rejects.toThrow(
      'storage is broken',
    );
    expect(connection.state).toBe(ConnectionState.Idle);
    await connection.start(async () => {});
    await server.nextConnection();
    await reached(connection, ConnectionState.Open);

    expect(states).toEqual([
      ConnectionState.Connecting,
      ConnectionState.Idle,
      ConnectionState.Connecting,
      ConnectionState.Open,
    ]);
  });

  it('on close() rejects the requests waiting with closed and cancels the reconnect wait', async () => {
    const server = await startFakeServer();
    const { connection, remote, timers } = await openConnection(server);
    const waiting = connection.request({ action: 'ping' });
    await remote.nextFrame();

    connection.close();

    const error = await waiting.catch((rejected: unknown) => rejected);
    expect(error).toBeInstanceOf(ParleyError);
    expect(error).toMatchObject({ code: ParleyErrorCode.Closed });
    expect(timers.waiting).toEqual([]);
    await remote.closed;
    expect(connection.state).toBe(ConnectionState.Closed);
  });
});
