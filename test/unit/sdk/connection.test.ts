import { ConnectionState, MemoryStorage, ParleyErrorCode } from '@parley/sdk';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mintToken } from '../../../lambdas/domain/tokens.js';
import {
  ALICE,
  answerCatchUp,
  BOB,
  CAROL,
  cleanUpSdkTest,
  clientSocketsClosed,
  connectedClient,
  createClient,
  expectNothingSent,
  openedSocketCount,
  RECONNECT,
  reachedState,
  record,
  SECRET,
  until,
  useFakeClock,
  WITH_BOB,
  WITH_CAROL,
} from './support/clients.js';
import { startFakeServer } from './support/fake-server.js';
import { errorAnswer, historyAnswer, message, receipt, summary } from './support/frames.js';

afterEach(cleanUpSdkTest);

describe('the token and the handshake', () => {
  it('asks the token provider before every connection attempt and reconnects with the fresh token', async () => {
    const server = await startFakeServer();
    const issued: string[] = [];
    const token = vi.fn(async () => {
      const fresh = await mintToken(ALICE, SECRET, { audience: `generation-${issued.length + 1}` });
      issued.push(fresh);
      return fresh;
    });
    const client = await createClient(server, { token });
    await client.connect();
    const first = await server.nextConnection();
    const callsForFirst = token.mock.calls.length;

    first.drop();
    const second = await server.nextConnection();

    expect(client.userId).toBe(ALICE);
    expect(first.token).toBe(issued[callsForFirst - 1]);
    expect(token).toHaveBeenCalledTimes(callsForFirst + 1);
    expect(second.token).toBe(issued.at(-1));
    expect(second.token).not.toBe(first.token);
  });

  it('asks the token provider for refused attempts too', async () => {
    const server = await startFakeServer();
    server.refusing = true;
    const token = vi.fn(() => mintToken(ALICE, SECRET));
    const client = await createClient(server, { token });
    await client.connect();
    await until(client, () => server.handshakes >= 3 && client.state === ConnectionState.Reconnecting);
    server.refusing = false;

    await server.nextConnection();

    // Once per attempt: the first, read to learn the user, serves the first attempt too.
    expect(token).toHaveBeenCalledTimes(server.handshakes);
  });

  it('can be connected again after its token provider failed at the start', async () => {
    const server = await startFakeServer();
    const token = vi
      .fn<() => Promise<string>>()
      .mockRejectedValueOnce(new Error('the identity service is down'))
      .mockImplementation(() => mintToken(ALICE, SECRET));
    const client = await createClient(server, { token });

    await expect(client.connect()).rejects.toThrow('the identity service is down');
    expect(client.state).toBe(ConnectionState.Idle);
    await client.connect();
    await server.nextConnection();

    expect(client.userId).toBe(ALICE);
  });

  it('skips the rest of the backoff wait on reconnectNow()', async () => {
    const server = await startFakeServer();
    const client = await createClient(server, {
      reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000 },
      random: () => 0.999,
    });
    await client.connect();
    const first = await server.nextConnection();
    first.drop();
    await until(client, () => client.state === ConnectionState.Reconnecting);

    client.reconnectNow();

    await server.nextConnection();
  });

  it('connects with the token and the deviceId in the query, keeping the URL’s own query', async () => {
    const server = await startFakeServer();
    const token = await mintToken(ALICE, SECRET);
    const client = await createClient(`${server.url}/prod?stage=test`, { token, deviceId: 'laptop_2' });

    await client.connect();
    const connection = await server.nextConnection();

    expect(connection.token).toBe(token);
    expect(connection.deviceId).toBe('laptop_2');
    expect(connection.query.get('stage')).toBe('test');
  });
});

