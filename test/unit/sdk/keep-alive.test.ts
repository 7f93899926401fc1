import { ConnectionState, DEFAULT_KEEP_ALIVE_MS, type ParleyClient } from '@parley/sdk';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  answerCatchUp,
  BOB,
  cleanUpSdkTest,
  connectedClient,
  createClient,
  expectNothingSent,
  framesSentSoFar,
  nextEvent,
  processed,
  RECONNECT,
  reachedState,
  record,
  useFakeClock,
} from './support/clients.js';
import { type ClientFrame, type FakeConnection, startFakeServer } from './support/fake-server.js';
import { errorAnswer, sentAnswer } from './support/frames.js';

afterEach(cleanUpSdkTest);
beforeEach(useFakeClock);

/** Shorter than the default, so that a test reads in seconds; the default has its own test. */
const KEEP_ALIVE_MS = 60_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** How long after its ping a late pong comes. */
const ROUND_TRIP_MS = 1_000;

async function nextPing(connection: FakeConnection) {
  const frame = await connection.nextFrame();
  expect(frame).toEqual({ action: 'ping', requestId: expect.any(String) });
  return frame;
}

/** The one-way keep-alive of protocol 1.6: its requestId is there only for an older server's refusal. */
async function nextKeepalive(connection: FakeConnection) {
  const frame = await connection.nextFrame();
  expect(frame).toEqual({ action: 'keepalive', requestId: expect.any(String) });
  return frame;
}

/** What a server older than 1.6 answers `keepalive` with: its `$default` route's refusal. */
function unknownActionAnswer(keepalive: ClientFrame) {
  return errorAnswer(
    keepalive,
    'bad_request',
    'action: unknown action "keepalive"; expected one of send, ack, sync, conversations, typing, subscribePresence, ping',
  );
}

/** Two intervals with no frame either way: the keepalive, then the ping, which it returns. */
async function twoSilentIntervals(connection: FakeConnection) {
  await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS);
  await nextKeepalive(connection);
  await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS);
  return nextPing(connection);
}

