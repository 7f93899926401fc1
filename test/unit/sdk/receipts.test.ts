import {
  ConnectionState,
  DEFAULT_ACK_WINDOW_MS,
  MemoryStorage,
  MessageStatus,
  type ParleyClient,
} from '@parley/sdk';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ALICE,
  answerCatchUp,
  BOB,
  cleanUpSdkTest,
  connectedClient,
  createClient,
  expectNothingSent,
  framesSentSoFar,
  processed,
  RECONNECT,
  record,
  until,
  useFakeClock,
  WITH_BOB,
} from './support/clients.js';
import type { FakeConnection, FakeServer } from './support/fake-server.js';
import { startFakeServer } from './support/fake-server.js';
import {
  historyAnswer,
  message,
  messageEvent,
  receipt,
  receiptEvent,
  sentAnswer,
  summary,
} from './support/frames.js';

afterEach(cleanUpSdkTest);
// Acks wait on a timer: under a fake clock they go only when a test moves the clock.
beforeEach(useFakeClock);

/** How long the client gathers acks before it sends them. */
const ACK_GATHER_MS = DEFAULT_ACK_WINDOW_MS;
/** How long a sent ack waits for its receipt before it goes again (the request timeout). */
const CONFIRM_MS = 10_000;

/** The receipt event that confirms an ack, as the server's fanout posts it to the acking device. */
function confirmed(ack: Record<string, unknown>) {
  return receiptEvent(
    ack.conversationId as string,
    ALICE,
    ack.kind as 'delivered' | 'read',
    ack.seq as number,
  );
}

/** A connected client holding bob's messages 1..count, delivered (acknowledged). */
async function holdingBobsMessages(
  count: number,
): Promise<{ client: ParleyClient; connection: FakeConnection; server: FakeServer }> {
  const server = await startFakeServer();
  const { client, connection } = await connectedClient(server);
  for (let seq = 1; seq <= count; seq++) connection.send(messageEvent(message(seq)));
  await processed(connection, client);
  await vi.advanceTimersByTimeAsync(ACK_GATHER_MS);
  const ack = await connection.nextFrame();
  expect(ack).toMatchObject({ action: 'ack', kind: 'delivered', seq: count });
  connection.send(confirmed(ack));
  await processed(connection, client);
  return { client, connection, server };
}

/** A client that sent `read` 2 of bob's messages, lost its connection unconfirmed, and reconnected. */
async function reconnectedAfterUnconfirmedRead(): Promise<{ client: ParleyClient; again: FakeConnection }> {
  const { client, connection, server } = await holdingBobsMessages(2);
  await client.markRead(WITH_BOB);
  await vi.advanceTimersByTimeAsync(ACK_GATHER_MS);
  expect(await connection.nextFrame()).toMatchObject({ action: 'ack', kind: 'read', seq: 2 });
  connection.drop();
  await until(client, () => client.state !== ConnectionState.Open);

  await vi.advanceTimersByTimeAsync(RECONNECT.maxDelayMs);
  const again = await server.nextConnection();
  return { client, again };
}

