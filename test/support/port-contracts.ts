/**
 * The contracts of the stores and the event publisher of `lambdas/domain/ports.ts`, as one
 * suite that runs against any implementation: the in-memory ones
 * (`test/unit/in-memory-ports.test.ts`) and the AWS adapters on DynamoDB Local and
 * kinesis-mock (`test/integration/port-contracts.test.ts`). A fake that drifts from the real
 * store fails here, not in a domain test that trusted it. (The connection pusher has no
 * engine here to run against: its adapter's tests are `test/unit/connection-pusher.test.ts`.)
 *
 * The stores of one run may share their tables and stream, so every test works under ids
 * of its own.
 */
import { randomBytes } from 'node:crypto';
import type { Message } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import type {
  Connection,
  ConnectionStore,
  ConversationEntryState,
  ConversationListStore,
  EventPublisher,
  MessageStore,
  PresenceStore,
  PresenceSubscription,
  PresenceSubscriptionStore,
  ReceiptStore,
  StreamEvent,
} from '../../lambdas/domain/ports.js';

/** How to make each store; those that read a clock read `now`. */
export interface PortFactories {
  messages: () => MessageStore;
  /** Receipts live beside the messages of a conversation: made on the same table as `messages`. */
  receipts: () => ReceiptStore;
  conversationList: (now: () => number) => ConversationListStore;
  connections: (now: () => number) => ConnectionStore;
  presence: () => PresenceStore;
  presenceSubscriptions: (now: () => number) => PresenceSubscriptionStore;
  /** A publisher, and what a consumer of the stream reads of it: every record so far, in stream order. */
  publisher: () => {
    publisher: EventPublisher;
    published: () => Promise<Array<{ partitionKey: string; event: StreamEvent }>>;
  };
}

const uniqueId = (prefix: string) => `${prefix}${randomBytes(4).toString('hex')}`;

/** 2025-11-28T00:33:20.123Z, in milliseconds, and in the seconds the expiries are given in. */
const NOW = 1_764_290_000_123;
const NOW_SECONDS = Math.floor(NOW / 1000);

export function describePortContracts(implementation: string, factories: PortFactories): void {
  describe(`the message store (${implementation})`, () => describeMessageStore(factories));
  describe(`the receipt store (${implementation})`, () => describeReceiptStore(factories));
  describe(`the conversation list store (${implementation})`, () => describeConversationListStore(factories));
  describe(`the connection store (${implementation})`, () => describeConnectionStore(factories));
  describe(`the presence store (${implementation})`, () => describePresenceStore(factories));
  describe(`the presence subscription store (${implementation})`, () =>
    describePresenceSubscriptionStore(factories));
  describe(`the event publisher (${implementation})`, () => describeEventPublisher(factories));
}

// ---------------------------------------------------------------------------------------
// Messages and receipts
// ---------------------------------------------------------------------------------------

const message = (
  conversationId: string,
  seq: number,
  clientMessageId: string,
  senderId = 'alice',
): Message => ({
  conversationId,
  seq,
  messageId: `id-${seq}-${clientMessageId}`,
  clientMessageId,
  senderId,
  senderDeviceId: 'phone',
  body: `body ${seq}`,
  serverTs: 1_700_000_000_000 + seq,
});

