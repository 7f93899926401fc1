import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type {
  ConversationSummary,
  ConversationsPageFrame,
  Message,
  MessageEventFrame,
  Receipt,
  ReceiptEventFrame,
} from '@parley/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DynamoDbConversationListStore } from '../../lambdas/adapters/dynamodb-conversation-list-store.js';
import { applyToEntry, decodeCursor, encodeCursor } from '../../lambdas/domain/conversation-list.js';
import { ConversationListContentionError, INTERNAL_ERROR_MESSAGE } from '../../lambdas/domain/errors.js';
import type { ConversationEntryState, EntryChange } from '../../lambdas/domain/ports.js';
import { createConversationsHandler } from '../../lambdas/handlers/conversations.js';
import {
  answerOf,
  createTestDeps,
  errorOf,
  FakeUserConversationsTable,
  invoke,
  messageEvent,
  mockAwsClients,
  NOW,
} from './support/harness.js';

const { ddb } = mockAwsClients();

afterEach(() => {
  vi.restoreAllMocks();
});

const CONVERSATION = 'dm:alice:bob';
const TABLE = 'unit-user-conversations';

const message = (seq: number, conversationId = CONVERSATION): Message => ({
  conversationId,
  seq,
  messageId: `01JDMESSAGE${seq}`,
  clientMessageId: `cm-${seq}`,
  senderId: seq % 2 === 0 ? 'bob' : 'alice',
  senderDeviceId: 'phone',
  body: `message ${seq}`,
  serverTs: NOW + seq,
});
const messageEventOf = (seq: number): MessageEventFrame => ({ type: 'message', ...message(seq) });
const receiptEvent = (userId: string, kind: 'delivered' | 'read', seq: number): ReceiptEventFrame => ({
  type: 'receipt',
  conversationId: CONVERSATION,
  userId,
  kind,
  seq,
});
const receipts = (alice: [number, number], bob: [number, number]): Receipt[] => [
  { userId: 'alice', deliveredSeq: alice[0], readSeq: alice[1] },
  { userId: 'bob', deliveredSeq: bob[0], readSeq: bob[1] },
];
const state = (
  lastSeq: number,
  alice: [number, number] = [0, 0],
  bob: [number, number] = [0, 0],
): ConversationEntryState => ({
  conversationId: CONVERSATION,
  members: ['alice', 'bob'],
  lastSeq,
  lastMessage: lastSeq > 0 ? message(lastSeq) : null,
  receipts: receipts(alice, bob),
});

describe('applying events to a conversation-list entry', () => {
  it('creates the entry with the first message', () => {
    expect(applyToEntry(CONVERSATION, undefined, [messageEventOf(1)])).toEqual(state(1));
  });

  it('raises the last seq and the last message with a newer message', () => {
    expect(applyToEntry(CONVERSATION, state(3, [3, 2]), [messageEventOf(4)])).toEqual(state(4, [3, 2]));
  });

  it('keeps the newest message of several, in whatever order they come', () => {
    expect(applyToEntry(CONVERSATION, state(1), [messageEventOf(3), messageEventOf(2)])).toEqual(state(3));
  });

  it.each([
    ['an older message', 2],
    ['the same message again', 3],
  ])('changes nothing for %s', (_case, seq) => {
    expect(applyToEntry(CONVERSATION, state(3), [messageEventOf(seq)])).toBeUndefined();
  });

  it('raises a member’s delivered watermark', () => {
    expect(applyToEntry(CONVERSATION, state(5), [receiptEvent('bob', 'delivered', 4)])).toEqual(
      state(5, [0, 0], [4, 0]),
    );
  });

  it('lifts delivered with read', () => {
    expect(applyToEntry(CONVERSATION, state(5, [0, 0], [2, 1]), [receiptEvent('bob', 'read', 4)])).toEqual(
      state(5, [0, 0], [4, 4]),
    );
  });

  it('keeps a delivered watermark above a lower read', () => {
    expect(applyToEntry(CONVERSATION, state(5, [0, 0], [5, 1]), [receiptEvent('bob', 'read', 3)])).toEqual(
      state(5, [0, 0], [5, 3]),
    );
  });

  it.each([
    ['a lower delivered receipt', receiptEvent('bob', 'delivered', 2)],
    ['a lower read receipt', receiptEvent('bob', 'read', 1)],
    ['a repeated read receipt', receiptEvent('bob', 'read', 3)],
    ['a receipt of someone who is not a member', receiptEvent('carol', 'read', 5)],
  ])('changes nothing for %s', (_case, event) => {
    expect(applyToEntry(CONVERSATION, state(5, [0, 0], [4, 3]), [event])).toBeUndefined();
  });

  it('never creates an entry for a receipt alone', () => {
    expect(applyToEntry(CONVERSATION, undefined, [receiptEvent('bob', 'read', 1)])).toBeUndefined();
  });

  it('creates an entry for a message and the receipts that came with it', () => {
    expect(
      applyToEntry(CONVERSATION, undefined, [messageEventOf(1), receiptEvent('bob', 'read', 1)]),
    ).toEqual(state(1, [0, 0], [1, 1]));
  });

  it('leaves the current entry as it was', () => {
    const current = state(3, [3, 3], [1, 0]);
    const copy = structuredClone(current);

    applyToEntry(CONVERSATION, current, [messageEventOf(4), receiptEvent('bob', 'read', 4)]);

    expect(current).toEqual(copy);
  });
});

