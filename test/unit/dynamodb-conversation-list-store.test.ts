/**
 * What the DynamoDB conversation-list store asks of DynamoDB, and how it reads DynamoDB's
 * answers: its reads, its conditional transactions with the clock, what it remembers of a
 * list, and its retries. Its contract is `test/support/port-contracts/`, run on DynamoDB Local.
 */
import { DynamoDBClient, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DynamoDBDocumentClient,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { MessageEventFrame, ReceiptEventFrame } from '@parley/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  DynamoDbConversationListStore,
  INDEX_WINDOW_MS,
} from '../../lambdas/adapters/dynamodb-conversation-list-store.js';
import { applyToEntry } from '../../lambdas/domain/conversation-list.js';
import { ConversationListContentionError } from '../../lambdas/domain/errors.js';
import type { ConversationEntryState } from '../../lambdas/domain/ports.js';
import { updateEntry } from '../support/conversation-list-updates.js';
import {
  CONVERSATION,
  message,
  messageEventOf,
  receiptEvent,
  receipts,
  state,
} from './support/conversation-entries.js';
import { FakeUserConversationsTable } from './support/dynamodb-tables.js';
import { mockAwsClients, NOW } from './support/harness.js';

const { ddb } = mockAwsClients();

afterEach(() => {
  vi.restoreAllMocks();
});

const TABLE = 'unit-user-conversations';
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));