describe('delivery receipts sent by the client', () => {
  it('acknowledges a burst of the peer’s messages once, up to the last', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    for (const seq of [1, 2, 3]) connection.send(messageEvent(message(seq)));
    await processed(connection, client);
    await expectNothingSent(connection, client);
    await vi.advanceTimersByTimeAsync(ACK_GATHER_MS);
    const ack = await connection.nextFrame();
    connection.send(confirmed(ack));
    await processed(connection, client);
    await vi.advanceTimersByTimeAsync(ACK_GATHER_MS * 10);

    expect(ack).toEqual({ action: 'ack', conversationId: WITH_BOB, seq: 3, kind: 'delivered' });
    await expectNothingSent(connection, client);
  });

  it('acknowledges up to the contiguous seq only, and the rest once the gap is filled', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    for (const seq of [1, 2, 4]) connection.send(messageEvent(message(seq)));
    const sync = await connection.nextFrame();
    await vi.advanceTimersByTimeAsync(ACK_GATHER_MS);
    const firstAck = await connection.nextFrame();
    connection.send(confirmed(firstAck));
    connection.answer(sync, historyAnswer(sync, [message(3), message(4)]));
    await processed(connection, client);
    await vi.advanceTimersByTimeAsync(ACK_GATHER_MS);
    const secondAck = await connection.nextFrame();

    expect(sync).toMatchObject({ action: 'sync', afterSeq: 2 });
    expect(firstAck).toMatchObject({ action: 'ack', kind: 'delivered', seq: 2 });
    expect(secondAck).toMatchObject({ action: 'ack', kind: 'delivered', seq: 4 });
  });

  it('does not acknowledge what its user’s delivered watermark already covers', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    // The user's laptop acknowledged both before this device's timer ran out.
    connection.send(messageEvent(message(1)));
    connection.send(messageEvent(message(2)));
    connection.send(receiptEvent(WITH_BOB, ALICE, 'delivered', 2));
    await processed(connection, client);
    await vi.advanceTimersByTimeAsync(ACK_GATHER_MS);

    await expectNothingSent(connection, client);
  });

  it('does not acknowledge its own messages', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    await client.send({ to: BOB }, 'mine');
    const send = await connection.nextFrame();
    connection.answer(send, sentAnswer(send, 1));
    await until(client, () => client.pendingCount() === 0);
    await vi.advanceTimersByTimeAsync(ACK_GATHER_MS);

    await expectNothingSent(connection, client);
  });
});

describe('the ack window', () => {
  it('gathers acks for ackWindowMs when the client sets it', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server, { ackWindowMs: 2_000 });

    connection.send(messageEvent(message(1)));
    await processed(connection, client);
    await vi.advanceTimersByTimeAsync(1_999);
    await expectNothingSent(connection, client);
    connection.send(messageEvent(message(2)));
    await processed(connection, client);
    await vi.advanceTimersByTimeAsync(1);
    const ack = await connection.nextFrame();
    connection.send(confirmed(ack));
    await processed(connection, client);

    expect(ack).toEqual({ action: 'ack', conversationId: WITH_BOB, seq: 2, kind: 'delivered' });
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('refuses ackWindowMs %s', async (ackWindowMs) => {
    const server = await startFakeServer();

    await expect(createClient(server, { ackWindowMs })).rejects.toThrow(
      new TypeError('ackWindowMs: must be a number of milliseconds, 0 or more'),
    );
  });
});

describe('reading', () => {
  it('sends ack read up to what it holds on markRead, and the unread count drops to 0 at once', async () => {
    const { client, connection } = await holdingBobsMessages(3);
    expect(client.unreadCount(WITH_BOB)).toBe(3);

    await client.markRead(WITH_BOB);
    expect(client.unreadCount(WITH_BOB)).toBe(0);
    await vi.advanceTimersByTimeAsync(ACK_GATHER_MS);
    const ack = await connection.nextFrame();
    connection.send(confirmed(ack));
    await processed(connection, client);

    expect(ack).toMatchObject({ action: 'ack', conversationId: WITH_BOB, kind: 'read', seq: 3 });
    expect(client.messages(WITH_BOB).map((m) => m.status)).toEqual([
      MessageStatus.Read,
      MessageStatus.Read,
      MessageStatus.Read,
    ]);
    expect(client.conversations()).toEqual([
      expect.objectContaining({ conversationId: WITH_BOB, unread: 0 }),
    ]);
  });

  it('sends nothing on markRead when everything held is read already', async () => {
    const { client, connection } = await holdingBobsMessages(1);
    await client.markRead(WITH_BOB);
    await vi.advanceTimersByTimeAsync(ACK_GATHER_MS);
    const ack = await connection.nextFrame();
    connection.send(confirmed(ack));
    await processed(connection, client);

    await client.markRead(WITH_BOB);
    await vi.advanceTimersByTimeAsync(ACK_GATHER_MS);

    await expectNothingSent(connection, client);
  });

  it('clears the unread count on a read receipt from its user’s other device, without acking again', async () => {
    const { client, connection } = await holdingBobsMessages(2);
    expect(client.unreadCount(WITH_BOB)).toBe(2);
    const events = record(client, 'message');

    connection.send(receiptEvent(WITH_BOB, ALICE, 'read', 2));
    await processed(connection, client);

    expect(client.unreadCount(WITH_BOB)).toBe(0);
    expect(events.map((m) => [m.seq, m.status])).toEqual([
      [1, MessageStatus.Read],
      [2, MessageStatus.Read],
    ]);
    await expectNothingSent(connection, client);
  });

  it('counts as unread the peer’s messages it knows exist but does not hold yet', async () => {
    const { client, connection } = await holdingBobsMessages(2);
    connection.send(receiptEvent(WITH_BOB, ALICE, 'read', 1));
    connection.send(receiptEvent(WITH_BOB, BOB, 'delivered', 4));

    const frames = await framesSentSoFar(connection, client);

    // 2 is held and unread, 3 and 4 exist (bob's watermark says so) and are being fetched.
    expect(frames).toEqual([expect.objectContaining({ action: 'sync', afterSeq: 2 })]);
    expect(client.unreadCount(WITH_BOB)).toBe(3);
  });
});