function describeMessageStore(factories: PortFactories): void {
  it('knows no message of a conversation never written to', async () => {
    const messages = factories.messages();
    const conversationId = uniqueId('dm:a:b');

    expect(await messages.lastSeq(conversationId)).toBe(0);
    expect(await messages.getMessage(conversationId, 1)).toBeUndefined();
    expect(await messages.listMessages(conversationId, 0, 10)).toEqual({ messages: [], lastSeq: 0 });
  });

  it('stores a message with its key, and refuses the same key and the same seq by their conditions', async () => {
    const messages = factories.messages();
    const conversationId = uniqueId('dm:a:b');
    const first = message(conversationId, 1, 'k1');

    const stored = await messages.storeMessage(first);
    const sameKey = await messages.storeMessage(message(conversationId, 2, 'k1'));
    const sameSeq = await messages.storeMessage(message(conversationId, 1, 'k2'));

    expect(stored).toEqual({ status: 'stored' });
    expect(sameKey).toEqual({
      status: 'duplicate',
      original: { seq: 1, messageId: first.messageId, serverTs: first.serverTs },
    });
    expect(sameSeq).toEqual({ status: 'seq_taken' });
    expect(await messages.getMessage(conversationId, 1)).toEqual(first);
    expect(await messages.lastSeq(conversationId)).toBe(1);
    // The refused writes stored nothing: seq 2 does not exist, k2 is free.
    expect(await messages.getMessage(conversationId, 2)).toBeUndefined();
    expect(await messages.storeMessage(message(conversationId, 2, 'k2'))).toEqual({ status: 'stored' });
  });

  it('answers a taken key as a duplicate even when the seq is taken as well', async () => {
    const messages = factories.messages();
    const conversationId = uniqueId('dm:a:b');
    const first = message(conversationId, 1, 'k1');
    await messages.storeMessage(first);

    const again = await messages.storeMessage({ ...first, messageId: 'another', serverTs: 1 });

    expect(again).toEqual({
      status: 'duplicate',
      original: { seq: 1, messageId: first.messageId, serverTs: first.serverTs },
    });
    expect(await messages.getMessage(conversationId, 1)).toEqual(first);
  });

  it('keys idempotency by sender and conversation: the same clientMessageId elsewhere is a new message', async () => {
    const messages = factories.messages();
    const conversationId = uniqueId('dm:a:b');
    const otherConversation = uniqueId('dm:a:c');
    await messages.storeMessage(message(conversationId, 1, 'k1', 'alice'));

    expect(await messages.storeMessage(message(conversationId, 2, 'k1', 'bob'))).toEqual({
      status: 'stored',
    });
    expect(await messages.storeMessage(message(otherConversation, 1, 'k1', 'alice'))).toEqual({
      status: 'stored',
    });
    expect(await messages.lastSeq(conversationId)).toBe(2);
    expect(await messages.lastSeq(otherConversation)).toBe(1);
  });

  it('reads the last seq and pages of messages in seq order, past the tenth message', async () => {
    const messages = factories.messages();
    const conversationId = uniqueId('dm:a:c');
    for (let seq = 1; seq <= 12; seq++) await messages.storeMessage(message(conversationId, seq, `k${seq}`));

    const page = await messages.listMessages(conversationId, 8, 3);
    const tail = await messages.listMessages(conversationId, 11, 100);
    const past = await messages.listMessages(conversationId, 12, 100);

    expect(await messages.lastSeq(conversationId)).toBe(12);
    expect(page.messages.map((m) => m.seq)).toEqual([9, 10, 11]);
    expect(page.lastSeq).toBe(12);
    expect(tail).toEqual({ messages: [message(conversationId, 12, 'k12')], lastSeq: 12 });
    expect(past).toEqual({ messages: [], lastSeq: 12 });
  });

  it('answers an empty page after the largest seq a sort key holds, and after anything larger', async () => {
    const messages = factories.messages();
    const conversationId = uniqueId('dm:a:c');
    await messages.storeMessage(message(conversationId, 1, 'k1'));

    expect(await messages.listMessages(conversationId, 10 ** 12 - 1, 10)).toEqual({
      messages: [],
      lastSeq: 1,
    });
    expect(await messages.listMessages(conversationId, 10 ** 15, 10)).toEqual({ messages: [], lastSeq: 1 });
  });

  it('counts messages only: the receipts beside them are not messages', async () => {
    const messages = factories.messages();
    const receipts = factories.receipts();
    const conversationId = uniqueId('dm:a:b');
    await messages.storeMessage(message(conversationId, 1, 'k1'));
    await receipts.raiseWatermark(conversationId, 'bob', 'read', 1);

    expect(await messages.lastSeq(conversationId)).toBe(1);
    expect((await messages.listMessages(conversationId, 0, 10)).messages).toEqual([
      message(conversationId, 1, 'k1'),
    ]);
  });
}

