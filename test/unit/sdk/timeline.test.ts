import { MessageStatus } from '@parley/sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Timeline } from '../../../sdk/src/timeline.js';
import {
  ALICE,
  BOB,
  cleanUpSdkTest,
  connectedClient,
  expectNothingSent,
  framesSentSoFar,
  processed,
  record,
  until,
  useFakeClock,
  WITH_BOB,
} from './support/clients.js';
import { startFakeServer } from './support/fake-server.js';
import {
  BASE_TS,
  historyAnswer,
  message,
  messageEvent,
  receipt,
  sentAnswer,
  storedFrom,
  summary,
} from './support/frames.js';

afterEach(cleanUpSdkTest);

describe('Timeline', () => {
  it('drops a repeat of a seq it holds, keeping the first', () => {
    const timeline = new Timeline(WITH_BOB);

    expect(timeline.add(message(1))).toBe(true);
    expect(timeline.add(message(1, { body: 'again' }))).toBe(false);

    expect(timeline.messages().map((m) => m.body)).toEqual(['message 1']);
  });

  it('orders messages by seq whatever order they came in, and tracks the contiguous seq and gaps', () => {
    const timeline = new Timeline(WITH_BOB);

    for (const seq of [3, 1, 5]) timeline.add(message(seq));

    expect(timeline.messages().map((m) => m.seq)).toEqual([1, 3, 5]);
    expect(timeline.contiguousSeq).toBe(1);
    expect(timeline.lastSeq).toBe(5);
    expect(timeline.hasGap).toBe(true);

    for (const seq of [4, 2]) timeline.add(message(seq));

    expect(timeline.messages().map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(timeline.contiguousSeq).toBe(5);
    expect(timeline.hasGap).toBe(false);
    expect(timeline.lastMessage?.seq).toBe(5);
    expect(timeline.updatedAt).toBe(BASE_TS + 5);
  });

  it('moves watermarks forward only, read lifting delivered with it', () => {
    const timeline = new Timeline(WITH_BOB);

    expect(timeline.applyReceipt(BOB, 'read', 3)).toBe(true);
    expect(timeline.applyReceipt(BOB, 'delivered', 2)).toBe(false);
    expect(timeline.applyReceipt(BOB, 'read', 1)).toBe(false);
    expect(timeline.applyReceipt(BOB, 'delivered', 4)).toBe(true);

    expect(timeline.receiptOf(BOB)).toEqual({ userId: BOB, deliveredSeq: 4, readSeq: 3 });
    expect(timeline.receiptOf(ALICE)).toEqual({ userId: ALICE, deliveredSeq: 0, readSeq: 0 });
    // A watermark says the messages up to it exist.
    expect(timeline.lastSeq).toBe(4);
    expect(timeline.hasGap).toBe(true);
  });

  it('takes in a summary of the list, and says when it brought nothing new', () => {
    const timeline = new Timeline(WITH_BOB);
    const listed = summary(WITH_BOB, 3, { receipts: [receipt(BOB, 3, 2)] });

    expect(timeline.applySummary(listed)).toBe(true);
    expect(timeline.applySummary(listed)).toBe(false);

    expect(timeline.lastSeq).toBe(3);
    expect(timeline.has(3)).toBe(true);
    expect(timeline.contiguousSeq).toBe(0);
    expect(timeline.receiptOf(BOB)).toEqual({ userId: BOB, deliveredSeq: 3, readSeq: 2 });
  });

  it('comes back whole from its JSON', () => {
    const timeline = new Timeline(WITH_BOB);
    for (const seq of [2, 1, 4]) timeline.add(message(seq));
    timeline.applyReceipt(BOB, 'read', 2);
    timeline.noteLastSeq(6);

    const restored = Timeline.fromJSON(JSON.parse(JSON.stringify(timeline)));

    expect(restored.messages()).toEqual(timeline.messages());
    expect(restored.contiguousSeq).toBe(2);
    expect(restored.lastSeq).toBe(6);
    expect(restored.updatedAt).toBe(timeline.updatedAt);
    expect(restored.receiptOf(BOB)).toEqual({ userId: BOB, deliveredSeq: 2, readSeq: 2 });
  });
});

describe('the client’s timelines', () => {
  // The delivered ack waits on a timer: under a fake clock it goes only when a test moves the clock.
  beforeEach(useFakeClock);

  it('drops a message event it has already had (same conversationId and seq)', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const events = record(client, 'message');

    connection.send(messageEvent(message(1)));
    connection.send(messageEvent(message(1)));
    await processed(connection, client);

    expect(events).toEqual([expect.objectContaining({ seq: 1, senderId: BOB, status: MessageStatus.Sent })]);
    expect(client.messages(WITH_BOB).map((m) => m.seq)).toEqual([1]);
  });

  it('orders messages that come out of order by seq', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    connection.send(messageEvent(message(2)));
    connection.send(messageEvent(message(1)));
    await processed(connection, client);
    // 2 before 1 looked like a gap for a moment: the sync asked then finds nothing missing.
    const sync = await connection.nextFrame();
    connection.answer(sync, historyAnswer(sync, [message(1), message(2)]));
    await processed(connection, client);

    expect(sync).toMatchObject({ action: 'sync', afterSeq: 0 });
    expect(client.messages(WITH_BOB).map((m) => [m.seq, m.body])).toEqual([
      [1, 'message 1'],
      [2, 'message 2'],
    ]);
  });

  it('asks sync from the seq it holds when a message skips one, and fills the gap', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    connection.send(messageEvent(message(1)));

    connection.send(messageEvent(message(3)));
    const sync = await connection.nextFrame();
    connection.answer(sync, historyAnswer(sync, [message(2), message(3)]));
    await until(client, () => client.messages(WITH_BOB).length === 3);

    expect(sync).toEqual({
      action: 'sync',
      requestId: expect.any(String),
      conversationId: WITH_BOB,
      afterSeq: 1,
      limit: 200,
    });
    expect(client.messages(WITH_BOB).map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it('follows a history page that has more with the next page', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    connection.send(messageEvent(message(5)));
    const first = await connection.nextFrame();
    connection.answer(first, historyAnswer(first, [message(1), message(2)], { lastSeq: 5, hasMore: true }));
    const second = await connection.nextFrame();
    connection.answer(second, historyAnswer(second, [message(3), message(4), message(5)], { lastSeq: 5 }));
    await until(client, () => client.messages(WITH_BOB).length === 5);

    await expectNothingSent(connection, client);

    expect(first).toMatchObject({ action: 'sync', afterSeq: 0 });
    expect(second).toMatchObject({ action: 'sync', afterSeq: 2 });
  });

  it('stops following pages that bring nothing new, however often the server says hasMore', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    connection.send(messageEvent(message(3)));
    const sync = await connection.nextFrame();
    connection.answer(sync, historyAnswer(sync, [], { lastSeq: 3, hasMore: true }));
    await processed(connection, client);

    await expectNothingSent(connection, client);
    expect(client.messages(WITH_BOB).map((m) => m.seq)).toEqual([3]);
  });

  it('shows its own message once when its message event comes before the answer to send', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const events = record(client, 'message');
    const written = await client.send({ to: BOB }, 'mine');
    const send = await connection.nextFrame();

    connection.send(messageEvent(storedFrom(send, 1)));
    await processed(connection, client);
    expect(client.pendingCount()).toBe(0);
    connection.answer(send, sentAnswer(send, 1));
    await processed(connection, client);

    expect(client.messages(WITH_BOB)).toEqual([
      expect.objectContaining({
        seq: 1,
        clientMessageId: written.clientMessageId,
        body: 'mine',
        mine: true,
        status: MessageStatus.Sent,
      }),
    ]);
    expect(events.map((event) => [event.clientMessageId, event.status])).toEqual([
      [written.clientMessageId, MessageStatus.Pending],
      [written.clientMessageId, MessageStatus.Sent],
    ]);
    await expectNothingSent(connection, client);
  });

  it("never shows seq n+1 before n when the send's fast path brings n+1 before the stream brings n: it shows them in order, each once, and asks sync for the gap", async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const events = record(client, 'message');
    const views: number[][] = [];
    client.on('message', () => views.push(client.messages(WITH_BOB).map((m) => m.seq)));
    connection.send(messageEvent(message(1)));

    // Seq 3 by the fast path; then the stream's 2, and its repeat of 3.
    connection.send(messageEvent(message(3)));
    const sync = await connection.nextFrame();
    connection.send(messageEvent(message(2)));
    connection.send(messageEvent(message(3)));
    await processed(connection, client);
    connection.answer(sync, historyAnswer(sync, [message(2), message(3)]));
    await processed(connection, client);

    expect(sync).toMatchObject({ action: 'sync', conversationId: WITH_BOB, afterSeq: 1 });
    expect(events.map((event) => event.seq)).toEqual([1, 3, 2]);
    // Every view the app could draw is in seq order, 3 never above 2.
    expect(views).toEqual([[1], [1, 3], [1, 2, 3]]);
    expect(client.messages(WITH_BOB).map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it('syncs again after the page when a gap opened while a sync was in flight', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    connection.send(messageEvent(message(1)));
    connection.send(messageEvent(message(3)));
    const first = await connection.nextFrame();

    // 5 comes (4 is missing) while the sync for 2 is out; the answer predates 4 and 5.
    connection.send(messageEvent(message(5)));
    await processed(connection, client);
    connection.answer(first, historyAnswer(first, [message(2), message(3)]));
    await processed(connection, client);
    const [second, ...rest] = await framesSentSoFar(connection, client);
    expect(first).toMatchObject({ action: 'sync', afterSeq: 1 });
    expect(second).toMatchObject({ action: 'sync', afterSeq: 3 });
    expect(rest).toEqual([]);

    if (second) connection.answer(second, historyAnswer(second, [message(4), message(5)]));
    await until(client, () => client.messages(WITH_BOB).length === 5);
    expect(client.messages(WITH_BOB).map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
  });
});
