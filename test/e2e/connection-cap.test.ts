/**
 * The cap on a user's connections, on the local stack: the handshake over it is refused
 * with 429 and its reason, a closed connection frees its place, and a device that connects
 * again replaces its older connection, even at the cap (docs/adr/0011-connection-cap.md).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DEFAULT_MAX_CONNECTIONS_PER_USER, LOCAL_JWT_SECRET } from '../../lambdas/config.js';
import { mintToken } from '../../lambdas/domain/tokens.js';
import type { RunningLocalStack } from '../../local/stack.js';
import { startTestStack, uniqueId } from '../support/stack.js';
import { TestClient } from '../support/ws-client.js';

/** The status and body of a refused handshake, or 'opened' (the socket is closed again). */
function handshake(
  url: string,
  query: Record<string, string>,
): Promise<{ status: number; body: string } | 'opened'> {
  const target = new URL(url);
  for (const [key, value] of Object.entries(query)) target.searchParams.set(key, value);
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(target);
    socket.once('open', () => {
      socket.close();
      resolve('opened');
    });
    socket.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('end', () => {
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        socket.terminate();
      });
    });
    socket.once('error', reject);
  });
}

describe('the connection cap', () => {
  let stack: RunningLocalStack;
  const clients: TestClient[] = [];
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });
  afterAll(async () => {
    await stack.stop();
  });

  /** Opens `count` connections of `userId`, from devices d0, d1, … */
  async function connectDevices(userId: string, token: string, count: number): Promise<TestClient[]> {
    // One after the other: handshakes racing for one user's places are the store's contract test.
    const opened: TestClient[] = [];
    for (let index = 0; index < count; index++) {
      opened.push(await TestClient.connect(stack.url, { token, deviceId: `d${index}` }));
    }
    clients.push(...opened);
    expect(await stack.deps.connections.listConnections(userId)).toHaveLength(count);
    return opened;
  }

  it(`refuses a user's handshake number ${DEFAULT_MAX_CONNECTIONS_PER_USER + 1} with 429 and the reason`, async () => {
    const userId = uniqueId('u');
    const token = await mintToken(userId, LOCAL_JWT_SECRET);
    await connectDevices(userId, token, DEFAULT_MAX_CONNECTIONS_PER_USER);

    const refused = await handshake(stack.url, { token, deviceId: 'one-too-many' });

    expect(refused).toEqual({
      status: 429,
      body: expect.stringContaining(
        `too many connections: this user already has 10 open, the most allowed is 10`,
      ),
    });
    expect(await stack.deps.connections.listConnections(userId)).toHaveLength(
      DEFAULT_MAX_CONNECTIONS_PER_USER,
    );
    // Another user is not affected.
    const other = await mintToken(uniqueId('u'), LOCAL_JWT_SECRET);
    expect(await handshake(stack.url, { token: other, deviceId: 'phone' })).toBe('opened');
  });

  it('frees the place of a closed connection as soon as its $disconnect has run', async () => {
    const userId = uniqueId('u');
    const token = await mintToken(userId, LOCAL_JWT_SECRET);
    const [first] = await connectDevices(userId, token, DEFAULT_MAX_CONNECTIONS_PER_USER);
    expect(await handshake(stack.url, { token, deviceId: 'new-device' })).toMatchObject({ status: 429 });

    await first?.close();
    await expect
      .poll(() => stack.deps.connections.listConnections(userId).then((list) => list.length))
      .toBe(DEFAULT_MAX_CONNECTIONS_PER_USER - 1);

    const next = await TestClient.connect(stack.url, { token, deviceId: 'new-device' });
    clients.push(next);
    expect(next.isOpen).toBe(true);
  });

  it('lets a device connect again at the cap, replacing its older connection and closing that socket', async () => {
    const userId = uniqueId('u');
    const token = await mintToken(userId, LOCAL_JWT_SECRET);
    const [older] = await connectDevices(userId, token, DEFAULT_MAX_CONNECTIONS_PER_USER);

    const again = await TestClient.connect(stack.url, { token, deviceId: 'd0' });
    clients.push(again);

    expect(await older?.closed).toMatchObject({ code: 1000 });
    const devices = (await stack.deps.connections.listConnections(userId)).map(({ deviceId }) => deviceId);
    expect(devices.sort()).toEqual(
      Array.from({ length: DEFAULT_MAX_CONNECTIONS_PER_USER }, (_, i) => `d${i}`).sort(),
    );
    expect(await again.request({ action: 'ping', requestId: 'p1' })).toEqual({
      type: 'pong',
      requestId: 'p1',
    });
  });
});