describe('conversation cursors', () => {
  it.each([0, 1, NOW, 9_007_199_254_740_991])('reads %i back from its cursor', (updatedAt) => {
    expect(decodeCursor(encodeCursor(updatedAt))).toBe(updatedAt);
  });

  it('gives an opaque, versioned, URL-safe text', () => {
    expect(encodeCursor(NOW)).toMatch(/^c1\.[A-Za-z0-9_-]+$/);
    expect(encodeCursor(NOW)).not.toContain(String(NOW));
  });

  it.each([
    ['an empty text', ''],
    ['a text of another kind', 'abc'],
    ['the prefix alone', 'c1.'],
    ['another version', `c2.${Buffer.from('5').toString('base64url')}`],
    ['a bare number', String(NOW)],
    ['a negative time', `c1.${Buffer.from('-5').toString('base64url')}`],
    ['a fractional time', `c1.${Buffer.from('12.5').toString('base64url')}`],
    ['an exponent', `c1.${Buffer.from('1e12').toString('base64url')}`],
    ['a time of 17 digits', `c1.${Buffer.from('1'.repeat(17)).toString('base64url')}`],
  ])('refuses %s', (_case, cursor) => {
    expect(decodeCursor(cursor)).toBeUndefined();
  });
});

/** A stored entry of `userId` for a conversation with `other`, changed at `updatedAt`. */
function storedEntry(userId: string, other: string, updatedAt: number, lastSeq = 1) {
  const conversationId = userId < other ? `dm:${userId}:${other}` : `dm:${other}:${userId}`;
  const members = conversationId.split(':').slice(1);
  return {
    userId,
    itemKey: `conv#${conversationId}`,
    conversationId,
    members,
    lastSeq,
    lastMessage: message(lastSeq, conversationId),
    receipts: members.map((member) => ({ userId: member, deliveredSeq: 0, readSeq: 0 })),
    updatedAt,
  };
}
const summaryOf = ({ userId: _userId, itemKey: _itemKey, ...summary }: ReturnType<typeof storedEntry>) =>
  summary satisfies ConversationSummary;

