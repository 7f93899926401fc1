import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IDEMPOTENCY_KEY_DAYS } from '@parley/protocol';
import {
  type ChatMessage,
  ConnectionState,
  MemoryStorage,
  MessageStatus,
  OutboxFullError,
  type OutboxItem,
  type ParleyClient,
  ParleyErrorCode,
  type ParleyStorage,
} from '@parley/sdk';
import { FileStorage } from '@parley/sdk/file-storage';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Outbox } from '../../../sdk/src/outbox.js';
import { CHECK_BEFORE_RESEND_AFTER_MS } from '../../../sdk/src/outbox-sender.js';
import {
  ALICE,
  answerCatchUp,
  BOB,
  CAROL,
  cleanUpSdkTest,
  connectedClient,
  createClient,
  expectNothingSent,
  framesSentSoFar,
  processed,
  RECONNECT,
  reachedState,
  record,
  until,
  useFakeClock,
  WITH_BOB,
  WITH_CAROL,
} from './support/clients.js';
import { type FakeServer, startFakeServer } from './support/fake-server.js';
import { errorAnswer, messageEvent, sentAnswer, storedFrom, summary } from './support/frames.js';

afterEach(cleanUpSdkTest);

/** The conversation with bob holds one message, `written`, stored at seq 1. */
function expectOneSentMessage(client: ParleyClient, written: ChatMessage) {
  expect(client.messages(WITH_BOB)).toEqual([
    expect.objectContaining({ seq: 1, clientMessageId: written.clientMessageId, status: MessageStatus.Sent }),
  ]);
}

function item(
  clientMessageId: string,
  conversationId = WITH_BOB,
  fields: Partial<OutboxItem> = {},
): OutboxItem {
  return {
    clientMessageId,
    conversationId,
    body: clientMessageId,
    senderId: ALICE,
    createdAt: 0,
    status: 'pending',
    attempts: 0,
    ...fields,
  };
}

describe('Outbox', () => {
  it('gives the oldest pending item of each conversation, and the conversations in the order of their oldest', () => {
    const outbox = new Outbox(10);
    outbox.add(item('b1', WITH_CAROL));
    outbox.add(item('a1'));
    outbox.add(item('a2'));
    outbox.add(item('b2', WITH_CAROL));

    expect(outbox.nextFor(WITH_BOB)?.clientMessageId).toBe('a1');
    expect(outbox.nextFor(WITH_CAROL)?.clientMessageId).toBe('b1');
    expect(outbox.conversationsWithPending()).toEqual([WITH_CAROL, WITH_BOB]);

    expect(outbox.remove('a1')).toBe(true);
    expect(outbox.remove('a1')).toBe(false);
    expect(outbox.nextFor(WITH_BOB)?.clientMessageId).toBe('a2');
  });

  it('skips a failed item and puts it back in line, with its clientMessageId, on retry', () => {
    const outbox = new Outbox(10, [item('a1'), item('a2')]);

    outbox.markFailed('a1', 'bad_request: body too long');

    expect(outbox.get('a1')).toMatchObject({ status: 'failed', error: 'bad_request: body too long' });
    expect(outbox.nextFor(WITH_BOB)?.clientMessageId).toBe('a2');
    expect(outbox.pendingCount).toBe(1);
    expect(outbox.retry('a2')).toBeUndefined();

    expect(outbox.retry('a1')).toMatchObject({ clientMessageId: 'a1', status: 'pending' });
    expect(outbox.get('a1')).not.toHaveProperty('error');
    expect(outbox.nextFor(WITH_BOB)?.clientMessageId).toBe('a1');
  });

  it('refuses an item beyond its limit of pending ones with OutboxFullError; failed ones do not count', () => {
    const outbox = new Outbox(2, [item('a1'), item('a2')]);

    expect(() => outbox.add(item('a3'))).toThrow(OutboxFullError);
    outbox.markFailed('a1', 'forbidden');
    outbox.add(item('a3'));

    expect(outbox.items().map((entry) => entry.clientMessageId)).toEqual(['a1', 'a2', 'a3']);
  });

  it('does not share its items with the array it was made from', () => {
    const stored = [item('a1')];
    const outbox = new Outbox(10, stored);

    outbox.add(item('a2'));

    expect(stored).toHaveLength(1);
    expect(outbox.toJSON()).toHaveLength(2);
  });
});

