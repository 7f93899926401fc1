import {
  type ChatMessage,
  DEFAULT_ACK_WINDOW_MS,
  MemoryStorage,
  MessageStatus,
  type ParleyClient,
} from '@parley/sdk';
import { afterEach, describe, expect, it, vi } from 'vitest';
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
  record,
  until,
  useFakeClock,
} from './support/clients.js';
import type { FakeConnection } from './support/fake-server.js';
import { startFakeServer } from './support/fake-server.js';
import {
  errorAnswer,
  GROUP,
  groupEvent,
  groupMessage,
  groupSummary,
  historyAnswer,
  messageEvent,
  receipt,
  receiptEvent,
  sentAnswer,
} from './support/frames.js';

afterEach(cleanUpSdkTest);

/** How long the client gathers a burst before it acknowledges delivery. */
const ACK_GATHER_MS = DEFAULT_ACK_WINDOW_MS;

const created = (from = ALICE, members = [ALICE, BOB, CAROL]) =>
  groupEvent(1, { kind: 'group-created', from, title: 'Lunch', members });

function groupReceipt(kind: 'delivered' | 'read', seq: number) {
  return { type: 'groupReceipt', conversationId: GROUP, kind, seq };
}

/** A connected client of alice, who created the group (seq 1) and sent "hi" into it (seq 2). */
async function aliceInHerGroup(): Promise<{ client: ParleyClient; connection: FakeConnection }> {
  const server = await startFakeServer();
  const { client, connection } = await connectedClient(server);
  connection.send(messageEvent(created()));
  await client.send({ conversationId: GROUP }, 'hi');
  const send = await connection.nextFrame();
  connection.answer(send, sentAnswer(send, 2));
  await until(client, () => client.pendingCount() === 0);
  return { client, connection };
}

function ticks(message: ChatMessage | undefined) {
  return [message?.status, message?.deliveredToAll, message?.readByAll];
}

describe('membership events as typed messages', () => {
  it('gives each event its kind and fields, a text message kind text, and keeps the group’s entry up to date', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    for (const event of [
      created(BOB, [BOB, ALICE]),
      groupEvent(2, { kind: 'members-added', from: BOB, members: [CAROL, 'dave'] }),
      { ...groupMessage(3, { from: CAROL }), kind: undefined },
      groupEvent(4, { kind: 'title-changed', from: BOB, title: 'Dinner' }),
      groupEvent(5, { kind: 'member-removed', from: BOB, userId: 'dave' }),
      groupEvent(6, { kind: 'admin-changed', from: BOB, userId: CAROL, admin: true }),
    ])
      connection.send(messageEvent(event));
    await processed(connection, client);

    expect(client.messages(GROUP)).toEqual([
      expect.objectContaining({
        seq: 1,
        kind: 'group-created',
        title: 'Lunch',
        members: [BOB, ALICE],
        body: '',
      }),
      expect.objectContaining({ seq: 2, kind: 'members-added', members: [CAROL, 'dave'] }),
      expect.objectContaining({ seq: 3, kind: 'text', body: 'message 3', senderId: CAROL }),
      expect.objectContaining({ seq: 4, kind: 'title-changed', title: 'Dinner' }),
      expect.objectContaining({ seq: 5, kind: 'member-removed', userId: 'dave' }),
      expect.objectContaining({ seq: 6, kind: 'admin-changed', userId: CAROL, admin: true }),
    ]);
    expect(client.conversations()).toEqual([
      expect.objectContaining({
        conversationId: GROUP,
        kind: 'group',
        title: 'Dinner',
        memberCount: 3,
        member: true,
        lastSeq: 6,
        // Only carol's text counts: events are not messages to read.
        unread: 1,
      }),
    ]);
  });

  it('applies events that arrive out of order as if in order', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    connection.send(messageEvent(groupEvent(3, { kind: 'title-changed', from: BOB, title: 'Later' })));
    connection.send(messageEvent(groupEvent(2, { kind: 'title-changed', from: BOB, title: 'Earlier' })));
    const sync = await connection.nextFrame();
    connection.answer(sync, historyAnswer(sync, [created(BOB)], { lastSeq: 3 }));
    await until(client, () => client.messages(GROUP).length === 3);

    expect(sync).toMatchObject({ action: 'sync', conversationId: GROUP, afterSeq: 0 });
    expect(client.conversations()[0]).toMatchObject({ title: 'Later', memberCount: 3 });
  });

  it('marks the group left once this user is removed, and acknowledges nothing there after', async () => {
    useFakeClock();
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    connection.send(messageEvent(created(BOB)));
    await processed(connection, client);
    await vi.advanceTimersByTimeAsync(ACK_GATHER_MS);
    const ack = await connection.nextFrame();
    connection.send(receiptEvent(GROUP, ALICE, 'delivered', 1));

    connection.send(messageEvent(groupEvent(2, { kind: 'member-removed', from: BOB, userId: ALICE })));
    await processed(connection, client);
    await vi.advanceTimersByTimeAsync(ACK_GATHER_MS);
    await client.markRead(GROUP);

    expect(ack).toMatchObject({ action: 'ack', conversationId: GROUP, kind: 'delivered', seq: 1 });
    await expectNothingSent(connection, client);
    expect(client.conversations()[0]).toMatchObject({ member: false, memberCount: 2 });
  });

  it('asks groupInfo once for the title of a group it was added to after its creation', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    connection.send(messageEvent(groupEvent(5, { kind: 'members-added', from: BOB, members: [ALICE] })));
    const info = await connection.nextFrame();
    connection.answer(info, {
      type: 'group',
      conversationId: GROUP,
      title: 'Lunch',
      createdBy: BOB,
      lastSeq: 5,
      memberCount: 4,
      members: [],
      hasMore: false,
    });
    await until(client, () => client.conversations()[0]?.title === 'Lunch');

    expect(info).toMatchObject({ action: 'groupInfo', conversationId: GROUP });
    // Its own addition is where its window starts: nothing before it is missing.
    expect(client.conversations()[0]).toMatchObject({ memberCount: 4, lastSeq: 5, unread: 0 });
    connection.send(messageEvent(groupMessage(6, { from: BOB })));
    await processed(connection, client);
    expect(
      connection.frames.filter((frame) => frame.action === 'groupInfo' || frame.action === 'sync'),
    ).toEqual([info]);
  });
});