describe('the DynamoDB conversation-list store', () => {
  const store = (options: { now?: () => number; maxAttempts?: number } = {}) => {
    return new DynamoDbConversationListStore({
      client,
      tableName: TABLE,
      now: options.now ?? (() => NOW),
      ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
    });
  };
  /** An entry's times as stored: the change, and the start of its index window. */
  const stamped = (changedAt: number) => ({
    changedAt,
    updatedAt: changedAt - (changedAt % INDEX_WINDOW_MS),
  });
  const entryItem = (entry: ConversationEntryState, changedAt: number) => ({
    userId: 'alice',
    itemKey: `conv#${CONVERSATION}`,
    ...entry,
    ...stamped(changedAt),
  });
  /** An entry as stored before `changedAt` existed: the exact time in `updatedAt`. */
  const legacyEntryItem = (entry: ConversationEntryState, updatedAt: number) => ({
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
              Item: { userId: 'alice', itemKey: `conv#${CONVERSATION}`, ...state(1), ...stamped(NOW) },
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
      Item: { userId: 'alice', itemKey: `conv#${CONVERSATION}`, ...state(4), ...stamped(NOW) },
      ConditionExpression: 'changedAt = :previous',
      ExpressionAttributeValues: { ':previous': NOW - 40 },
    });
  });

  it('rewrites an entry stored before changedAt existed in the new form, on condition of its updatedAt', async () => {
    ddb.on(BatchGetCommand).resolves(reading(clockItem(NOW - 5), legacyEntryItem(state(3), NOW - 5)));
    ddb.on(TransactWriteCommand).resolves({});

    await updateEntry(store(), 'alice', CONVERSATION, merge([messageEventOf(4)]));

    const [, entryPut] = writes()[0]?.TransactItems ?? [];
    expect(entryPut?.Put).toEqual({
      TableName: TABLE,
      Item: { userId: 'alice', itemKey: `conv#${CONVERSATION}`, ...state(4), ...stamped(NOW) },
      ConditionExpression: 'updatedAt = :previous',
      ExpressionAttributeValues: { ':previous': NOW - 5 },
    });
  });

  it('keeps the index key of an entry that changes again within its window', async () => {
    const lists = new FakeUserConversationsTable().install(ddb);
    const windowStart = NOW - (NOW % INDEX_WINDOW_MS);
    let now = windowStart + 10;
    const clocked = store({ now: () => now });

    await updateEntry(clocked, 'alice', CONVERSATION, merge([messageEventOf(1)]));
    now = windowStart + INDEX_WINDOW_MS - 1;
    await updateEntry(clocked, 'alice', CONVERSATION, merge([messageEventOf(2)]));
    const within = lists.entry('alice', CONVERSATION);
    now = windowStart + INDEX_WINDOW_MS;
    await updateEntry(clocked, 'alice', CONVERSATION, merge([messageEventOf(3)]));

    expect(within).toMatchObject({ changedAt: windowStart + INDEX_WINDOW_MS - 1, updatedAt: windowStart });
    expect(lists.entry('alice', CONVERSATION)).toMatchObject({
      changedAt: windowStart + INDEX_WINDOW_MS,
      updatedAt: windowStart + INDEX_WINDOW_MS,
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
    expect(items?.[1]?.changedAt).toBe(NOW + 8);
  });

  it('gives successive writes within one millisecond strictly increasing updatedAt', async () => {
    const lists = new FakeUserConversationsTable().install(ddb);
    const other = 'dm:alice:carol';

    await updateEntry(store(), 'alice', CONVERSATION, merge([messageEventOf(1)]));
    await updateEntry(store(), 'alice', other, (current) =>
      applyToEntry(other, current, [{ type: 'message', ...message(1, other) }]),
    );
    await updateEntry(store(), 'alice', CONVERSATION, merge([receiptEvent('bob', 'read', 1)]));

    expect(lists.entry('alice', other)?.changedAt).toBe(NOW + 1);
    expect(lists.entry('alice', CONVERSATION)?.changedAt).toBe(NOW + 2);
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
      ...stamped(NOW + 3),
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
    // A receipt alone creates no entry: the instance now remembers the entry as absent.
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
    // Another instance writes bob's list: the clock warm remembers for bob is stale.
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
    const slept: number[] = [];
    const backoff = { random: () => 0.5, sleep: async (ms: number) => void slept.push(ms) };
    const refusing = new DynamoDbConversationListStore({
      client,
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

  it('fails rather than list from a clock left unread by a throttled read', async () => {
    ddb.on(BatchGetCommand).resolves({
      Responses: { [TABLE]: [] },
      UnprocessedKeys: { [TABLE]: { Keys: [{ userId: 'alice', itemKey: 'clock' }], ConsistentRead: true } },
    });

    await expect(store().listChangedSince('alice', 0, 50)).rejects.toThrow('the read was throttled');
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(0);
  });

  it('reads the clock, then lists the entries changed after a time from the index, and says whether more follow', async () => {
    ddb.on(BatchGetCommand).resolves(reading(clockItem(NOW - 10)));
    ddb.on(QueryCommand).resolves({
      Items: [entryItem(state(3), NOW - 20), { ...entryItem(state(0), NOW - 10), lastMessage: undefined }],
    });

    const page = await store().listChangedSince('alice', NOW - 30, 1);

    expect(page).toEqual({ entries: [{ ...state(3), updatedAt: NOW - 20 }], hasMore: true });
    expect(ddb.commandCalls(BatchGetCommand)[0]?.args[0].input).toEqual({
      RequestItems: { [TABLE]: { Keys: [{ userId: 'alice', itemKey: 'clock' }], ConsistentRead: true } },
    });
    expect(ddb.commandCalls(QueryCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      IndexName: 'byUpdatedAt',
      KeyConditionExpression: 'userId = :u AND updatedAt >= :from',
      ExpressionAttributeValues: { ':u': 'alice', ':from': stamped(NOW - 29).updatedAt },
      ConsistentRead: true,
      Limit: 2,
    });
  });

  it('reads the copy of a last message past the retention period as none', async () => {
    const lists = new FakeUserConversationsTable().install(ddb, { query: true });
    const DAY_MS = 24 * 60 * 60 * 1000;
    lists.put(clockItem(NOW));
    lists.put({
      ...entryItem(state(3), NOW - 2),
      lastMessage: { ...message(3), serverTs: NOW - 8 * DAY_MS },
    });
    lists.put({
      ...entryItem(state(3), NOW - 1),
      itemKey: 'conv#dm:alice:carol',
      conversationId: 'dm:alice:carol',
      lastMessage: { ...message(3), serverTs: NOW - DAY_MS },
    });
    const retained = new DynamoDbConversationListStore({
      client,
      tableName: TABLE,
      now: () => NOW,
      retentionDays: 7,
    });

    const page = await retained.listChangedSince('alice', 0, 50);

    expect(page.entries.map((entry) => entry.lastMessage?.serverTs ?? null)).toEqual([null, NOW - DAY_MS]);
  });

  it('orders the entries of one index window by their change, not by the index', async () => {
    const lists = new FakeUserConversationsTable();
    lists.put(clockItem(NOW));
    // In the index, within one window, conv#dm:alice:bob comes before conv#dm:alice:carol.
    lists.put(entryItem(state(3), NOW));
    lists.put({
      ...entryItem(state(1), NOW - 1),
      itemKey: 'conv#dm:alice:carol',
      conversationId: 'dm:alice:carol',
    });
    lists.install(ddb, { query: true });

    const page = await store().listChangedSince('alice', 0, 1);

    expect(page.entries.map((entry) => entry.updatedAt)).toEqual([NOW - 1]);
    expect(page.hasMore).toBe(true);
  });

  it('leaves an entry changed after the clock was read for the next page', async () => {
    const lists = new FakeUserConversationsTable().install(ddb, { query: true });
    lists.put(clockItem(NOW - 5));
    lists.put(entryItem(state(3), NOW - 5));
    lists.put({
      ...entryItem(state(1), NOW),
      itemKey: 'conv#dm:alice:carol',
      conversationId: 'dm:alice:carol',
    });

    const page = await store().listChangedSince('alice', 0, 50);

    expect(page).toEqual({ entries: [{ ...state(3), updatedAt: NOW - 5 }], hasMore: false });
  });

  it('stops reading the index at the end of the window in which the page filled', async () => {
    const lists = new FakeUserConversationsTable().install(ddb, { query: true });
    lists.put(clockItem(NOW + 2 * INDEX_WINDOW_MS));
    lists.put(entryItem(state(3), NOW));
    lists.put({
      ...entryItem(state(1), NOW + 1),
      itemKey: 'conv#dm:alice:carol',
      conversationId: 'dm:alice:carol',
    });
    lists.put({
      ...entryItem(state(2), NOW + 2 * INDEX_WINDOW_MS),
      itemKey: 'conv#dm:alice:dave',
      conversationId: 'dm:alice:dave',
    });

    const page = await store().listChangedSince('alice', 0, 1);

    expect(page).toEqual({ entries: [{ ...state(3), updatedAt: NOW }], hasMore: true });
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(2);
  });

  it('lists an entry stored before changedAt existed by its updatedAt', async () => {
    const lists = new FakeUserConversationsTable().install(ddb, { query: true });
    lists.put(clockItem(NOW));
    lists.put(legacyEntryItem(state(3), NOW - 5));
    lists.put({
      ...entryItem(state(1), NOW),
      itemKey: 'conv#dm:alice:carol',
      conversationId: 'dm:alice:carol',
    });

    const page = await store().listChangedSince('alice', NOW - 6, 50);

    expect(page.entries.map((entry) => [entry.conversationId, entry.updatedAt])).toEqual([
      [CONVERSATION, NOW - 5],
      ['dm:alice:carol', NOW],
    ]);
  });

  it('reads an entry stored without a last message as null', async () => {
    const { lastMessage: _lastMessage, ...withoutMessage } = entryItem(state(0), NOW - 10);
    ddb.on(BatchGetCommand).resolves(reading(clockItem(NOW - 10)));
    ddb.on(QueryCommand).resolves({ Items: [withoutMessage] });

    const page = await store().listChangedSince('alice', 0, 50);

    expect(page).toEqual({ entries: [{ ...state(0), updatedAt: NOW - 10 }], hasMore: false });
  });
});