describe('the status of the user’s own messages', () => {
  it('moves from pending to sent to delivered to read with the answer and the peer’s receipts', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const events = record(client, 'message');
    const written = await client.send({ to: BOB }, 'are you there?');
    const statusOf = () =>
      client.messages(WITH_BOB).find((m) => m.clientMessageId === written.clientMessageId)?.status;
    const send = await connection.nextFrame();

    connection.answer(send, sentAnswer(send, 1));
    await until(client, () => statusOf() === MessageStatus.Sent);
    connection.send(receiptEvent(WITH_BOB, BOB, 'delivered', 1));
    await until(client, () => statusOf() === MessageStatus.Delivered);
    connection.send(receiptEvent(WITH_BOB, BOB, 'read', 1));
    await until(client, () => statusOf() === MessageStatus.Read);

    expect(events.map((m) => m.status)).toEqual([
      MessageStatus.Pending,
      MessageStatus.Sent,
      MessageStatus.Delivered,
      MessageStatus.Read,
    ]);
    expect(client.conversations()[0]?.lastMessage).toMatchObject({ status: MessageStatus.Read });
  });

  it('goes straight to read on a read receipt, and never back on an older receipt', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    await client.send({ to: BOB }, 'one');
    const send = await connection.nextFrame();
    connection.answer(send, sentAnswer(send, 1));
    await until(client, () => client.pendingCount() === 0);

    connection.send(receiptEvent(WITH_BOB, BOB, 'read', 1));
    connection.send(receiptEvent(WITH_BOB, BOB, 'delivered', 1));
    await processed(connection, client);

    expect(client.messages(WITH_BOB).map((m) => m.status)).toEqual([MessageStatus.Read]);
  });
});

describe('read receipts made while the connection is down', () => {
  it('sends the read watermark once connected again, and stops showing it as unsent', async () => {
    const { client, connection, server } = await holdingBobsMessages(2);
    connection.drop();
    await until(client, () => client.state !== ConnectionState.Open);

    await client.markRead(WITH_BOB);
    expect(client.unreadCount(WITH_BOB)).toBe(0);

    await vi.advanceTimersByTimeAsync(RECONNECT.maxDelayMs);
    const again = await server.nextConnection();
    await answerCatchUp(again);
    const read = await again.nextFrame();
    expect(read).toEqual({ action: 'ack', conversationId: WITH_BOB, kind: 'read', seq: 2 });
    again.send(confirmed(read));
    await processed(again, client);
    await vi.advanceTimersByTimeAsync(CONFIRM_MS * 10);
    await expectNothingSent(again, client);
  });
});

