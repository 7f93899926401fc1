import { backoffDelay, ConnectionState, type ParleyClient } from '@parley/sdk';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Backoff } from '../../../sdk/src/backoff.js';
import {
  answerCatchUp,
  cleanUpSdkTest,
  createClient,
  reachedState,
  record,
  useFakeClock,
} from './support/clients.js';
import { type FakeConnection, type FakeServer, startFakeServer } from './support/fake-server.js';
import { ManualTimers } from './support/manual-timers.js';

afterEach(cleanUpSdkTest);

describe('backoffDelay', () => {
  it('stays within [0, min(max, initial × 2^attempt)) for every attempt', () => {
    const options = { initialDelayMs: 100, maxDelayMs: 5_000 };
    for (let attempt = 0; attempt < 12; attempt++) {
      const cap = Math.min(5_000, 100 * 2 ** attempt);
      expect(backoffDelay(attempt, options, () => 0)).toBe(0);
      expect(backoffDelay(attempt, options, () => 0.999_999)).toBe(cap - 1);
    }
  });

  it('draws each delay from the random source over the whole range (full jitter)', () => {
    const random = vi.fn().mockReturnValueOnce(0.25).mockReturnValueOnce(0.75);
    const options = { initialDelayMs: 100, maxDelayMs: 5_000 };

    expect(backoffDelay(3, options, random)).toBe(200);
    expect(backoffDelay(3, options, random)).toBe(600);
    expect(random).toHaveBeenCalledTimes(2);
  });

  it('caps at 500 ms for the first retry and 30 s for any by default', () => {
    const highest = () => 0.999_999;

    expect(backoffDelay(0, {}, highest)).toBe(499);
    expect(backoffDelay(20, {}, highest)).toBe(29_999);
  });

  it('stays at the cap however many attempts failed', () => {
    expect(backoffDelay(5_000, { initialDelayMs: 100, maxDelayMs: 1_000 }, () => 0.5)).toBe(500);
  });
});

describe('Backoff', () => {
  it('waits the delay of the attempt on its timers, drawn from its random source, until cancelled', () => {
    const timers = new ManualTimers();
    const backoff = new Backoff({ initialDelayMs: 100, maxDelayMs: 1_000 }, () => 0.5, timers);
    const retry = vi.fn();

    const cancelled = backoff.wait(3, retry);
    expect(timers.waiting).toEqual([400]);
    backoff.cancel(cancelled);
    expect(timers.waiting).toEqual([]);
    backoff.wait(0, retry);
    timers.fireAll();

    expect(timers.requested).toEqual([400, 50]);
    expect(retry).toHaveBeenCalledTimes(1);
  });

  it('keeps a connection 5 s before it counts as up, unless told otherwise', () => {
    expect(new Backoff().minUptimeMs).toBe(5_000);
    expect(new Backoff({ minUptimeMs: 250 }).minUptimeMs).toBe(250);
  });
});

describe('the client reconnecting', () => {
  // With random() = 0.999 every delay is just under its cap: 99, 199, 399, 799, then 999.
  const reconnect = { initialDelayMs: 100, maxDelayMs: 1_000, minUptimeMs: 10_000 };

  let server: FakeServer;
  let client: ParleyClient;

  async function start(): Promise<FakeConnection> {
    useFakeClock();
    server = await startFakeServer();
    client = await createClient(server, { reconnect, random: () => 0.999 });
    await client.connect();
    const connection = await server.nextConnection();
    await reachedState(client, ConnectionState.Open);
    return connection;
  }

  /** Drops the connection and checks that the client comes back after exactly `delay` ms. */
  async function dropAndExpectReconnectAfter(connection: FakeConnection, delay: number) {
    connection.drop();
    await reachedState(client, ConnectionState.Reconnecting);
    await vi.advanceTimersByTimeAsync(delay - 1);
    expect(client.state).toBe(ConnectionState.Reconnecting);
    await vi.advanceTimersByTimeAsync(1);
    expect(client.state).toBe(ConnectionState.Connecting);
    const next = await server.nextConnection();
    await reachedState(client, ConnectionState.Open);
    return next;
  }

  it('connects at once the first time, with no delay', async () => {
    useFakeClock();
    server = await startFakeServer();
    client = await createClient(server, { reconnect, random: () => 0.999 });

    await client.connect();

    expect(client.state).toBe(ConnectionState.Connecting);
    await server.nextConnection();
    await reachedState(client, ConnectionState.Open);
  });

  it('waits a backoff delay before each reconnect and doubles its cap with each failed attempt', async () => {
    let connection = await start();
    const states = record(client, 'state');

    for (const delay of [99, 199, 399, 799, 999, 999]) {
      connection = await dropAndExpectReconnectAfter(connection, delay);
    }

    expect(server.connections).toHaveLength(7);
    expect(states.filter((state) => state === ConnectionState.Reconnecting)).toHaveLength(6);
  });

  it('retries a server that refuses the handshake with growing delays', async () => {
    useFakeClock();
    server = await startFakeServer();
    server.refusing = true;
    client = await createClient(server, { reconnect, random: () => 0.999 });
    await client.connect();

    for (const delay of [99, 199, 399]) {
      await reachedState(client, ConnectionState.Reconnecting);
      await vi.advanceTimersByTimeAsync(delay - 1);
      expect(client.state).toBe(ConnectionState.Reconnecting);
      await vi.advanceTimersByTimeAsync(1);
      expect(client.state).toBe(ConnectionState.Connecting);
    }
    server.refusing = false;
    await server.nextConnection();
    await reachedState(client, ConnectionState.Open);

    expect(server.handshakes).toBe(4);
  });

  it('counts the attempts from zero again only after a connection stayed open minUptimeMs', async () => {
    let connection = await start();
    connection = await dropAndExpectReconnectAfter(connection, 99);
    connection = await dropAndExpectReconnectAfter(connection, 199);

    // Up for just under minUptimeMs: still a failure, the delay keeps growing.
    await answerCatchUp(connection);
    await vi.advanceTimersByTimeAsync(reconnect.minUptimeMs - 1);
    connection = await dropAndExpectReconnectAfter(connection, 399);

    // Up for minUptimeMs: a success, the next delay is the first one again.
    await answerCatchUp(connection);
    await vi.advanceTimersByTimeAsync(reconnect.minUptimeMs);
    connection = await dropAndExpectReconnectAfter(connection, 99);
    await dropAndExpectReconnectAfter(connection, 199);
  });
});