function describeReceiptStore(factories: PortFactories): void {
  it('raises a watermark only forward, and answers the one it holds when asked to lower it', async () => {
    const receipts = factories.receipts();
    const conversationId = uniqueId('dm:a:b');

    const outcomes = [];
    for (const seq of [3, 2, 3, 5]) {
      outcomes.push(await receipts.raiseWatermark(conversationId, 'alice', 'delivered', seq));
    }

    expect(outcomes).toEqual([
      { seq: 3, moved: true },
      { seq: 3, moved: false },
      { seq: 3, moved: false },
      { seq: 5, moved: true },
    ]);
  });

  it('sets a first watermark whatever its value, 0 included', async () => {
    const receipts = factories.receipts();
    const conversationId = uniqueId('dm:a:b');

    expect(await receipts.raiseWatermark(conversationId, 'alice', 'read', 0)).toEqual({
      seq: 0,
      moved: true,
    });
    expect(await receipts.raiseWatermark(conversationId, 'alice', 'read', 0)).toEqual({
      seq: 0,
      moved: false,
    });
  });

  it('keeps each kind and each member apart, and lists the members in user id order with 0 for a kind never acked', async () => {
    const receipts = factories.receipts();
    const conversationId = uniqueId('dm:a:b');
    const empty = await receipts.listReceipts(conversationId);
    await receipts.raiseWatermark(conversationId, 'bob', 'read', 2);
    await receipts.raiseWatermark(conversationId, 'alice', 'delivered', 4);
    await receipts.raiseWatermark(conversationId, 'bob', 'delivered', 1);

    expect(empty).toEqual([]);
    expect(await receipts.listReceipts(conversationId)).toEqual([
      { userId: 'alice', deliveredSeq: 4, readSeq: 0 },
      { userId: 'bob', deliveredSeq: 1, readSeq: 2 },
    ]);
    expect(await receipts.listReceipts(uniqueId('dm:a:b'))).toEqual([]);
  });
}

// ---------------------------------------------------------------------------------------
// The conversation list
// ---------------------------------------------------------------------------------------

const entryState = (conversationId: string, lastSeq: number): ConversationEntryState => ({
  conversationId,
  members: ['alice', 'bob'],
  lastSeq,
  lastMessage: { ...message(conversationId, lastSeq, `k${lastSeq}`) },
  receipts: [
    { userId: 'alice', deliveredSeq: lastSeq, readSeq: lastSeq },
    { userId: 'bob', deliveredSeq: 0, readSeq: 0 },
  ],
});

/** A change that moves the entry up to `lastSeq`, and leaves an entry already there as it is. */
function setTo(conversationId: string, lastSeq: number) {
  return (current: ConversationEntryState | undefined) =>
    current && current.lastSeq >= lastSeq ? undefined : entryState(conversationId, lastSeq);
}