describe('acks the server does not confirm', () => {
  // The server may raise a watermark and then fail to publish its receipt: only the same
  // ack sent again makes it publish, so the client repeats an ack until a receipt reports it.
  it('reports an error answer, and sends the ack again when no receipt confirms it in time', async () => {
    const { client, connection } = await holdingBobsMessages(2);
    const errors = record(client, 'error');

    await client.markRead(WITH_BOB);
    await vi.advanceTimersByTimeAsync(ACK_GATHER_MS);
    const first = await connection.nextFrame();
    expect(first).toEqual({ action: 'ack', conversationId: WITH_BOB, kind: 'read', seq: 2 });
    connection.send({ type: 'error', requestId: null, code: 'internal', message: 'internal: try again' });
    await processed(connection, client);
    await expectNothingSent(connection, client);

    await vi.advanceTimersByTimeAsync(CONFIRM_MS);
    const again = await connection.nextFrame();
    expect(again).toEqual(first);
    connection.send(confirmed(again));
    await processed(connection, client);
    await vi.advanceTimersByTimeAsync(CONFIRM_MS * 10);

    await expectNothingSent(connection, client);
    expect(errors.map((error) => error.code)).toEqual(['internal']);
  });

  it('keeps an unconfirmed read across a restart, and sends it after the next catch-up', async () => {
    const server = await startFakeServer();
    const storage = new MemoryStorage();
    const { client, connection } = await connectedClient(server, { storage });
    for (const seq of [1, 2]) connection.send(messageEvent(message(seq)));
    await processed(connection, client);
    await vi.advanceTimersByTimeAsync(ACK_GATHER_MS);
    const delivered = await connection.nextFrame();
    connection.send(confirmed(delivered));
    await processed(connection, client);

    await client.markRead(WITH_BOB);
    await vi.advanceTimersByTimeAsync(ACK_GATHER_MS);
    const read = await connection.nextFrame();
    expect(read).toMatchObject({ action: 'ack', kind: 'read', seq: 2 });
    await client.close();

    const restarted = await createClient(server, { storage });
    await restarted.connect();
    const again = await server.nextConnection();
    await answerCatchUp(again);
    const resent = await again.nextFrame();
    expect(resent).toEqual({ action: 'ack', conversationId: WITH_BOB, kind: 'read', seq: 2 });
    again.send(confirmed(resent));
    await processed(again, restarted);
    expect(restarted.unreadCount(WITH_BOB)).toBe(0);
  });

  it('sends an ack again after a reconnect when only history reports it stored, not the list', async () => {
    const { client, again } = await reconnectedAfterUnconfirmedRead();
    // The read was stored, its receipt never published: the list entry still says 0. Seq 3
    // is missing, so the client syncs, and history reports the stored watermark.
    await answerCatchUp(again, {
      conversations: [summary(WITH_BOB, 4, { receipts: [receipt(ALICE, 2, 0), receipt(BOB, 4, 4)] })],
    });
    const sync = await again.nextFrame();
    expect(sync).toMatchObject({ action: 'sync', conversationId: WITH_BOB, afterSeq: 2 });
    const read = { action: 'ack', conversationId: WITH_BOB, kind: 'read', seq: 2 };
    expect(await again.nextFrame()).toEqual(read); // the reconnect's resend, before history is in
    again.answer(sync, historyAnswer(sync, [message(3), message(4)], { receipts: [receipt(ALICE, 2, 2)] }));
    await processed(again, client);

    // History's watermark confirms nothing: the read goes again with the next acks.
    await vi.advanceTimersByTimeAsync(CONFIRM_MS);
    expect(await framesSentSoFar(again, client)).toContainEqual(read);
  });

  it('does not send an ack again after a reconnect when the catch-up reports it taken', async () => {
    const { client, again } = await reconnectedAfterUnconfirmedRead();
    await answerCatchUp(again, {
      conversations: [summary(WITH_BOB, 2, { receipts: [receipt(ALICE, 2, 2), receipt(BOB, 2, 2)] })],
    });
    await processed(again, client);
    await vi.advanceTimersByTimeAsync(CONFIRM_MS * 10);

    await expectNothingSent(again, client);
  });
});