describe('the keep-alive', () => {
  it('sends keepalive once the default 8 minutes have passed without a frame, and not before', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    expect(DEFAULT_KEEP_ALIVE_MS).toBe(8 * 60_000);

    // A keep-alive sent meanwhile would come before the typing frames this check sends.
    await vi.advanceTimersByTimeAsync(DEFAULT_KEEP_ALIVE_MS - 1);
    expect(await framesSentSoFar(connection, client)).toEqual([]);
    // The check's frames restart the wait; a frame from the server keeps the connection proven.
    await processed(connection, client);
    await vi.advanceTimersByTimeAsync(DEFAULT_KEEP_ALIVE_MS);

    await nextKeepalive(connection);
  });

  it('with the defaults, notices a dead connection 16 minutes and the 10 s request timeout after its last frame', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    await vi.advanceTimersByTimeAsync(DEFAULT_KEEP_ALIVE_MS);
    await nextKeepalive(connection);
    await vi.advanceTimersByTimeAsync(DEFAULT_KEEP_ALIVE_MS);
    await nextPing(connection);
    await vi.advanceTimersByTimeAsync(10_000 - 1);
    expect(client.state).toBe(ConnectionState.Open);
    await vi.advanceTimersByTimeAsync(1);

    await reachedState(client, ConnectionState.Reconnecting);
    await connection.closed;
    expect(connection.closeCode).toBe(4000);
  });

  it('counts the idle time again from every frame the client sends', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server, { keepAliveMs: KEEP_ALIVE_MS });

    // A message at half time: at the full time since the catch-up nothing goes out.
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS / 2);
    await client.send({ to: BOB }, 'still here');
    const send = await connection.nextFrame();
    connection.answer(send, sentAnswer(send, 1));
    await processed(connection, client);
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS / 2);
    // The typing frames of this check are frames too: the wait starts again from them.
    expect(await framesSentSoFar(connection, client)).toEqual([]);
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS - 1);
    expect(await framesSentSoFar(connection, client)).toEqual([]);

    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS);

    // Frames went out, but none came in for two intervals: the keep-alive asks for an answer.
    await nextPing(connection);
  });

  it('sends nothing while idle when keepAliveMs is 0', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server, { keepAliveMs: 0 });

    await vi.advanceTimersByTimeAsync(60 * 60_000);

    await expectNothingSent(connection, client);
    expect(client.state).toBe(ConnectionState.Open);
  });

  it('alternates in a long silence: keepalive, then an answered ping, then keepalive again', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server, {
      keepAliveMs: KEEP_ALIVE_MS,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    });
    const ping = await twoSilentIntervals(connection);

    connection.answer(ping, { type: 'pong' });
    await vi.advanceTimersByTimeAsync(REQUEST_TIMEOUT_MS);
    expect(client.state).toBe(ConnectionState.Open);
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS - REQUEST_TIMEOUT_MS);
    await nextKeepalive(connection);
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS);

    await nextPing(connection);
    expect(server.handshakes).toBe(1);
    expect(connection.isOpen).toBe(true);
    expect(connection.unreadCount).toBe(0);
  });

  it('sends keepalive again, not a ping, when a frame came in since the last keep-alive', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server, { keepAliveMs: KEEP_ALIVE_MS });
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS);
    await nextKeepalive(connection);

    // A frame from the server shows the connection works (and restarts the idle wait).
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS / 2);
    await processed(connection, client);
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS);

    await nextKeepalive(connection);
    expect(connection.unreadCount).toBe(0);
  });

  it('takes an error answer to a ping as a sign of life', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server, {
      keepAliveMs: KEEP_ALIVE_MS,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    });
    const errors = record(client, 'error');
    const ping = await twoSilentIntervals(connection);

    connection.answer(ping, errorAnswer(ping, 'rate_limited'));
    await processed(connection, client);
    await vi.advanceTimersByTimeAsync(REQUEST_TIMEOUT_MS);

    expect(client.state).toBe(ConnectionState.Open);
    expect(connection.isOpen).toBe(true);
    expect(errors).toEqual([]);
  });

  it('closes a connection whose ping has no answer within requestTimeoutMs and reconnects with the backoff', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server, {
      keepAliveMs: KEEP_ALIVE_MS,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    });
    const states = record(client, 'state');
    await twoSilentIntervals(connection);

    await vi.advanceTimersByTimeAsync(REQUEST_TIMEOUT_MS - 1);
    expect(client.state).toBe(ConnectionState.Open);
    await vi.advanceTimersByTimeAsync(1);
    await reachedState(client, ConnectionState.Reconnecting);
    await connection.closed;
    await vi.advanceTimersByTimeAsync(RECONNECT.maxDelayMs);
    const next = await server.nextConnection();
    await answerCatchUp(next);
    await reachedState(client, ConnectionState.Open);
    // The catch-up's answer restarts the idle wait when it arrives: let it arrive first.
    await processed(next, client);

    expect(connection.closeCode).toBe(4000);
    expect(states).toEqual([ConnectionState.Reconnecting, ConnectionState.Connecting, ConnectionState.Open]);
    // The new connection has a keep-alive of its own.
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS);
    await nextKeepalive(next);
    expect(server.handshakes).toBe(2);
  });

  it('does not send a second ping while the first waits for its answer', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server, {
      keepAliveMs: 1_000,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    });
    await vi.advanceTimersByTimeAsync(1_000);
    await nextKeepalive(connection);
    await vi.advanceTimersByTimeAsync(1_000);
    const ping = await nextPing(connection);

    await vi.advanceTimersByTimeAsync(2_500);
    expect(await framesSentSoFar(connection, client)).toEqual([]);
    connection.answer(ping, { type: 'pong' });
    await processed(connection, client);
    await vi.advanceTimersByTimeAsync(1_000);

    await nextKeepalive(connection);
    expect(client.state).toBe(ConnectionState.Open);
  });

  it('reconnects once when the connection is lost while a ping waits for its answer', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server, {
      keepAliveMs: KEEP_ALIVE_MS,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    });
    const states = record(client, 'state');
    await twoSilentIntervals(connection);

    connection.drop();
    await reachedState(client, ConnectionState.Reconnecting);
    await vi.advanceTimersByTimeAsync(REQUEST_TIMEOUT_MS);
    const next = await server.nextConnection();
    await answerCatchUp(next);
    await reachedState(client, ConnectionState.Open);
    await vi.advanceTimersByTimeAsync(REQUEST_TIMEOUT_MS);

    expect(server.handshakes).toBe(2);
    expect(states).toEqual([ConnectionState.Reconnecting, ConnectionState.Connecting, ConnectionState.Open]);
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('refuses keepAliveMs %s', async (keepAliveMs) => {
    const server = await startFakeServer();

    await expect(createClient(server, { keepAliveMs })).rejects.toThrow(
      new TypeError('keepAliveMs: must be a number of milliseconds, 0 or more (0 turns it off)'),
    );
  });
});