function describeConversationListStore(factories: PortFactories): void {
  it('creates an entry at the clock, then hands the change the entry as stored, without its updatedAt', async () => {
    const list = factories.conversationList(() => NOW);
    const userId = uniqueId('u');
    const conversationId = uniqueId('dm:a:b');
    const seen: Array<ConversationEntryState | undefined> = [];
    const change = (current: ConversationEntryState | undefined) => {
      seen.push(current);
      return entryState(conversationId, (current?.lastSeq ?? 0) + 1);
    };

    const outcomes = [
      await list.update(userId, conversationId, change),
      await list.update(userId, conversationId, change),
    ];

    expect(outcomes).toEqual(['updated', 'updated']);
    expect(seen).toEqual([undefined, entryState(conversationId, 1)]);
    // The clock stood still: the second write still got a later updatedAt.
    expect((await list.listChangedSince(userId, 0, 10)).entries).toEqual([
      { ...entryState(conversationId, 2), updatedAt: NOW + 1 },
    ]);
  });

  it('writes nothing and leaves the clock where it was when the change returns nothing', async () => {
    const list = factories.conversationList(() => NOW);
    const userId = uniqueId('u');
    const [first, second] = [uniqueId('dm:a:b'), uniqueId('dm:a:c')];
    await list.update(userId, first, setTo(first, 3));

    const unchanged = await list.update(userId, first, setTo(first, 2));
    const absent = await list.update(userId, second, () => undefined);
    await list.update(userId, second, setTo(second, 1));

    expect([unchanged, absent]).toEqual(['unchanged', 'unchanged']);
    expect((await list.listChangedSince(userId, 0, 10)).entries.map((e) => [e.lastSeq, e.updatedAt])).toEqual(
      [
        [3, NOW],
        [1, NOW + 1],
      ],
    );
  });

  it('gives the entries of one write distinct updatedAt values in the order of the changes', async () => {
    const list = factories.conversationList(() => NOW);
    const userId = uniqueId('u');
    const ids = [uniqueId('dm:a:b'), uniqueId('dm:a:c'), uniqueId('dm:a:d')];
    await list.update(userId, ids[1] as string, setTo(ids[1] as string, 5));

    const outcomes = await list.updateMany(
      userId,
      new Map([
        [ids[2] as string, setTo(ids[2] as string, 1)],
        [ids[1] as string, setTo(ids[1] as string, 4)],
        [ids[0] as string, setTo(ids[0] as string, 2)],
      ]),
    );

    expect(outcomes).toEqual(['updated', 'unchanged', 'updated']);
    const entries = (await list.listChangedSince(userId, NOW, 10)).entries;
    expect(entries.map((e) => [e.conversationId, e.updatedAt])).toEqual([
      [ids[2], NOW + 1],
      [ids[0], NOW + 2],
    ]);
  });

  it('follows the clock when it runs ahead of the last updatedAt, and the last updatedAt when the clock falls behind', async () => {
    let now = NOW;
    const list = factories.conversationList(() => now);
    const userId = uniqueId('u');
    const ids = [uniqueId('dm:a:b'), uniqueId('dm:a:c'), uniqueId('dm:a:d')];

    await list.update(userId, ids[0] as string, setTo(ids[0] as string, 1));
    now = NOW + 1_000;
    await list.update(userId, ids[1] as string, setTo(ids[1] as string, 1));
    now = NOW - 5_000;
    await list.update(userId, ids[2] as string, setTo(ids[2] as string, 1));

    expect((await list.listChangedSince(userId, 0, 10)).entries.map((e) => e.updatedAt)).toEqual([
      NOW,
      NOW + 1_000,
      NOW + 1_001,
    ]);
  });

  it('lists the changes after a cursor, oldest first, a page at a time, and nothing of another user', async () => {
    const list = factories.conversationList(() => NOW);
    const [userId, otherUser] = [uniqueId('u'), uniqueId('u')];
    const ids = Array.from({ length: 5 }, () => uniqueId('dm:a:b'));
    for (const id of ids) await list.update(userId, id, setTo(id, 1));
    const otherId = uniqueId('dm:a:b');
    await list.update(otherUser, otherId, setTo(otherId, 1));

    const first = await list.listChangedSince(userId, 0, 2);
    const cursor = first.entries.at(-1)?.updatedAt ?? 0;
    const second = await list.listChangedSince(userId, cursor, 2);
    const last = await list.listChangedSince(userId, NOW + 3, 2);
    const none = await list.listChangedSince(userId, NOW + 4, 2);

    expect(first.entries.map((e) => e.conversationId)).toEqual(ids.slice(0, 2));
    expect(first.hasMore).toBe(true);
    expect(second.entries.map((e) => e.conversationId)).toEqual(ids.slice(2, 4));
    expect(second.hasMore).toBe(true);
    expect(last).toEqual({
      entries: [{ ...entryState(ids[4] as string, 1), updatedAt: NOW + 4 }],
      hasMore: false,
    });
    expect(none).toEqual({ entries: [], hasMore: false });
  });

  it('updates several users, each on its own clock, the same whether it knows their lists or not', async () => {
    const list = factories.conversationList(() => NOW);
    const [alice, bob] = [uniqueId('u'), uniqueId('u')];
    const conversationId = uniqueId('dm:a:b');
    const bobsOther = uniqueId('dm:a:c');
    await list.update(bob, bobsOther, setTo(bobsOther, 1));
    const both = (lastSeq: number) =>
      new Map([
        [alice, new Map([[conversationId, setTo(conversationId, lastSeq)]])],
        [bob, new Map([[conversationId, setTo(conversationId, lastSeq)]])],
      ]);

    const unknown = await list.updateManyUsers(both(1));
    // The store has now read or written both lists: the same again, from what it knows.
    const known = await list.updateManyUsers(both(2));
    const nothing = await list.updateManyUsers(both(2));

    for (const settled of [unknown, known]) {
      expect(Object.fromEntries(settled)).toEqual({
        [alice]: { status: 'fulfilled', value: ['updated'] },
        [bob]: { status: 'fulfilled', value: ['updated'] },
      });
    }
    expect(Object.fromEntries(nothing)).toEqual({
      [alice]: { status: 'fulfilled', value: ['unchanged'] },
      [bob]: { status: 'fulfilled', value: ['unchanged'] },
    });
    expect((await list.listChangedSince(alice, 0, 10)).entries.map((e) => [e.lastSeq, e.updatedAt])).toEqual([
      [2, NOW + 1],
    ]);
    expect((await list.listChangedSince(bob, NOW, 10)).entries.map((e) => [e.lastSeq, e.updatedAt])).toEqual([
      [2, NOW + 2],
    ]);
  });

  it('writes more entries of one user at once than one transaction holds, on one rising clock', async () => {
    const list = factories.conversationList(() => NOW);
    const userId = uniqueId('u');
    const ids = Array.from(
      { length: 60 },
      (_, index) => `dm:a:${String(index).padStart(2, '0')}${uniqueId('')}`,
    );

    const outcomes = await list.updateMany(userId, new Map(ids.map((id) => [id, setTo(id, 1)])));

    expect(outcomes).toEqual(ids.map(() => 'updated'));
    const page = await list.listChangedSince(userId, 0, 100);
    expect(page.entries.map((e) => [e.conversationId, e.updatedAt])).toEqual(
      ids.map((id, index) => [id, NOW + index]),
    );
  });
}

