/**
 * The SDK's keep-alive against the gateway's idle limit, on the local stack with both made
 * short: the gateway closes a connection after 1.5 s without a frame from the client (AWS:
 * 10 minutes), and the client sends a keep-alive after 0.5 s without a frame (default: 8
 * minutes): `keepalive` and `ping` in turn. The gateway serves both itself, as API Gateway's
 * MOCK integrations do: no function runs (test/e2e/keepalive-route.test.ts has the frames).
 */

import { ConnectionState, ParleyClient, type WebSocketConstructor } from '@parley/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LOCAL_JWT_SECRET } from '../../lambdas/config.js';
import { mintToken } from '../../lambdas/domain/tokens.js';
import type { FunctionWrapper } from '../../local/stack.js';
import { uniqueId, useTestStack } from '../support/stack.js';

const IDLE_TIMEOUT_MS = 1_500;
const KEEP_ALIVE_MS = 500;
/** Idle limits an idle client must outlast. */
const IDLE_LIMITS = 3;

/** What the gateway invoked, in order: the function, the connection and, for `$disconnect`, its status code. */
const invocations: Array<{ functionId: string; connectionId?: string; statusCode?: number }> = [];
const watchers = new Set<() => void>();

const recordInvocations: FunctionWrapper = (functionId, handler) => async (event, context) => {
  const { connectionId, disconnectStatusCode: statusCode } =
    (event as { requestContext?: { connectionId?: string; disconnectStatusCode?: number } }).requestContext ??
    {};
  invocations.push({ functionId, connectionId, ...(statusCode === undefined ? {} : { statusCode }) });
  for (const watcher of watchers) watcher();
  return handler(event, context);
};

/** The pongs the clients received; the gateway answers them without invoking anything. */
let pongs = 0;

/** The clients' WebSocket, counting pongs. A constructor function, as the SDK calls `new` on it. */
function PongCountingWebSocket(url: string): WebSocket {
  const socket = new WebSocket(url);
  socket.addEventListener('message', ({ data }) => {
    if (!String(data).includes('"type":"pong"')) return;
    pongs += 1;
    for (const watcher of watchers) watcher();
  });
  return socket;
}

/** Resolves once `check()` holds, checking after every invocation and every pong. */
function untilInvoked(check: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const watcher = () => {
      if (!check()) return;
      watchers.delete(watcher);
      resolve();
    };
    watchers.add(watcher);
    watcher();
  });
}

/** Invocations of one connection (every connection when absent) by one function. */
const count = (functionId: string, connectionId?: string) =>
  invocations.filter(
    (call) => call.functionId === functionId && (!connectionId || call.connectionId === connectionId),
  ).length;

const { stack } = useTestStack({ idleTimeoutMs: IDLE_TIMEOUT_MS, wrapFunction: recordInvocations });

const clients: ParleyClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  invocations.length = 0;
  pongs = 0;
});

/**
 * A connected client through its first catch-up, and the id of its connection; the
 * invocations so far are cleared.
 */
async function idleClient(keepAliveMs: number): Promise<{ client: ParleyClient; connectionId: string }> {
  const client = new ParleyClient({
    url: stack().url,
    token: await mintToken(uniqueId('idle'), LOCAL_JWT_SECRET),
    deviceId: 'phone',
    WebSocket: PongCountingWebSocket as unknown as WebSocketConstructor,
    keepAliveMs,
    reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
  });
  clients.push(client);
  const caughtUp = new Promise((resolve) => client.on('caughtUp', resolve));
  await client.connect();
  await caughtUp;
  const connects = invocations.filter((call) => call.functionId === 'connect');
  expect(connects).toHaveLength(1);
  invocations.length = 0;
  pongs = 0;
  return { client, connectionId: String(connects[0]?.connectionId) };
}

describe('an idle client and the gateway’s idle limit', () => {
  it('stays connected across several idle limits with the keep-alive on', async () => {
    const { client, connectionId } = await idleClient(KEEP_ALIVE_MS);
    const states: ConnectionState[] = [];
    client.on('state', (state) => states.push(state));
    const started = performance.now();

    // Each ping is two 0.5 s idle intervals (a keepalive between): this many cover
    // IDLE_LIMITS idle limits. A $disconnect ends the wait early, and fails the test below.
    await untilInvoked(
      () =>
        pongs >= (IDLE_LIMITS * IDLE_TIMEOUT_MS) / (2 * KEEP_ALIVE_MS) ||
        count('disconnect', connectionId) > 0,
    );

    // No $disconnect of this connection, no new connection, and no route function for the
    // keep-alives (the stream's consumers may still be at work on the connect).
    expect(invocations.filter((call) => call.connectionId !== undefined)).toEqual([]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(IDLE_LIMITS * IDLE_TIMEOUT_MS - KEEP_ALIVE_MS);
    expect(states).toEqual([]);
    expect(client.state).toBe(ConnectionState.Open);
  });

  it('is closed by the gateway, 1001 Going away, with the keep-alive off', async () => {
    const { client, connectionId } = await idleClient(0);
    const reconnecting = new Promise((resolve) =>
      client.on('state', (state) => state === ConnectionState.Reconnecting && resolve(state)),
    );

    await untilInvoked(() => count('disconnect', connectionId) === 1);
    await reconnecting;

    expect(invocations.filter((call) => call.functionId === 'disconnect')).toEqual([
      { functionId: 'disconnect', connectionId, statusCode: 1001 },
    ]);
    expect(pongs).toBe(0);
  });
});