describe('catching up on (re)connect', () => {
  it('asks for the conversation list first, without since the first time', async () => {
    const server = await startFakeServer();
    const client = await createClient(server);
    await client.connect();
    const connection = await server.nextConnection();

    expect(await connection.nextFrame()).toEqual({
      action: 'conversations',
      requestId: expect.any(String),
      limit: 100,
    });
  });

  it('asks for what changed since the stored cursor after a reconnect', async () => {
    const server = await startFakeServer();
    const client = await createClient(server);
    await client.connect();
    const first = await server.nextConnection();
    await answerCatchUp(first, { cursor: 'cursor-7' });
    await until(client, () => client.state === ConnectionState.Open);
    await expectNothingSent(first, client);

    first.drop();
    const second = await server.nextConnection();

    expect(await second.nextFrame()).toMatchObject({ action: 'conversations', since: 'cursor-7' });
  });

  it('follows the list page after page, each time from the cursor of the last', async () => {
    const server = await startFakeServer();
    const client = await createClient(server);
    await client.connect();
    const connection = await server.nextConnection();

    const first = await answerCatchUp(connection, { cursor: 'page-1', hasMore: true });
    const second = await answerCatchUp(connection, { cursor: 'page-2', hasMore: false });
    await expectNothingSent(connection, client);

    expect(first).not.toHaveProperty('since');
    expect(second).toMatchObject({ since: 'page-1' });
  });

  it('says caughtUp, with the conversations that moved, once the list is read and its cursor saved', async () => {
    const server = await startFakeServer();
    const storage = new MemoryStorage();
    const client = await createClient(server, { storage });
    const caughtUp = record(client, 'caughtUp');
    await client.connect();
    const connection = await server.nextConnection();

    await answerCatchUp(connection, {
      cursor: 'page-1',
      hasMore: true,
      conversations: [summary(WITH_BOB, 0)],
    });
    expect(caughtUp).toEqual([]);
    await answerCatchUp(connection, { cursor: 'page-2', conversations: [summary(WITH_CAROL, 0)] });
    await until(client, () => caughtUp.length === 1);

    expect(caughtUp).toEqual([{ moved: [WITH_BOB, WITH_CAROL] }]);
    expect(await storage.load(`parley/${ALICE}/phone/cursor`)).toBe('page-2');
  });

  it('gives the stored cursor to the next client of the same device', async () => {
    const server = await startFakeServer();
    const storage = new MemoryStorage();
    const { client } = await connectedClient(server, { storage });
    await client.close();

    const next = await createClient(server, { storage });
    await next.connect();
    const connection = await server.nextConnection();

    expect(await connection.nextFrame()).toMatchObject({ action: 'conversations', since: 'cursor-1' });
  });

  it('syncs the conversations whose lastSeq is above what it holds, and only those', async () => {
    useFakeClock();
    const server = await startFakeServer();
    const client = await createClient(server);
    await client.connect();
    const first = await server.nextConnection();
    // Bob's conversation holds 1 and 2, carol's 1; both read up to there.
    await answerCatchUp(first, {
      conversations: [
        summary(WITH_BOB, 2, { receipts: [receipt(ALICE, 2, 2)] }),
        summary(WITH_CAROL, 1, {
          lastMessage: message(1, { from: CAROL, conversationId: WITH_CAROL }),
          receipts: [receipt(ALICE, 1, 1)],
        }),
      ],
    });
    const firstSync = await first.nextFrame();
    expect(firstSync).toMatchObject({ action: 'sync', conversationId: WITH_BOB, afterSeq: 0 });
    first.answer(firstSync, historyAnswer(firstSync, [message(1), message(2)]));
    await until(client, () => client.messages(WITH_BOB).length === 2);
    await expectNothingSent(first, client);

    // Away: bob wrote 3 and 4; carol wrote nothing.
    first.drop();
    await reachedState(client, ConnectionState.Reconnecting);
    await vi.advanceTimersByTimeAsync(RECONNECT.maxDelayMs);
    const second = await server.nextConnection();
    await answerCatchUp(second, {
      conversations: [
        summary(WITH_BOB, 4, { receipts: [receipt(ALICE, 2, 2)] }),
        summary(WITH_CAROL, 1, {
          lastMessage: message(1, { from: CAROL, conversationId: WITH_CAROL }),
          receipts: [receipt(ALICE, 1, 1)],
        }),
      ],
    });
    const sync = await second.nextFrame();
    expect(sync).toMatchObject({ action: 'sync', conversationId: WITH_BOB, afterSeq: 2 });
    second.answer(sync, historyAnswer(sync, [message(3), message(4)]));
    await until(client, () => client.messages(WITH_BOB).length === 4);

    await expectNothingSent(second, client);
    expect(client.messages(WITH_BOB).map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    expect(client.messages(WITH_CAROL).map((m) => m.seq)).toEqual([1]);
  });
});

describe('presence', () => {
  it('subscribes with a frame and resolves with the users it answers', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    const subscribed = client.subscribePresence([BOB, CAROL]);
    const frame = await connection.nextFrame();
    const users = [
      { userId: BOB, online: true, lastSeen: null },
      { userId: CAROL, online: false, lastSeen: 1_764_000_000_000 },
    ];
    connection.answer(frame, { type: 'presence', users });

    expect(frame).toEqual({
      action: 'subscribePresence',
      requestId: expect.any(String),
      userIds: [BOB, CAROL],
    });
    expect(await subscribed).toEqual(users);
    expect(client.presenceOf(CAROL)).toEqual(users[1]);
  });

  it('updates presenceOf and emits presence on each presence event', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const events = record(client, 'presence');

    connection.send({ type: 'presence', users: [{ userId: BOB, online: true, lastSeen: null }] });
    await until(client, () => client.presenceOf(BOB)?.online === true);
    connection.send({
      type: 'presence',
      users: [{ userId: BOB, online: false, lastSeen: 1_764_000_000_123 }],
    });
    await until(client, () => client.presenceOf(BOB)?.online === false);

    expect(client.presenceOf(BOB)).toEqual({ userId: BOB, online: false, lastSeen: 1_764_000_000_123 });
    expect(events).toEqual([
      [{ userId: BOB, online: true, lastSeen: null }],
      [{ userId: BOB, online: false, lastSeen: 1_764_000_000_123 }],
    ]);
  });

  /** A client subscribed to BOB whose connection was lost, and its next connection past the catch-up. */
  async function reconnectedWhileSubscribed() {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const errors = record(client, 'error');
    const subscribed = client.subscribePresence([BOB]);
    const frame = await connection.nextFrame();
    connection.answer(frame, { type: 'presence', users: [{ userId: BOB, online: true, lastSeen: null }] });
    await subscribed;
    connection.drop();
    const next = await server.nextConnection();
    await answerCatchUp(next);
    return { server, client, next, errors };
  }

  it.each([
    ['subscribes again after a reconnect', 0],
    [
      'subscribes again on the same connection when the server refuses it as over the limit after a reconnect',
      1,
    ],
  ])('%s', async (_case, refusals) => {
    const { server, client, next, errors } = await reconnectedWhileSubscribed();
    for (let refused = 0; refused < refusals; refused += 1) {
      const frame = await next.nextFrame();
      next.answer(frame, errorAnswer(frame, 'rate_limited', 'over the limit; retry in 1 s'));
    }
    const again = await next.nextFrame();
    next.answer(again, {
      type: 'presence',
      users: [{ userId: BOB, online: false, lastSeen: 1_764_000_000_000 }],
    });

    expect(again).toMatchObject({ action: 'subscribePresence', userIds: [BOB] });
    await until(client, () => client.presenceOf(BOB)?.online === false);
    expect(server.connections).toHaveLength(2);
    expect(errors).toEqual([]);
  });

  it('answers from what it knows while offline and subscribes once connected', async () => {
    const server = await startFakeServer();
    server.refusing = true;
    const client = await createClient(server);
    await client.connect();

    expect(await client.subscribePresence([BOB])).toEqual([{ userId: BOB, online: false, lastSeen: null }]);

    server.refusing = false;
    const connection = await server.nextConnection();
    await answerCatchUp(connection);
    expect(await connection.nextFrame()).toMatchObject({ action: 'subscribePresence', userIds: [BOB] });
  });
});