describe('the keep-alive and the frames the server sends', () => {
  /** The server sends a frame every half interval, `times` times, each handled before the next. */
  async function serverFramesEveryHalfInterval(
    connection: FakeConnection,
    client: ParleyClient,
    times: number,
  ) {
    for (let i = 0; i < times; i++) {
      await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS / 2);
      await processed(connection, client);
    }
  }

  it('sends no keep-alive while frames from the server keep arriving, and keepalive once they stop', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server, { keepAliveMs: KEEP_ALIVE_MS });

    await serverFramesEveryHalfInterval(connection, client, 6);
    expect(await framesSentSoFar(connection, client)).toEqual([]);
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS);

    await nextKeepalive(connection);
  });

  /**
   * A client on its first connection gets `halfIntervals` server frames, half an interval
   * apart, then loses the connection (as a gateway closing it does), reconnects and catches up.
   */
  async function reconnectAfterServerFrames(halfIntervals: number) {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server, {
      keepAliveMs: KEEP_ALIVE_MS,
      reconnect: RECONNECT,
    });
    await serverFramesEveryHalfInterval(connection, client, halfIntervals);
    connection.drop();
    await reachedState(client, ConnectionState.Reconnecting);
    await vi.advanceTimersByTimeAsync(RECONNECT.maxDelayMs);
    const next = await server.nextConnection();
    await answerCatchUp(next);
    await processed(next, client);
    return { client, next };
  }

  it('counts only its own frames after a connection closed while only frames it received kept it from pinging', async () => {
    // Three half intervals with nothing sent: a gateway counting the client's frames only closes it.
    const { client, next } = await reconnectAfterServerFrames(3);

    // Frames from the server no longer hold the keep-alive back: it comes an interval after
    // the catch-up, and they still show the connection works, so it is the one-way kind.
    await serverFramesEveryHalfInterval(next, client, 2);

    await nextKeepalive(next);
  });

  it('after a pong that came a round trip late, still pings at every second keep-alive while counting its own frames only', async () => {
    const { client, next } = await reconnectAfterServerFrames(3);
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS);
    await nextKeepalive(next);
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS);
    const ping = await nextPing(next);

    // The pong restarts no wait here (received frames do not count): only the ping did.
    await vi.advanceTimersByTimeAsync(ROUND_TRIP_MS);
    next.answer(ping, { type: 'pong' });
    await processed(next, client);
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS - ROUND_TRIP_MS);
    await nextKeepalive(next);
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS);

    await nextPing(next);
  });

  it('keeps counting the frames it receives after a close that came while it had sent a frame lately', async () => {
    const { client, next } = await reconnectAfterServerFrames(1);

    await serverFramesEveryHalfInterval(next, client, 4);

    expect(await framesSentSoFar(next, client)).toEqual([]);
  });
});