describe('the client’s outbox', () => {
  /** A client whose server is down: it keeps trying, and queues what is written. */
  async function offlineClient(
    server: FakeServer,
    options: { storage?: ParleyStorage; outboxLimit?: number } = {},
  ) {
    server.refusing = true;
    const client = await createClient(server, options);
    await client.connect();
    return client;
  }

  it('sends what was written offline once connected, in the order written, one at a time per conversation and conversations in parallel', async () => {
    const server = await startFakeServer();
    const client = await offlineClient(server);
    const written: ChatMessage[] = [];
    for (const [to, body] of [
      [BOB, 'b1'],
      [CAROL, 'c1'],
      [BOB, 'b2'],
      [BOB, 'b3'],
      [CAROL, 'c2'],
    ] as const) {
      written.push(await client.send({ to }, body));
    }
    expect(client.state).not.toBe(ConnectionState.Open);
    expect(client.pendingCount()).toBe(5);

    server.refusing = false;
    const connection = await server.nextConnection();
    // The oldest of each conversation at once, then the catch-up; nothing more until an answer.
    const b1 = await connection.nextFrame();
    const c1 = await connection.nextFrame();
    await answerCatchUp(connection);
    await expectNothingSent(connection, client);
    expect(b1).toEqual({
      action: 'send',
      requestId: expect.any(String),
      to: BOB,
      clientMessageId: written[0]?.clientMessageId,
      body: 'b1',
      echo: false,
    });
    expect(c1).toMatchObject({ action: 'send', to: CAROL, clientMessageId: written[1]?.clientMessageId });

    connection.answer(c1, sentAnswer(c1, 1));
    const c2 = await connection.nextFrame();
    expect(c2).toMatchObject({ body: 'c2', clientMessageId: written[4]?.clientMessageId });
    await expectNothingSent(connection, client);

    connection.answer(b1, sentAnswer(b1, 1));
    const b2 = await connection.nextFrame();
    connection.answer(c2, sentAnswer(c2, 2));
    connection.answer(b2, sentAnswer(b2, 2));
    const b3 = await connection.nextFrame();
    connection.answer(b3, sentAnswer(b3, 3));
    await until(client, () => client.pendingCount() === 0);

    expect([b2, b3].map((frame) => frame.clientMessageId)).toEqual([
      written[2]?.clientMessageId,
      written[3]?.clientMessageId,
    ]);
    expect(client.messages(WITH_BOB).map((m) => [m.seq, m.body, m.status])).toEqual([
      [1, 'b1', MessageStatus.Sent],
      [2, 'b2', MessageStatus.Sent],
      [3, 'b3', MessageStatus.Sent],
    ]);
    expect(client.messages(WITH_CAROL).map((m) => [m.seq, m.body])).toEqual([
      [1, 'c1'],
      [2, 'c2'],
    ]);
  });

  it('holds a message written while the previous one of its conversation is in flight until its answer', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    await client.send({ to: BOB }, 'first');
    const first = await connection.nextFrame();

    const second = await client.send({ to: BOB }, 'second');
    await client.send({ to: CAROL }, 'elsewhere');
    expect(await framesSentSoFar(connection, client)).toEqual([
      expect.objectContaining({ action: 'send', to: CAROL, body: 'elsewhere' }),
    ]);
    connection.answer(first, sentAnswer(first, 1));

    expect(await connection.nextFrame()).toMatchObject({
      action: 'send',
      clientMessageId: second.clientMessageId,
      body: 'second',
    });
  });

  it('sends a message again with the same clientMessageId after a reconnect when the connection dropped before the answer', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const written = await client.send({ to: BOB }, 'hello');
    const first = await connection.nextFrame();

    connection.drop();
    const next = await server.nextConnection();
    const resent = await next.nextFrame();
    await answerCatchUp(next);
    next.answer(resent, sentAnswer(resent, 1, { duplicate: true }));
    await until(client, () => client.pendingCount() === 0);

    expect(first).toMatchObject({ action: 'send', clientMessageId: written.clientMessageId });
    expect(resent).toMatchObject({
      action: 'send',
      to: BOB,
      clientMessageId: written.clientMessageId,
      body: 'hello',
    });
    expect(resent.requestId).not.toBe(first.requestId);
    expectOneSentMessage(client, written);
  });

  it('changes nothing for an answer that comes late, after the resend, or twice', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const first = await client.send({ to: BOB }, 'one');
    const second = await client.send({ to: BOB }, 'two');
    const lost = await connection.nextFrame();
    connection.drop();
    const next = await server.nextConnection();
    const resent = await next.nextFrame();
    await answerCatchUp(next);
    const events = record(client, 'message');

    // The answer to the first try comes late, on the new connection: nobody waits for it.
    next.answer(lost, sentAnswer(lost, 1));
    await processed(next, client);
    expect(client.pendingCount()).toBe(2);
    // The resend is answered, twice; the second answer must not pass for the answer to "two".
    next.answer(resent, sentAnswer(resent, 1, { duplicate: true }));
    const two = await next.nextFrame();
    next.answer(resent, sentAnswer(resent, 1, { duplicate: true }));
    next.send(messageEvent(storedFrom(resent, 1)));
    await processed(next, client);

    expect(resent.clientMessageId).toBe(first.clientMessageId);
    expect(two).toMatchObject({ action: 'send', clientMessageId: second.clientMessageId });
    expect(client.pendingCount()).toBe(1);
    expect(client.messages(WITH_BOB).map((m) => [m.seq, m.body, m.status])).toEqual([
      [1, 'one', MessageStatus.Sent],
      [undefined, 'two', MessageStatus.Pending],
    ]);
    expect(events.filter((event) => event.seq === 1)).toHaveLength(1);

    next.answer(two, sentAnswer(two, 2));
    await until(client, () => client.pendingCount() === 0);
    expect(client.messages(WITH_BOB).map((m) => m.seq)).toEqual([1, 2]);
  });

  it('sends again with the same clientMessageId when an answer comes after the request timed out, and keeps one message', async () => {
    useFakeClock();
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server, { requestTimeoutMs: 1_000 });
    const written = await client.send({ to: BOB }, 'slow');
    const first = await connection.nextFrame();

    await vi.advanceTimersByTimeAsync(1_000 + RECONNECT.maxDelayMs);
    const retried = await connection.nextFrame();
    connection.answer(first, sentAnswer(first, 1));
    connection.answer(retried, sentAnswer(retried, 1, { duplicate: true }));
    await until(client, () => client.pendingCount() === 0);
    await processed(connection, client);

    expect(retried).toMatchObject({ action: 'send', clientMessageId: written.clientMessageId });
    expect(retried.requestId).not.toBe(first.requestId);
    expect(client.messages(WITH_BOB).map((m) => [m.seq, m.clientMessageId])).toEqual([
      [1, written.clientMessageId],
    ]);
  });

  it.each([ParleyErrorCode.BadRequest, ParleyErrorCode.Forbidden])(
    'marks a message refused with %s as failed, reports it, and sends the next one',
    async (code) => {
      const server = await startFakeServer();
      const { client, connection } = await connectedClient(server);
      const errors = record(client, 'error');
      const refused = await client.send({ to: BOB }, 'refused');
      const after = await client.send({ to: BOB }, 'after');
      const events = record(client, 'message');

      const first = await connection.nextFrame();
      connection.answer(first, errorAnswer(first, code, 'body: not allowed'));
      const next = await connection.nextFrame();
      connection.answer(next, sentAnswer(next, 1));
      await until(client, () => client.pendingCount() === 0);

      expect(events.filter((m) => m.status === MessageStatus.Failed)).toEqual([
        expect.objectContaining({ clientMessageId: refused.clientMessageId, error: 'body: not allowed' }),
      ]);
      expect(errors).toEqual([expect.objectContaining({ code, message: 'body: not allowed' })]);
      expect(next).toMatchObject({ clientMessageId: after.clientMessageId });
      expect(client.messages(WITH_BOB).map((m) => [m.body, m.status])).toEqual([
        ['after', MessageStatus.Sent],
        ['refused', MessageStatus.Failed],
      ]);
      await expectNothingSent(connection, client);
    },
  );

  it('sends a failed message again, with its clientMessageId, on retry()', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const refused = await client.send({ to: BOB }, 'refused once');
    const first = await connection.nextFrame();
    connection.answer(first, errorAnswer(first, ParleyErrorCode.BadRequest));
    await until(client, () => client.messages(WITH_BOB)[0]?.status === MessageStatus.Failed);

    await client.retry(refused.clientMessageId);
    const again = await connection.nextFrame();
    connection.answer(again, sentAnswer(again, 1));
    await until(client, () => client.messages(WITH_BOB)[0]?.status === MessageStatus.Sent);

    expect(again).toMatchObject({ clientMessageId: refused.clientMessageId });
  });

  it.each([ParleyErrorCode.Internal, ParleyErrorCode.RateLimited])(
    'sends a message answered %s again with the same clientMessageId after a backoff',
    async (code) => {
      useFakeClock();
      const server = await startFakeServer();
      const { client, connection } = await connectedClient(server, { random: () => 0.999 });
      const written = await client.send({ to: BOB }, 'again');
      const first = await connection.nextFrame();

      connection.answer(first, errorAnswer(first, code));
      await processed(connection, client);
      await expectNothingSent(connection, client);
      await vi.advanceTimersByTimeAsync(RECONNECT.maxDelayMs);
      const second = await connection.nextFrame();
      connection.answer(second, sentAnswer(second, 1));
      await until(client, () => client.pendingCount() === 0);

      expect(second).toMatchObject({
        action: 'send',
        clientMessageId: written.clientMessageId,
        body: 'again',
      });
      expect(client.messages(WITH_BOB).map((m) => m.status)).toEqual([MessageStatus.Sent]);
    },
  );

  it('throws OutboxFullError once the outbox holds its limit', async () => {
    const server = await startFakeServer();
    const client = await offlineClient(server, { outboxLimit: 2 });
    await client.send({ to: BOB }, 'one');
    await client.send({ to: CAROL }, 'two');

    await expect(client.send({ to: BOB }, 'three')).rejects.toBeInstanceOf(OutboxFullError);
    expect(client.pendingCount()).toBe(2);
    expect(client.messages(WITH_BOB).map((m) => m.body)).toEqual(['one']);
  });

  it('refuses a body the server would refuse with bad_request, and queues nothing', async () => {
    const server = await startFakeServer();
    const client = await offlineClient(server);

    for (const body of ['', 'x'.repeat(4097), `cut ${'🙂'.slice(0, 1)}`]) {
      await expect(client.send({ to: BOB }, body)).rejects.toMatchObject({
        code: ParleyErrorCode.BadRequest,
        message: expect.stringMatching(/^body: /),
      });
    }
    await client.send({ to: BOB }, '🙂'.repeat(4096));

    expect(client.pendingCount()).toBe(1);
  });

  describe('across a restart', () => {
    let folder: string | undefined;
    afterEach(async () => {
      if (folder) await rm(folder, { recursive: true, force: true });
      folder = undefined;
    });

    it.each([
      [
        'FileStorage',
        async () => {
          folder = await mkdtemp(join(tmpdir(), 'parley-sdk-unit-'));
          return new FileStorage(folder);
        },
      ],
      ['MemoryStorage shared by both clients', async () => new MemoryStorage()],
    ])('sends what the last client left in the outbox (%s)', async (_name, makeStorage) => {
      const server = await startFakeServer();
      const storage = await makeStorage();
      const before = await offlineClient(server, { storage });
      const written = await before.send({ to: BOB }, 'written before the restart');
      await before.close();
      expect(server.connections).toHaveLength(0);
      server.refusing = false;

      const after = await createClient(server, { storage });
      await after.connect();
      expect(after.pendingCount()).toBe(1);
      expect(after.messages(WITH_BOB)).toEqual([
        expect.objectContaining({ clientMessageId: written.clientMessageId, status: MessageStatus.Pending }),
      ]);
      const connection = await server.nextConnection();
      const resent = await connection.nextFrame();
      await answerCatchUp(connection);
      connection.answer(resent, sentAnswer(resent, 1));
      await until(after, () => after.pendingCount() === 0);

      expect(resent).toMatchObject({
        action: 'send',
        clientMessageId: written.clientMessageId,
        body: 'written before the restart',
      });
      await after.close();
      const third = await createClient(server, { storage });
      await third.connect();
      expect(third.pendingCount()).toBe(0);
      await reachedState(third, ConnectionState.Open);
    });

    it('keeps each user’s outbox apart in one shared storage', async () => {
      const server = await startFakeServer();
      const storage = new MemoryStorage();
      const alice = await offlineClient(server, { storage });
      await alice.send({ to: BOB }, 'from alice');
      const bob = await createClient(server, { storage, userId: BOB });
      await bob.connect();

      expect(bob.pendingCount()).toBe(0);
      expect(alice.pendingCount()).toBe(1);
    });
  });
});