describe('learning the title of a group joined late', () => {
  const addedAt5 = () => messageEvent(groupEvent(5, { kind: 'members-added', from: BOB, members: [ALICE] }));

  it('reports a refused groupInfo as an error event, and asks again when the group moves', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const errors = record(client, 'error');

    connection.send(addedAt5());
    const first = await connection.nextFrame();
    connection.answer(first, errorAnswer(first, 'internal', 'try again'));
    await until(client, () => errors.length === 1);
    connection.send(messageEvent(groupMessage(6, { from: BOB })));
    const second = await connection.nextFrame();

    expect(errors).toEqual([expect.objectContaining({ code: 'internal', message: 'try again' })]);
    expect([first.action, second.action]).toEqual(['groupInfo', 'groupInfo']);
  });

  it('reports no error for a connection lost before the groupInfo answer', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const errors = record(client, 'error');

    connection.send(addedAt5());
    expect(await connection.nextFrame()).toMatchObject({ action: 'groupInfo' });
    connection.drop();
    const next = await server.nextConnection();
    await answerCatchUp(next);
    await processed(next, client);

    expect(errors).toEqual([]);
    expect(client.conversations()[0]).not.toHaveProperty('title');
  });
});

describe('ticks for everyone', () => {
  it('shows a message delivered to all, then read by all, as groupReceipt says', async () => {
    const { client, connection } = await aliceInHerGroup();
    const events = record(client, 'message');
    expect(ticks(client.messages(GROUP)[1])).toEqual([MessageStatus.Sent, false, false]);

    connection.send(groupReceipt('delivered', 2));
    await processed(connection, client);
    expect(ticks(client.messages(GROUP)[1])).toEqual([MessageStatus.Delivered, true, false]);
    connection.send(groupReceipt('read', 2));
    await processed(connection, client);

    expect(ticks(client.messages(GROUP)[1])).toEqual([MessageStatus.Read, true, true]);
    expect(events.filter((m) => m.seq === 2).map((m) => m.status)).toEqual([
      MessageStatus.Delivered,
      MessageStatus.Read,
    ]);
    expect(client.conversations()[0]).toMatchObject({ everyone: { deliveredSeq: 2, readSeq: 2 } });
  });

  it('keeps the ticks where they are for a groupReceipt lower than the last', async () => {
    const { client, connection } = await aliceInHerGroup();

    connection.send(groupReceipt('read', 2));
    connection.send(groupReceipt('delivered', 1));
    await processed(connection, client);

    expect(ticks(client.messages(GROUP)[1])).toEqual([MessageStatus.Read, true, true]);
  });

  it('takes everyone’s watermarks from a history answer', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    connection.send(messageEvent(groupMessage(2, { body: 'mine' })));
    const sync = await connection.nextFrame();
    connection.answer(
      sync,
      historyAnswer(sync, [created(), groupMessage(2, { body: 'mine' })], {
        receipts: [receipt(ALICE, 2, 2)],
        everyone: { deliveredSeq: 2, readSeq: 1 },
      }),
    );
    await until(client, () => client.messages(GROUP)[1]?.status === MessageStatus.Delivered);

    expect(client.messages(GROUP).map(ticks)).toEqual([
      [MessageStatus.Read, true, true],
      [MessageStatus.Delivered, true, false],
    ]);
  });

  it('shows the user’s own receipt from its other devices: the unread count drops everywhere', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    connection.send(messageEvent(created(BOB)));
    connection.send(messageEvent(groupMessage(2, { from: BOB })));
    await processed(connection, client);
    expect(client.unreadCount(GROUP)).toBe(1);

    connection.send(receiptEvent(GROUP, ALICE, 'read', 2));
    await processed(connection, client);

    expect(client.unreadCount(GROUP)).toBe(0);
    expect(client.messages(GROUP)[1]?.status).toBe(MessageStatus.Read);
  });
});