describe('close()', () => {
  it('rejects the requests still waiting with closed and never reconnects', async () => {
    useFakeClock();
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const states = record(client, 'state');
    const subscribed = client.subscribePresence([BOB]);
    await connection.nextFrame();

    await client.close();

    await expect(subscribed).rejects.toMatchObject({ name: 'ParleyError', code: ParleyErrorCode.Closed });
    expect(client.state).toBe(ConnectionState.Closed);
    await connection.closed;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(server.handshakes).toBe(1);
    expect(states).toEqual([ConnectionState.Closed]);
  });

  it('stops a client that was waiting to reconnect', async () => {
    useFakeClock();
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    connection.drop();
    await reachedState(client, ConnectionState.Reconnecting);

    await client.close();
    await vi.advanceTimersByTimeAsync(60_000);

    expect(server.handshakes).toBe(1);
    expect(client.state).toBe(ConnectionState.Closed);
  });

  it('abandons a connection attempt still under way, so that no connection opens after close()', async () => {
    const server = await startFakeServer();
    const client = await createClient(server);
    await client.connect();
    expect(client.state).toBe(ConnectionState.Connecting);
    const states = record(client, 'state');
    const openedBefore = openedSocketCount();

    await client.close();
    await clientSocketsClosed();

    expect(openedSocketCount()).toBe(openedBefore);
    expect(states).toEqual([ConnectionState.Closed]);
    expect(server.connections.flatMap((connection) => connection.frames)).toEqual([]);
    await expect(client.send({ to: BOB }, 'too late')).rejects.toMatchObject({
      code: ParleyErrorCode.Closed,
    });
  });
});