describe('the conversations handler', () => {
  const frame = (overrides: Record<string, unknown> = {}) => ({
    action: 'conversations',
    requestId: 'r4',
    ...overrides,
  });
  const BOB = storedEntry('alice', 'bob', NOW - 30, 7);
  const CAROL = storedEntry('alice', 'carol', NOW - 20, 2);
  const DAVE = storedEntry('alice', 'dave', NOW - 10, 4);

  /** alice's list with three entries and her clock, and an entry of bob's. */
  function listsOfAliceAndBob() {
    const lists = new FakeUserConversationsTable().install(ddb, { query: true });
    for (const item of [DAVE, BOB, CAROL, storedEntry('bob', 'erin', NOW - 15)]) lists.put(item);
    lists.put({ userId: 'alice', itemKey: 'clock', lastUpdatedAt: NOW - 10 });
    return lists;
  }

  async function ask(overrides: Record<string, unknown> = {}) {
    const { provider } = createTestDeps();
    return invoke(createConversationsHandler(provider), messageEvent(frame(overrides)));
  }

  it('answers all of the caller’s conversations without since, oldest change first', async () => {
    listsOfAliceAndBob();

    const result = await ask();

    expect(result.statusCode).toBe(200);
    expect(answerOf<ConversationsPageFrame>(result)).toEqual({
      type: 'conversations',
      requestId: 'r4',
      conversations: [summaryOf(BOB), summaryOf(CAROL), summaryOf(DAVE)],
      cursor: encodeCursor(NOW - 10),
      hasMore: false,
    });
  });

  it('reads one strongly consistent page of the byUpdatedAt index, one entry more than the limit', async () => {
    listsOfAliceAndBob();

    await ask({ since: encodeCursor(NOW - 25) });

    expect(ddb.calls()).toHaveLength(1);
    expect(ddb.commandCalls(QueryCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      IndexName: 'byUpdatedAt',
      KeyConditionExpression: 'userId = :u AND updatedAt > :after',
      ExpressionAttributeValues: { ':u': 'alice', ':after': NOW - 25 },
      ConsistentRead: true,
      Limit: 51,
    });
  });

  it('answers only what changed after the cursor', async () => {
    listsOfAliceAndBob();

    const page = answerOf<ConversationsPageFrame>(await ask({ since: encodeCursor(NOW - 30) }));

    expect(page.conversations.map((entry) => entry.conversationId)).toEqual([
      'dm:alice:carol',
      'dm:alice:dave',
    ]);
    expect(decodeCursor(page.cursor)).toBe(NOW - 10);
  });

  it('pages by limit, says more follow, and picks up the rest with the cursor it answered', async () => {
    listsOfAliceAndBob();

    const first = answerOf<ConversationsPageFrame>(await ask({ limit: 2 }));
    const second = answerOf<ConversationsPageFrame>(await ask({ limit: 2, since: first.cursor }));

    expect(first.conversations.map((entry) => entry.conversationId)).toEqual([
      'dm:alice:bob',
      'dm:alice:carol',
    ]);
    expect(first.hasMore).toBe(true);
    expect(ddb.commandCalls(QueryCommand)[0]?.args[0].input.Limit).toBe(3);
    expect(second.conversations.map((entry) => entry.conversationId)).toEqual(['dm:alice:dave']);
    expect(second.hasMore).toBe(false);
  });

  it('answers the same cursor when nothing changed since', async () => {
    listsOfAliceAndBob();
    const since = encodeCursor(NOW - 10);

    const page = answerOf<ConversationsPageFrame>(await ask({ since }));

    expect(page).toEqual({
      type: 'conversations',
      requestId: 'r4',
      conversations: [],
      cursor: since,
      hasMore: false,
    });
  });

  it('answers a user with no conversations an empty list and a cursor from the start', async () => {
    new FakeUserConversationsTable().install(ddb, { query: true });

    const page = answerOf<ConversationsPageFrame>(await ask());

    expect(page).toEqual({
      type: 'conversations',
      requestId: 'r4',
      conversations: [],
      cursor: encodeCursor(0),
      hasMore: false,
    });
  });

  it.each([
    ['that is not a cursor', 'abc'],
    ['of another version', `c2.${Buffer.from('5').toString('base64url')}`],
    ['holding no time', `c1.${Buffer.from('yesterday').toString('base64url')}`],
  ])('refuses a since %s with bad_request and reads nothing', async (_case, since) => {
    const result = await ask({ since });

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'r4',
      code: 'bad_request',
      message: 'since: must be a cursor from an earlier answer',
    });
    expect(ddb.calls()).toHaveLength(0);
  });

  it.each([
    {
      name: 'an empty since',
      frame: { since: '' },
      message: 'since: must be a cursor from an earlier answer',
    },
    {
      name: 'a since of 201 characters',
      frame: { since: 'c'.repeat(201) },
      message: 'since: must be a cursor from an earlier answer',
    },
    { name: 'a since that is a number', frame: { since: NOW }, message: 'since: must be a string' },
    { name: 'a limit of 0', frame: { limit: 0 }, message: 'limit: must be 1 to 100' },
    { name: 'a limit of 101', frame: { limit: 101 }, message: 'limit: must be 1 to 100' },
    { name: 'a fractional limit', frame: { limit: 2.5 }, message: 'limit: must be an integer' },
    { name: 'an unknown field', frame: { after: 3 }, message: 'after: is not a field of this action' },
  ])('refuses $name with bad_request and reads nothing', async ({ frame: overrides, message: text }) => {
    const result = await ask(overrides);

    expect(errorOf(result)).toEqual({ type: 'error', requestId: 'r4', code: 'bad_request', message: text });
    expect(ddb.calls()).toHaveLength(0);
  });

  it('accepts a limit of 100', async () => {
    listsOfAliceAndBob();

    const page = answerOf<ConversationsPageFrame>(await ask({ limit: 100 }));

    expect(page.conversations).toHaveLength(3);
    expect(ddb.commandCalls(QueryCommand)[0]?.args[0].input.Limit).toBe(101);
  });

  it('answers internal when the query fails', async () => {
    ddb.on(QueryCommand).rejects(new Error('InternalServerError'));

    const result = await ask();

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'r4',
      code: 'internal',
      message: INTERNAL_ERROR_MESSAGE,
    });
  });
});