// ---------------------------------------------------------------------------------------
// Connections, presence and presence subscriptions
// ---------------------------------------------------------------------------------------

const connection = (userId: string, connectionId: string, expiresAt: number): Connection => ({
  userId,
  connectionId,
  deviceId: `device-${connectionId}`,
  connectedAt: NOW - 60_000,
  expiresAt,
});

function describeConnectionStore(factories: PortFactories): void {
  it('lists a user’s live connections in connection id order, leaving out those expired but not yet deleted', async () => {
    const connections = factories.connections(() => NOW);
    const [userId, otherUser] = [uniqueId('u'), uniqueId('u')];
    await connections.putConnection(connection(userId, 'c-live', NOW_SECONDS + 600));
    await connections.putConnection(connection(userId, 'b-expiring-now', NOW_SECONDS));
    await connections.putConnection(connection(userId, 'a-live', NOW_SECONDS + 1));
    await connections.putConnection(connection(userId, 'd-dead', NOW_SECONDS - 1));
    await connections.putConnection(connection(otherUser, 'e-other', NOW_SECONDS + 600));

    expect(await connections.listConnections(userId)).toEqual([
      connection(userId, 'a-live', NOW_SECONDS + 1),
      connection(userId, 'c-live', NOW_SECONDS + 600),
    ]);
    expect(await connections.listConnections(uniqueId('u'))).toEqual([]);
  });

  it('replaces a connection put again, and forgets a deleted one', async () => {
    const connections = factories.connections(() => NOW);
    const userId = uniqueId('u');
    await connections.putConnection(connection(userId, 'a', NOW_SECONDS + 10));
    await connections.putConnection(connection(userId, 'b', NOW_SECONDS + 10));

    await connections.putConnection({ ...connection(userId, 'a', NOW_SECONDS + 20), deviceId: 'laptop' });
    await connections.deleteConnection(userId, 'b');
    await connections.deleteConnection(userId, 'never-there');

    expect(await connections.listConnections(userId)).toEqual([
      { ...connection(userId, 'a', NOW_SECONDS + 20), deviceId: 'laptop' },
    ]);
  });
}