describe('a message written long ago, when the server may have forgotten its key', () => {
  const DAY_MS = 24 * 60 * 60 * 1000;

  /**
   * Alice's phone sends `hello`, loses the connection before the answer, and the app is
   * closed; it opens again `laterMs` afterwards with the same storage.
   */
  async function reopenedAfter(laterMs: number) {
    useFakeClock();
    const server = await startFakeServer();
    const storage = new MemoryStorage();
    const { client, connection } = await connectedClient(server, { storage });
    const written = await client.send({ to: BOB }, 'hello');
    const first = await connection.nextFrame();
    await client.close();
    await vi.advanceTimersByTimeAsync(laterMs);
    const reopened = await createClient(server, { storage });
    await reopened.connect();
    return { client: reopened, connection: await server.nextConnection(), written, first };
  }

  it('waits for the catch-up, which finds it stored: it leaves the outbox and is never sent again', async () => {
    const { client, connection, written, first } = await reopenedAfter(DAY_MS + 1);

    const catchUp = await connection.nextFrame();
    connection.answer(catchUp, {
      type: 'conversations',
      hasMore: false,
      cursor: 'cursor-2',
      conversations: [summary(WITH_BOB, 1, { lastMessage: storedFrom(first, 1) })],
    });
    await until(client, () => client.pendingCount() === 0);

    expect(catchUp).toMatchObject({ action: 'conversations' });
    await expectNothingSent(connection, client);
    expectOneSentMessage(client, written);
  });

  it('sends it once the catch-up shows the server does not have it, with the same clientMessageId', async () => {
    const { connection, written } = await reopenedAfter(DAY_MS + 1);

    await answerCatchUp(connection);

    expect(await connection.nextFrame()).toMatchObject({
      action: 'send',
      clientMessageId: written.clientMessageId,
      body: 'hello',
    });
  });

  it('sends one written less than a day ago at once, before the catch-up', async () => {
    const { connection, written } = await reopenedAfter(DAY_MS - 1);

    expect(await connection.nextFrame()).toMatchObject({
      action: 'send',
      clientMessageId: written.clientMessageId,
    });
    await answerCatchUp(connection);
  });

  it('waits a day at most, far inside the 30 days the server keeps a key', () => {
    expect(CHECK_BEFORE_RESEND_AFTER_MS).toBe(DAY_MS);
    expect(IDEMPOTENCY_KEY_DAYS * DAY_MS).toBeGreaterThanOrEqual(20 * CHECK_BEFORE_RESEND_AFTER_MS);
  });
});