describe('checkConnection()', () => {
  it('pings at once and resolves true on the pong, and the idle wait counts from the ping', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server, { keepAliveMs: KEEP_ALIVE_MS });
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS / 2);

    const alive = client.checkConnection();
    const ping = await nextPing(connection);
    connection.answer(ping, { type: 'pong' });

    expect(await alive).toBe(true);
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS - 1);
    expect(connection.unreadCount).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    await nextKeepalive(connection);
  });

  it('resolves false after requestTimeoutMs without an answer, closes the connection and reconnects', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server, {
      keepAliveMs: KEEP_ALIVE_MS,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      reconnect: RECONNECT,
    });
    const errors = record(client, 'error');

    const alive = client.checkConnection();
    await nextPing(connection);
    await vi.advanceTimersByTimeAsync(REQUEST_TIMEOUT_MS);

    expect(await alive).toBe(false);
    await connection.closed;
    expect(connection.closeCode).toBe(4000);
    await vi.advanceTimersByTimeAsync(RECONNECT.maxDelayMs);
    const next = await server.nextConnection();
    await answerCatchUp(next);
    await reachedState(client, ConnectionState.Open);
    expect(server.handshakes).toBe(2);
    expect(errors).toEqual([]);
  });

  it('joins the keep-alive ping already waiting for its answer rather than sending another', async () => {
    const server = await startFakeServer();
    const { connection, client } = await connectedClient(server, { keepAliveMs: KEEP_ALIVE_MS });
    const ping = await twoSilentIntervals(connection);

    const alive = client.checkConnection();
    connection.answer(ping, { type: 'pong' });

    expect(await alive).toBe(true);
    expect(await framesSentSoFar(connection, client)).toEqual([]);
  });

  it('resolves false while offline, and tries to connect at once instead of waiting out the backoff', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server, {
      reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000, minUptimeMs: 1_000 },
    });
    connection.drop();
    await reachedState(client, ConnectionState.Reconnecting);
    // The first attempt after a loss may come at once (full jitter from 0): take it and drop it too.
    if (server.handshakes === 2) (await server.nextConnection()).drop();

    const alive = await client.checkConnection();

    expect(alive).toBe(false);
    await server.nextConnection();
    expect(client.state).not.toBe(ConnectionState.Reconnecting);
  });
});

describe('the keep-alive with a server older than protocol 1.6', () => {
  it('keeps the refusal of keepalive from the app and sends answered pings from then on, on later connections too', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server, {
      keepAliveMs: KEEP_ALIVE_MS,
      reconnect: RECONNECT,
    });
    const errors = record(client, 'error');
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS);
    const keepalive = await nextKeepalive(connection);

    connection.answer(keepalive, unknownActionAnswer(keepalive));
    await processed(connection, client);
    // The refusal came half an interval ago, a sign of life: a 1.6 server would get keepalive.
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS);
    const ping = await nextPing(connection);
    connection.answer(ping, { type: 'pong' });
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS);
    connection.answer(await nextPing(connection), { type: 'pong' });

    connection.drop();
    await reachedState(client, ConnectionState.Reconnecting);
    await vi.advanceTimersByTimeAsync(RECONNECT.maxDelayMs);
    const next = await server.nextConnection();
    await answerCatchUp(next);
    await processed(next, client);
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS);
    await nextPing(next);
    expect(errors).toEqual([]);
  });

  it('still reports an unsolicited error frame that answers no keepalive', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server, { keepAliveMs: KEEP_ALIVE_MS });
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS);
    await nextKeepalive(connection);
    const error = nextEvent(client, 'error');

    connection.send({ type: 'error', requestId: null, code: 'internal', message: 'internal error' });

    expect(await error).toMatchObject({ code: 'internal' });
  });
});