function describePresenceStore(factories: PortFactories): void {
  it('knows nothing of a user who never connected, and will not mark one offline', async () => {
    const presence = factories.presence();
    const userId = uniqueId('u');

    expect(await presence.get(userId)).toBeUndefined();
    expect(await presence.getMany([userId])).toEqual([]);
    expect(await presence.markOffline(userId, 0, NOW)).toBe(false);
    expect(await presence.get(userId)).toBeUndefined();
  });

  it('marks a user online with a version each connect bumps, and says whether it was online', async () => {
    const presence = factories.presence();
    const userId = uniqueId('u');

    const first = await presence.markOnline(userId, NOW, NOW_SECONDS + 600);
    const second = await presence.markOnline(userId, NOW + 5, NOW_SECONDS + 700);

    expect(first).toEqual({ wasOnline: false, version: 1 });
    expect(second).toEqual({ wasOnline: true, version: 2 });
    expect(await presence.get(userId)).toEqual({
      userId,
      online: true,
      lastSeen: null,
      lastActiveAt: NOW + 5,
      expiresAt: NOW_SECONDS + 700,
      version: 2,
    });
  });

  it('marks a user offline only at the version read, and keeps its lastSeen when it connects again', async () => {
    const presence = factories.presence();
    const userId = uniqueId('u');
    await presence.markOnline(userId, NOW, NOW_SECONDS + 600);
    await presence.markOnline(userId, NOW + 1, NOW_SECONDS + 600);

    const stale = await presence.markOffline(userId, 1, NOW + 2);
    const current = await presence.markOffline(userId, 2, NOW + 3);
    const again = await presence.markOffline(userId, 2, NOW + 4);
    const offline = await presence.get(userId);
    const back = await presence.markOnline(userId, NOW + 5, NOW_SECONDS + 900);

    expect([stale, current, again]).toEqual([false, true, false]);
    expect(offline).toEqual({
      userId,
      online: false,
      lastSeen: NOW + 3,
      lastActiveAt: NOW + 1,
      expiresAt: 0,
      version: 2,
    });
    expect(back).toEqual({ wasOnline: false, version: 3 });
    expect(await presence.get(userId)).toEqual({
      userId,
      online: true,
      lastSeen: NOW + 3,
      lastActiveAt: NOW + 5,
      expiresAt: NOW_SECONDS + 900,
      version: 3,
    });
  });

  it('does not count a record online past its expiry as online when the user connects again', async () => {
    const presence = factories.presence();
    const userId = uniqueId('u');
    await presence.markOnline(userId, NOW, NOW_SECONDS + 10);

    const atExpiry = await presence.markOnline(userId, (NOW_SECONDS + 10) * 1000, NOW_SECONDS + 700);

    expect(atExpiry).toEqual({ wasOnline: false, version: 2 });
  });

  it('refuses to read the same user twice in one call, as BatchGetItem refuses duplicate keys', async () => {
    const presence = factories.presence();
    const userId = uniqueId('u');
    await presence.markOnline(userId, NOW, NOW_SECONDS + 600);

    await expect(presence.getMany([userId, userId])).rejects.toThrow();
  });

  it('reads many users at once, past the hundred keys of one batch, leaving out those it does not know', async () => {
    const presence = factories.presence();
    const known = Array.from({ length: 101 }, (_, index) => uniqueId(`u${index}-`));
    for (const userId of known) await presence.markOnline(userId, NOW, NOW_SECONDS + 600);

    const records = await presence.getMany([...known, uniqueId('stranger')]);

    expect(records.map((record) => record.userId).sort()).toEqual([...known].sort());
    expect(records.every((record) => record.online && record.version === 1)).toBe(true);
  });
}