describe('catching up on groups', () => {
  it('lists a group from the conversations answer and syncs it from where this user joined', async () => {
    const server = await startFakeServer();
    const client = await createClient(server);
    await client.connect();
    const connection = await server.nextConnection();
    const summary = groupSummary(12, { memberCount: 4, everyone: { deliveredSeq: 11, readSeq: 10 } });
    const list = await answerCatchUp(connection, { conversations: [summary] });
    const sync = await connection.nextFrame();
    connection.answer(
      sync,
      historyAnswer(sync, [
        groupEvent(10, { kind: 'members-added', from: BOB, members: [ALICE] }),
        groupMessage(11),
        groupMessage(12, { from: BOB }),
      ]),
    );
    await until(client, () => client.messages(GROUP).length === 3);
    await processed(connection, client);

    expect(list).toMatchObject({ action: 'conversations' });
    expect(sync).toMatchObject({ action: 'sync', conversationId: GROUP, afterSeq: 0 });
    expect(client.conversations()).toEqual([
      expect.objectContaining({
        kind: 'group',
        title: 'Lunch',
        memberCount: 4,
        member: true,
        lastSeq: 12,
        unread: 1,
        everyone: { deliveredSeq: 11, readSeq: 10 },
      }),
    ]);
    expect(ticks(client.messages(GROUP)[1])).toEqual([MessageStatus.Delivered, true, false]);
    // Nothing before seq 10 is missing: no sync asks for it again.
    expect(connection.frames.filter((frame) => frame.action === 'sync')).toHaveLength(1);
  });

  it('takes a group the user left from the list, with member false', async () => {
    const server = await startFakeServer();
    const client = await createClient(server);
    await client.connect();
    const connection = await server.nextConnection();
    await answerCatchUp(connection, {
      conversations: [groupSummary(0, { member: false, memberCount: 2, lastSeq: 0 })],
    });
    await until(client, () => client.conversations().length === 1);

    expect(client.conversations()[0]).toMatchObject({ kind: 'group', member: false, memberCount: 2 });
  });
});

describe('a group across a restart', () => {
  it('keeps its title, size, window and everyone’s ticks in storage', async () => {
    const server = await startFakeServer();
    const storage = new MemoryStorage();
    const before = await createClient(server, { storage });
    await before.connect();
    const first = await server.nextConnection();
    const everyone = { deliveredSeq: 11, readSeq: 0 };
    const summary = groupSummary(11, { memberCount: 4, everyone, lastMessage: groupMessage(11) });
    await answerCatchUp(first, { conversations: [summary] });
    const sync = await first.nextFrame();
    first.answer(
      sync,
      historyAnswer(sync, [
        groupEvent(10, { kind: 'members-added', from: BOB, members: [ALICE] }),
        groupMessage(11),
      ]),
    );
    await until(before, () => before.messages(GROUP).length === 2);
    await before.close();

    const after = await createClient(server, { storage });
    await after.connect();
    expect(after.conversations()).toEqual([
      expect.objectContaining({
        kind: 'group',
        title: 'Lunch',
        memberCount: 4,
        everyone: { deliveredSeq: 11, readSeq: 0 },
      }),
    ]);
    expect(ticks(after.messages(GROUP)[1])).toEqual([MessageStatus.Delivered, true, false]);
    const second = await server.nextConnection();
    await answerCatchUp(second);
    await processed(second, after);
    // The window starts at seq 10: no sync asks for what came before.
    expect((await framesSentSoFar(second, after)).filter((frame) => frame.action === 'sync')).toEqual([]);
  });
});

describe('typing in a group', () => {
  it('sends typing with the group’s id and shows every member who types', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    client.typing(GROUP);
    const start = await connection.nextFrame();
    connection.send({ type: 'typing', conversationId: GROUP, userId: BOB, state: 'start' });
    connection.send({ type: 'typing', conversationId: GROUP, userId: CAROL, state: 'start' });
    await processed(connection, client);

    expect(start).toEqual({ action: 'typing', conversationId: GROUP, state: 'start' });
    expect(client.typingIn(GROUP).sort()).toEqual([BOB, CAROL]);
    client.stopTyping(GROUP);
  });
});