describe('the conversation-list store', () => {
  const store = (options: { now?: () => number; maxAttempts?: number } = {}) => {
    const { deps } = createTestDeps();
    return new DynamoDbConversationListStore({
      client: deps.clients.dynamodb,
      tableName: TABLE,
      now: options.now ?? (() => NOW),
      ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
    });
  };
  const entryItem = (entry: ConversationEntryState, updatedAt: number) => ({
    userId: 'alice',
    itemKey: `conv#${CONVERSATION}`,
    ...entry,
    updatedAt,
  });
  const clockItem = (lastUpdatedAt: number) => ({ userId: 'alice', itemKey: 'clock', lastUpdatedAt });
  const reading = (...items: Array<Record<string, unknown>>) => ({ Responses: { [TABLE]: items } });
  const writes = () =>
    ddb.commandCalls(TransactWriteCommand).map((call) => call.args[0].input as TransactWriteCommandInput);
  const canceled = () =>
    new TransactionCanceledException({
      message:
        'Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, None]',
      $metadata: { httpStatusCode: 400 },
      CancellationReasons: [{ Code: 'ConditionalCheckFailed' }, { Code: 'None' }],
    });
  const merge =
    (events: Array<MessageEventFrame | ReceiptEventFrame>) => (current?: ConversationEntryState) =>
      applyToEntry(CONVERSATION, current, events);
  /** One change to one user's entry through the store's one write: its outcome, or its error. */
  const updateEntry = async (
    target: DynamoDbConversationListStore,
    userId: string,
    conversationId: string,
    change: EntryChange,
  ) => {
    const settled = (
      await target.updateManyUsers(new Map([[userId, new Map([[conversationId, change]])]]))
    ).get(userId);
    if (settled?.status === 'rejected') throw settled.reason;
    return settled?.value[0];
  };

  it('reads the user’s clock and entry together with one strongly consistent BatchGetItem', async () => {
    ddb.on(BatchGetCommand).resolves(reading());
    ddb.on(TransactWriteCommand).resolves({});

    await updateEntry(store(), 'alice', CONVERSATION, merge([messageEventOf(1)]));

    expect(ddb.commandCalls(BatchGetCommand).map((call) => call.args[0].input)).toEqual([
      {
        RequestItems: {
          [TABLE]: {
            Keys: [
              { userId: 'alice', itemKey: 'clock' },
              { userId: 'alice', itemKey: `conv#${CONVERSATION}` },
            ],
            ConsistentRead: true,
          },
        },
      },
    ]);
  });

  it('writes nothing when the change leaves the entry as it is', async () => {
    ddb.on(BatchGetCommand).resolves(reading(clockItem(NOW - 5), entryItem(state(3), NOW - 5)));

    const outcome = await updateEntry(store(), 'alice', CONVERSATION, merge([messageEventOf(2)]));

    expect(outcome).toBe('unchanged');
    expect(writes()).toHaveLength(0);
  });

  it('hands the change the current entry without its updatedAt', async () => {
    ddb.on(BatchGetCommand).resolves(reading(entryItem(state(3, [3, 3]), NOW - 5), clockItem(NOW - 5)));
    const change = vi.fn((_current?: ConversationEntryState) => undefined);

    await updateEntry(store(), 'alice', CONVERSATION, change);

    expect(change).toHaveBeenCalledWith(state(3, [3, 3]));
  });

  it('writes the first entry and the clock together, each on condition that it does not exist yet', async () => {
    ddb.on(BatchGetCommand).resolves(reading());
    ddb.on(TransactWriteCommand).resolves({});

    const outcome = await updateEntry(store(), 'alice', CONVERSATION, merge([messageEventOf(1)]));

    expect(outcome).toBe('updated');
    expect(writes()).toEqual([
      {
        TransactItems: [
          {
            Put: {
              TableName: TABLE,
              Item: { userId: 'alice', itemKey: 'clock', lastUpdatedAt: NOW },
              ConditionExpression: 'attribute_not_exists(itemKey)',
            },
          },
          {
            Put: {
              TableName: TABLE,
              Item: { userId: 'alice', itemKey: `conv#${CONVERSATION}`, ...state(1), updatedAt: NOW },
              ConditionExpression: 'attribute_not_exists(itemKey)',
            },
          },
        ],
      },
    ]);
  });

  it('moves the clock and the entry on condition that neither changed since the read', async () => {
    ddb.on(BatchGetCommand).resolves(reading(clockItem(NOW - 5), entryItem(state(3), NOW - 40)));
    ddb.on(TransactWriteCommand).resolves({});

    await updateEntry(store(), 'alice', CONVERSATION, merge([messageEventOf(4)]));

    const [clockPut, entryPut] = writes()[0]?.TransactItems ?? [];
    expect(clockPut?.Put).toEqual({
      TableName: TABLE,
      Item: { userId: 'alice', itemKey: 'clock', lastUpdatedAt: NOW },
      ConditionExpression: 'lastUpdatedAt = :previous',
      ExpressionAttributeValues: { ':previous': NOW - 5 },
    });
    expect(entryPut?.Put).toEqual({
      TableName: TABLE,
      Item: { userId: 'alice', itemKey: `conv#${CONVERSATION}`, ...state(4), updatedAt: NOW },
      ConditionExpression: 'updatedAt = :previous',
      ExpressionAttributeValues: { ':previous': NOW - 40 },
    });
  });

  it('writes a new entry beside a clock that other entries moved', async () => {
    ddb.on(BatchGetCommand).resolves(reading(clockItem(NOW - 5)));
    ddb.on(TransactWriteCommand).resolves({});

    await updateEntry(store(), 'alice', CONVERSATION, merge([messageEventOf(1)]));

    const [clockPut, entryPut] = writes()[0]?.TransactItems ?? [];
    expect(clockPut?.Put?.ConditionExpression).toBe('lastUpdatedAt = :previous');
    expect(entryPut?.Put?.ConditionExpression).toBe('attribute_not_exists(itemKey)');
    expect(entryPut?.Put?.ExpressionAttributeValues).toBeUndefined();
  });

  it('gives the entry an updatedAt one past the clock when the clock is at or ahead of now', async () => {
    ddb.on(BatchGetCommand).resolves(reading(clockItem(NOW + 7), entryItem(state(3), NOW + 7)));
    ddb.on(TransactWriteCommand).resolves({});

    await updateEntry(store(), 'alice', CONVERSATION, merge([messageEventOf(4)]));

    const items = writes()[0]?.TransactItems?.map((item) => item.Put?.Item);
    expect(items?.[0]?.lastUpdatedAt).toBe(NOW + 8);
    expect(items?.[1]?.updatedAt).toBe(NOW + 8);
  });

  it('gives successive writes within one millisecond strictly increasing updatedAt', async () => {
    const lists = new FakeUserConversationsTable().install(ddb);
    const other = 'dm:alice:carol';

    await updateEntry(store(), 'alice', CONVERSATION, merge([messageEventOf(1)]));
    await updateEntry(store(), 'alice', other, (current) =>
      applyToEntry(other, current, [{ type: 'message', ...message(1, other) }]),
    );
    await updateEntry(store(), 'alice', CONVERSATION, merge([receiptEvent('bob', 'read', 1)]));

    expect(lists.entry('alice', other)?.updatedAt).toBe(NOW + 1);
    expect(lists.entry('alice', CONVERSATION)?.updatedAt).toBe(NOW + 2);
    expect(lists.clock('alice')).toBe(NOW + 2);
  });

  it('reads again and reapplies the change after a concurrent write cancelled its transaction', async () => {
    const stale = reading(clockItem(NOW - 5), entryItem(state(3), NOW - 5));
    const fresh = reading(clockItem(NOW + 2), entryItem(state(4, [0, 0], [4, 4]), NOW + 2));
    ddb.on(BatchGetCommand).resolvesOnce(stale).resolves(fresh);
    ddb.on(TransactWriteCommand).rejectsOnce(canceled()).resolves({});
    const change = vi.fn(merge([messageEventOf(5)]));

    const outcome = await updateEntry(store(), 'alice', CONVERSATION, change);

    expect(outcome).toBe('updated');
    expect(change.mock.calls.map(([current]) => current?.lastSeq)).toEqual([3, 4]);
    const retried = writes()[1]?.TransactItems ?? [];
    expect(retried[0]?.Put?.ExpressionAttributeValues).toEqual({ ':previous': NOW + 2 });
    expect(retried[1]?.Put?.ExpressionAttributeValues).toEqual({ ':previous': NOW + 2 });
    expect(retried[1]?.Put?.Item).toEqual({
      userId: 'alice',
      itemKey: `conv#${CONVERSATION}`,
      ...state(5, [0, 0], [4, 4]),
      updatedAt: NOW + 3,
    });
  });

  it('stops without writing when the re-read shows a concurrent write already made the change', async () => {
    ddb
      .on(BatchGetCommand)
      .resolvesOnce(reading(clockItem(NOW - 5), entryItem(state(3), NOW - 5)))
      .resolves(reading(clockItem(NOW + 2), entryItem(state(5), NOW + 2)));
    ddb.on(TransactWriteCommand).rejectsOnce(canceled()).resolves({});

    const outcome = await updateEntry(store(), 'alice', CONVERSATION, merge([messageEventOf(5)]));

    expect(outcome).toBe('unchanged');
    expect(writes()).toHaveLength(1);
  });

  it('merges both changes when another writer gets in between its read and its write', async () => {
    const lists = new FakeUserConversationsTable().install(ddb);
    lists.put(clockItem(NOW - 5));
    lists.put(entryItem(state(3), NOW - 5));
    let competitorWent = false;
    ddb.on(TransactWriteCommand).callsFake((input: TransactWriteCommandInput) => {
      if (!competitorWent) {
        competitorWent = true;
        // Another fanout batch: bob read up to 3, written with the conditions it read.
        lists.put(clockItem(NOW + 1));
        lists.put(entryItem(state(3, [0, 0], [3, 3]), NOW + 1));
      }
      return lists.transactWrite(input);
    });

    const outcome = await updateEntry(store(), 'alice', CONVERSATION, merge([messageEventOf(4)]));

    expect(outcome).toBe('updated');
    expect(lists.entry('alice', CONVERSATION)).toEqual(entryItem(state(4, [0, 0], [3, 3]), NOW + 2));
    expect(ddb.commandCalls(BatchGetCommand)).toHaveLength(2);
  });

  it('writes from what it wrote last, without reading the list again', async () => {
    const lists = new FakeUserConversationsTable().install(ddb);
    const warm = store();

    await updateEntry(warm, 'alice', CONVERSATION, merge([messageEventOf(1)]));
    const outcome = await updateEntry(warm, 'alice', CONVERSATION, merge([messageEventOf(2)]));

    expect(outcome).toBe('updated');
    expect(ddb.commandCalls(BatchGetCommand)).toHaveLength(1);
    expect(writes()).toHaveLength(2);
    expect(lists.entry('alice', CONVERSATION)).toEqual(entryItem(state(2), NOW + 1));
    expect(lists.clock('alice')).toBe(NOW + 1);
  });

  it('reads at once and merges both when another instance wrote the list since its own last write', async () => {
    const lists = new FakeUserConversationsTable().install(ddb);
    const warm = store();
    await updateEntry(warm, 'alice', CONVERSATION, merge([messageEventOf(1)]));
    await updateEntry(store(), 'alice', CONVERSATION, merge([receiptEvent('bob', 'read', 1)]));
    ddb.resetHistory();

    const outcome = await updateEntry(warm, 'alice', CONVERSATION, merge([messageEventOf(2)]));

    expect(outcome).toBe('updated');
    // Its write from memory was refused (the clock had moved); then one read and the write.
    expect(writes()).toHaveLength(2);
    expect(ddb.commandCalls(BatchGetCommand)).toHaveLength(1);
    expect(lists.entry('alice', CONVERSATION)).toEqual(entryItem(state(2, [0, 0], [1, 1]), NOW + 2));
  });

  it('reads before it concludes that a change writes nothing, since an entry it saw absent may exist by now', async () => {
    const lists = new FakeUserConversationsTable().install(ddb);
    const warm = store();
    // A receipt alone creates no entry: the instance now caches the entry as absent.
    await updateEntry(warm, 'alice', CONVERSATION, merge([receiptEvent('bob', 'read', 1)]));
    await updateEntry(store(), 'alice', CONVERSATION, merge([messageEventOf(1)]));

    const outcome = await updateEntry(warm, 'alice', CONVERSATION, merge([receiptEvent('bob', 'read', 1)]));

    expect(outcome).toBe('updated');
    expect(lists.entry('alice', CONVERSATION)?.receipts).toEqual(state(1, [0, 0], [1, 1]).receipts);
  });

  it('writes several users’ cached lists in one transaction', async () => {
    const lists = new FakeUserConversationsTable().install(ddb);
    const warm = store();
    for (const userId of ['alice', 'bob'])
      await updateEntry(warm, userId, CONVERSATION, merge([messageEventOf(1)]));
    ddb.resetHistory();

    const settled = await warm.updateManyUsers(
      new Map(
        ['alice', 'bob'].map((userId) => [userId, new Map([[CONVERSATION, merge([messageEventOf(2)])]])]),
      ),
    );

    expect([...settled.values()]).toEqual([
      { status: 'fulfilled', value: ['updated'] },
      { status: 'fulfilled', value: ['updated'] },
    ]);
    expect(ddb.commandCalls(BatchGetCommand)).toHaveLength(0);
    expect(writes().map((input) => input.TransactItems?.length)).toEqual([4]);
    expect(lists.entry('alice', CONVERSATION)?.lastSeq).toBe(2);
    expect(lists.entry('bob', CONVERSATION)?.lastSeq).toBe(2);
  });

  it('goes user by user, from reads, when the transaction of all the lists is refused', async () => {
    const lists = new FakeUserConversationsTable().install(ddb);
    const warm = store();
    for (const userId of ['alice', 'bob'])
      await updateEntry(warm, userId, CONVERSATION, merge([messageEventOf(1)]));
    // Another instance writes bob's list: the clock the warm instance cached for bob is stale.
    await updateEntry(store(), 'bob', CONVERSATION, merge([receiptEvent('alice', 'read', 1)]));
    ddb.resetHistory();

    const settled = await warm.updateManyUsers(
      new Map(
        ['alice', 'bob'].map((userId) => [userId, new Map([[CONVERSATION, merge([messageEventOf(2)])]])]),
      ),
    );

    expect([...settled.values()].map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(writes().map((input) => input.TransactItems?.length)).toEqual([4, 2, 2]);
    expect(ddb.commandCalls(BatchGetCommand)).toHaveLength(2);
    expect(lists.entry('alice', CONVERSATION)?.lastSeq).toBe(2);
    expect(lists.entry('bob', CONVERSATION)).toMatchObject({
      lastSeq: 2,
      receipts: receipts([1, 1], [0, 0]),
    });
  });

  it('gives up with a contention error after 20 attempts by default', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    ddb.on(BatchGetCommand).resolves(reading(clockItem(NOW - 5), entryItem(state(3), NOW - 5)));
    ddb.on(TransactWriteCommand).rejects(canceled());

    const update = updateEntry(store(), 'alice', CONVERSATION, merge([messageEventOf(4)]));

    await expect(update).rejects.toThrow(ConversationListContentionError);
    await expect(update).rejects.toThrow("could not update alice's conversation entries after 20 attempts");
    expect(ddb.commandCalls(BatchGetCommand)).toHaveLength(20);
    expect(writes()).toHaveLength(20);
  });

  it('gives up after the bound it is given', async () => {
    ddb.on(BatchGetCommand).resolves(reading());
    ddb.on(TransactWriteCommand).rejects(canceled());

    await expect(
      updateEntry(store({ maxAttempts: 3 }), 'alice', CONVERSATION, merge([messageEventOf(1)])),
    ).rejects.toMatchObject({ name: 'ConversationListContentionError' });
    expect(writes()).toHaveLength(3);
  });

  it('waits a full-jitter backoff, from the random and sleep it is given, before reading again', async () => {
    const { deps } = createTestDeps();
    const slept: number[] = [];
    const backoff = { random: () => 0.5, sleep: async (ms: number) => void slept.push(ms) };
    const refusing = new DynamoDbConversationListStore({
      client: deps.clients.dynamodb,
      tableName: TABLE,
      now: () => NOW,
      maxAttempts: 3,
      backoff,
    });
    ddb.on(BatchGetCommand).resolves(reading());
    ddb.on(TransactWriteCommand).rejects(canceled());

    await expect(updateEntry(refusing, 'alice', CONVERSATION, merge([messageEventOf(1)]))).rejects.toThrow(
      ConversationListContentionError,
    );
    // Half of each cap: 5, 10 and 20 ms.
    expect(slept).toEqual([2, 5, 10]);
  });

  it('lets any other failure of the write through at once', async () => {
    ddb.on(BatchGetCommand).resolves(reading());
    ddb.on(TransactWriteCommand).rejects(new Error('InternalServerError'));

    await expect(updateEntry(store(), 'alice', CONVERSATION, merge([messageEventOf(1)]))).rejects.toThrow(
      'InternalServerError',
    );
    expect(writes()).toHaveLength(1);
  });

  it('fails rather than take an entry left unread by a throttled read for an absent one', async () => {
    ddb.on(BatchGetCommand).resolves({
      Responses: { [TABLE]: [clockItem(NOW - 5)] },
      UnprocessedKeys: {
        [TABLE]: { Keys: [{ userId: 'alice', itemKey: `conv#${CONVERSATION}` }], ConsistentRead: true },
      },
    });
    const change = vi.fn(merge([receiptEvent('bob', 'read', 3)]));

    await expect(updateEntry(store(), 'alice', CONVERSATION, change)).rejects.toThrow(
      'the read was throttled',
    );
    expect(change).not.toHaveBeenCalled();
    expect(writes()).toHaveLength(0);
  });

  it('lists the entries changed after a time with one strongly consistent query, and says whether more follow', async () => {
    ddb.on(QueryCommand).resolves({
      Items: [entryItem(state(3), NOW - 20), { ...entryItem(state(0), NOW - 10), lastMessage: undefined }],
    });

    const page = await store().listChangedSince('alice', NOW - 30, 1);

    expect(page).toEqual({ entries: [{ ...state(3), updatedAt: NOW - 20 }], hasMore: true });
    expect(ddb.commandCalls(QueryCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      IndexName: 'byUpdatedAt',
      KeyConditionExpression: 'userId = :u AND updatedAt > :after',
      ExpressionAttributeValues: { ':u': 'alice', ':after': NOW - 30 },
      ConsistentRead: true,
      Limit: 2,
    });
  });

  it('reads an entry stored without a last message as null', async () => {
    const { lastMessage: _lastMessage, ...withoutMessage } = entryItem(state(0), NOW - 10);
    ddb.on(QueryCommand).resolves({ Items: [withoutMessage] });

    const page = await store().listChangedSince('alice', 0, 50);

    expect(page).toEqual({ entries: [{ ...state(0), updatedAt: NOW - 10 }], hasMore: false });
  });
});