const subscription = (
  watchedUserId: string,
  connectionId: string,
  expiresAt: number,
): PresenceSubscription => ({
  watchedUserId,
  connectionId,
  subscriberUserId: `subscriber-${connectionId}`,
  expiresAt,
});

function describePresenceSubscriptionStore(factories: PortFactories): void {
  it('lists the live subscriptions to a user in connection id order, past the 25 writes of one batch', async () => {
    const subscriptions = factories.presenceSubscriptions(() => NOW);
    const [watched, other] = [uniqueId('u'), uniqueId('u')];
    const live = Array.from({ length: 30 }, (_, index) =>
      subscription(watched, `c${String(index).padStart(2, '0')}`, NOW_SECONDS + 1),
    );

    await subscriptions.subscribe([
      ...[...live].reverse(),
      subscription(watched, 'x-expiring-now', NOW_SECONDS),
      subscription(other, 'y', NOW_SECONDS + 600),
    ]);

    expect(await subscriptions.listSubscribers(watched)).toEqual(live);
    expect(await subscriptions.listSubscribers(uniqueId('u'))).toEqual([]);
  });

  it('replaces a subscription made again, and forgets one unsubscribed', async () => {
    const subscriptions = factories.presenceSubscriptions(() => NOW);
    const watched = uniqueId('u');
    await subscriptions.subscribe([
      subscription(watched, 'a', NOW_SECONDS + 10),
      subscription(watched, 'b', NOW_SECONDS + 10),
    ]);
    await subscriptions.subscribe([]);

    await subscriptions.subscribe([subscription(watched, 'a', NOW_SECONDS + 99)]);
    await subscriptions.unsubscribe(watched, 'b');
    await subscriptions.unsubscribe(watched, 'never-there');

    expect(await subscriptions.listSubscribers(watched)).toEqual([
      subscription(watched, 'a', NOW_SECONDS + 99),
    ]);
  });
}

// ---------------------------------------------------------------------------------------
// The stream
// ---------------------------------------------------------------------------------------

function describeEventPublisher(factories: PortFactories): void {
  it('hands each event to the stream as it is, under its partition key, in order within a partition key', async () => {
    const { publisher, published } = factories.publisher();
    const [conversationId, other, userId] = [uniqueId('dm:a:b'), uniqueId('dm:a:c'), uniqueId('u')];
    const events: StreamEvent[] = [
      { type: 'message', ...message(conversationId, 1, 'k1') },
      { type: 'message', ...message(other, 1, 'k1') },
      { type: 'receipt', conversationId, userId: 'bob', kind: 'read', seq: 1 },
      { type: 'presence-changed', userId },
      { type: 'message', ...message(conversationId, 2, 'k2') },
    ];

    for (const event of events) await publisher.publish(event);
    const ours = (await published()).filter(({ partitionKey }) =>
      [conversationId, other, `presence:${userId}`].includes(partitionKey),
    );

    const inPartition = (key: string) => ours.filter(({ partitionKey }) => partitionKey === key);
    expect(inPartition(conversationId).map(({ event }) => event)).toEqual([events[0], events[2], events[4]]);
    expect(inPartition(other).map(({ event }) => event)).toEqual([events[1]]);
    expect(inPartition(`presence:${userId}`).map(({ event }) => event)).toEqual([events[3]]);
    expect(ours).toHaveLength(5);
  });
}
