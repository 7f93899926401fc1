/**
 * What the DynamoDB message store asks of DynamoDB, and how it reads DynamoDB's answers. Its
 * contract (what a store answers) is `test/support/port-contracts/`, run on DynamoDB Local.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import { IDEMPOTENCY_KEY_DAYS, type Message } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { DynamoDbMessageStore } from '../../lambdas/adapters/dynamodb-message-store.js';
import { message } from './support/conversation-entries.js';
import { transactionCanceled } from './support/dynamodb-tables.js';
import { mockAwsClients, NOW } from './support/harness.js';

const { ddb } = mockAwsClients();

const CONVERSATION = 'dm:alice:bob';
const CLIENT_MESSAGE_ID = '4f1c0e9a-6b1d-4c47-9a39-2b1a7d2f6c11';
const TABLE = 'unit-conversations';

const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const store = () => new DynamoDbMessageStore({ client, tableName: TABLE });

const MESSAGE: Message = {
  conversationId: CONVERSATION,
  seq: 7,
  messageId: '01MSG0001',
  clientMessageId: CLIENT_MESSAGE_ID,
  senderId: 'alice',
  senderDeviceId: 'phone',
  body: 'hello',
  serverTs: NOW,
};

/** The first send of CLIENT_MESSAGE_ID, as stored: seq 7, an hour before NOW. */
const FIRST_SEND: Message = {
  ...MESSAGE,
  messageId: '01JDFIRSTSEND0000000000000',
  serverTs: NOW - 3_600_000,
};
const FIRST_SEND_KEY_ITEM = {
  conversationId: CONVERSATION,
  itemKey: `idem#alice#${CLIENT_MESSAGE_ID}`,
  seq: FIRST_SEND.seq,
  messageId: FIRST_SEND.messageId,
  serverTs: FIRST_SEND.serverTs,
};
const FIRST_SEND_REF = { seq: 7, messageId: FIRST_SEND.messageId, serverTs: FIRST_SEND.serverTs };

describe('the DynamoDB message store', () => {
  it('reads the last seq with one strongly consistent query, newest first', async () => {
    ddb.on(QueryCommand).resolves({ Items: [{ seq: 6 }] });

    const lastSeq = await store().lastSeq(CONVERSATION);

    expect(lastSeq).toBe(6);
    expect(ddb.commandCalls(QueryCommand).map((call) => call.args[0].input)).toEqual([
      {
        TableName: TABLE,
        KeyConditionExpression: 'conversationId = :c AND begins_with(itemKey, :p)',
        ExpressionAttributeValues: { ':c': CONVERSATION, ':p': 'msg#' },
        ProjectionExpression: 'seq',
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      },
    ]);
  });

  it('writes the message under its zero-padded seq and its idempotency key in one transaction, each only if absent', async () => {
    ddb.on(TransactWriteCommand).resolves({});

    const outcome = await store().storeMessage(MESSAGE);

    expect(outcome).toEqual({ status: 'stored' });
    expect(ddb.commandCalls(TransactWriteCommand).map((call) => call.args[0].input)).toEqual([
      {
        TransactItems: [
          {
            Put: {
              TableName: TABLE,
              Item: { ...MESSAGE, itemKey: 'msg#000000000007' },
              ConditionExpression: 'attribute_not_exists(itemKey)',
            },
          },
          {
            Put: {
              TableName: TABLE,
              Item: {
                conversationId: CONVERSATION,
                itemKey: `idem#alice#${CLIENT_MESSAGE_ID}`,
                seq: 7,
                messageId: '01MSG0001',
                serverTs: NOW,
                expiresAt: Math.floor(NOW / 1000) + 30 * 24 * 3600,
              },
              ConditionExpression: 'attribute_not_exists(itemKey)',
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            },
          },
        ],
      },
    ]);
  });

  it('lets the idempotency item expire 30 days after its message, in whole epoch seconds, and not the message', async () => {
    ddb.on(TransactWriteCommand).resolves({});

    await store().storeMessage({ ...MESSAGE, serverTs: 1_700_000_000_999 });

    const [message, key] = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(key?.Put?.Item?.expiresAt).toBe(1_700_000_000 + 2_592_000);
    expect(message?.Put?.Item).not.toHaveProperty('expiresAt');
    expect(IDEMPOTENCY_KEY_DAYS).toBe(30);
  });

  it('answers a duplicate from the idempotency item the failed condition returns, without reading', async () => {
    ddb
      .on(TransactWriteCommand)
      .rejects(transactionCanceled('None', 'ConditionalCheckFailed', FIRST_SEND_KEY_ITEM));

    const outcome = await store().storeMessage(MESSAGE);

    expect(outcome).toEqual({ status: 'duplicate', original: FIRST_SEND_REF });
    expect(ddb.commandCalls(GetCommand)).toHaveLength(0);
  });

  it('reads the idempotency item, strongly consistent, when the cancellation reason carries no item', async () => {
    ddb.on(TransactWriteCommand).rejects(transactionCanceled('None', 'ConditionalCheckFailed'));
    ddb.on(GetCommand).resolves({ Item: FIRST_SEND_KEY_ITEM });

    const outcome = await store().storeMessage(MESSAGE);

    expect(outcome).toEqual({ status: 'duplicate', original: FIRST_SEND_REF });
    expect(ddb.commandCalls(GetCommand).map((call) => call.args[0].input)).toEqual([
      {
        TableName: TABLE,
        Key: { conversationId: CONVERSATION, itemKey: `idem#alice#${CLIENT_MESSAGE_ID}` },
        ConsistentRead: true,
      },
    ]);
  });

  it('takes a failed key condition for a duplicate even when the seq was taken as well', async () => {
    ddb
      .on(TransactWriteCommand)
      .rejects(transactionCanceled('ConditionalCheckFailed', 'ConditionalCheckFailed', FIRST_SEND_KEY_ITEM));

    expect(await store().storeMessage(MESSAGE)).toEqual({ status: 'duplicate', original: FIRST_SEND_REF });
  });

  it('answers seq_taken when only the message’s condition failed', async () => {
    ddb.on(TransactWriteCommand).rejects(transactionCanceled('ConditionalCheckFailed', 'None'));

    expect(await store().storeMessage(MESSAGE)).toEqual({ status: 'seq_taken' });
  });

  it.each([
    ['the message', 'TransactionConflict', 'None'],
    ['the idempotency key', 'None', 'TransactionConflict'],
  ] as const)(
    'answers conflict when a concurrent transaction on %s conflicts',
    async (_item, messageReason, keyReason) => {
      ddb.on(TransactWriteCommand).rejects(transactionCanceled(messageReason, keyReason));

      expect(await store().storeMessage(MESSAGE)).toEqual({ status: 'conflict' });
    },
  );

  it('lets through a transaction DynamoDB cancelled for another reason', async () => {
    const throttled = transactionCanceled('ThrottlingError', 'None');
    ddb.on(TransactWriteCommand).rejects(throttled);

    await expect(store().storeMessage(MESSAGE)).rejects.toBe(throttled);
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(1);
  });

  it('rethrows an error that is not a cancelled transaction', async () => {
    const failure = new Error('ValidationException');
    ddb.on(TransactWriteCommand).rejects(failure);

    await expect(store().storeMessage(FIRST_SEND)).rejects.toBe(failure);
  });

  it('reads a message by its zero-padded seq, strongly consistent, without its sort key', async () => {
    ddb.on(GetCommand).resolves({});
    ddb
      .on(GetCommand, { Key: { conversationId: CONVERSATION, itemKey: 'msg#000000000007' } })
      .resolves({ Item: { ...FIRST_SEND, itemKey: 'msg#000000000007' } });

    const found = await store().getMessage(CONVERSATION, 7);
    const missing = await store().getMessage(CONVERSATION, 8);

    expect(found).toEqual(FIRST_SEND);
    expect(missing).toBeUndefined();
    expect(ddb.commandCalls(GetCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      Key: { conversationId: CONVERSATION, itemKey: 'msg#000000000007' },
      ConsistentRead: true,
    });
  });

  it('reads a page with one strongly consistent query on the message keys after afterSeq, beside the last seq', async () => {
    ddb
      .on(QueryCommand, { KeyConditionExpression: 'conversationId = :c AND itemKey BETWEEN :from AND :to' })
      .resolves({ Items: [{ ...FIRST_SEND, itemKey: 'msg#000000000007' }] });
    ddb
      .on(QueryCommand, { KeyConditionExpression: 'conversationId = :c AND begins_with(itemKey, :p)' })
      .resolves({ Items: [{ seq: 9 }] });

    const page = await store().listMessages(CONVERSATION, 4, 50);

    expect(page).toEqual({ messages: [FIRST_SEND], lastSeq: 9 });
    expect(ddb.commandCalls(QueryCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      KeyConditionExpression: 'conversationId = :c AND itemKey BETWEEN :from AND :to',
      ExpressionAttributeValues: {
        ':c': CONVERSATION,
        ':from': 'msg#000000000005',
        ':to': 'msg#999999999999',
      },
      Limit: 50,
      ConsistentRead: true,
    });
  });

  it('reads only the last seq after the largest seq a sort key holds, whose bounds DynamoDB would refuse', async () => {
    ddb.on(QueryCommand).resolves({ Items: [{ seq: 5 }] });

    const page = await store().listMessages(CONVERSATION, 9_999_999_999_998, 100);

    expect(page).toEqual({ messages: [], lastSeq: 5 });
    const conditions = ddb
      .commandCalls(QueryCommand)
      .map((call) => call.args[0].input.KeyConditionExpression);
    expect(conditions).toEqual(['conversationId = :c AND begins_with(itemKey, :p)']);
  });

  it('asks DynamoDB for consumed capacity and reports it only when measuring', async () => {
    const reports: [string, unknown][] = [];
    const measured = new DynamoDbMessageStore({
      client,
      tableName: TABLE,
      onCapacity: (operation, capacity) => reports.push([operation, capacity]),
    });
    ddb
      .on(QueryCommand)
      .resolves({ Items: [{ seq: 2 }], ConsumedCapacity: { TableName: TABLE, CapacityUnits: 0.5 } });

    await measured.lastSeq(CONVERSATION);
    await store().lastSeq(CONVERSATION);

    const [measuredQuery, plainQuery] = ddb.commandCalls(QueryCommand).map((call) => call.args[0].input);
    expect(measuredQuery?.ReturnConsumedCapacity).toBe('TOTAL');
    expect(plainQuery?.ReturnConsumedCapacity).toBeUndefined();
    expect(reports).toEqual([['lastSeq', [{ TableName: TABLE, CapacityUnits: 0.5 }]]]);
  });
});

const DAY_MS = 24 * 60 * 60 * 1000;
const retained = (now = NOW) =>
  new DynamoDbMessageStore({ client, tableName: TABLE, retentionDays: 7, now: () => now });

/** A message as the table holds it under a 7-day retention, stored `ageDays` before NOW. */
const storedItem = (seq: number, ageDays: number) => {
  const serverTs = NOW - ageDays * DAY_MS;
  return {
    ...message(seq),
    serverTs,
    itemKey: `msg#${String(seq).padStart(12, '0')}`,
    expiresAt: Math.floor(serverTs / 1000) + 7 * 24 * 3600,
  };
};
const plain = ({ itemKey: _key, expiresAt: _expiry, ...rest }: ReturnType<typeof storedItem>): Message =>
  rest;

/** Answers the page query with `items` and the last-seq query with `newest`. */
function answer(items: Record<string, unknown>[], newest: Record<string, unknown>[], more = false) {
  ddb
    .on(QueryCommand, { KeyConditionExpression: 'conversationId = :c AND itemKey BETWEEN :from AND :to' })
    .resolves({ Items: items, ...(more ? { LastEvaluatedKey: { itemKey: 'x' } } : {}) });
  ddb
    .on(QueryCommand, { KeyConditionExpression: 'conversationId = :c AND begins_with(itemKey, :p)' })
    .resolves({ Items: newest });
}

describe('the message store under a retention period', () => {
  it('gives the message an expiry retention days after it and moves the never-expiring head in the same transaction', async () => {
    ddb.on(TransactWriteCommand).resolves({});

    await retained().storeMessage({ ...message(7), serverTs: 1_700_000_000_999 });

    const items = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(items[0]?.Put?.Item?.expiresAt).toBe(1_700_000_000 + 7 * 24 * 3600);
    expect(items[2]).toEqual({
      Update: {
        TableName: TABLE,
        Key: { conversationId: CONVERSATION, itemKey: 'msg#head' },
        UpdateExpression: 'SET headSeq = :seq',
        ConditionExpression: 'attribute_not_exists(headSeq) OR headSeq < :seq',
        ExpressionAttributeValues: { ':seq': 7 },
      },
    });
  });

  it('lets the idempotency key expire with its message when the retention is shorter than 30 days', async () => {
    ddb.on(TransactWriteCommand).resolves({});

    await retained().storeMessage({ ...message(7), serverTs: 1_700_000_000_999 });

    const [stored, key] = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(key?.Put?.Item?.expiresAt).toBe(stored?.Put?.Item?.expiresAt);
  });

  it('answers seq_taken when the head is already at the seq', async () => {
    ddb.on(TransactWriteCommand).rejects(transactionCanceled('None', 'None'));
    const error = transactionCanceled('None', 'None');
    error.CancellationReasons?.push({ Code: 'ConditionalCheckFailed' });
    ddb.on(TransactWriteCommand).rejects(error);

    expect(await retained().storeMessage(message(7))).toEqual({ status: 'seq_taken' });
  });

  it('keeps the last seq from the head once the newest messages are deleted', async () => {
    ddb.on(QueryCommand).resolves({ Items: [{ headSeq: 9 }, { seq: 4 }] });

    expect(await retained().lastSeq(CONVERSATION)).toBe(9);
    expect(ddb.commandCalls(QueryCommand)[0]?.args[0].input).toMatchObject({
      ProjectionExpression: 'seq, headSeq',
      Limit: 2,
    });
  });

  it('reads a head left by a retention since turned off, and the newest message after it', async () => {
    ddb
      .on(QueryCommand)
      .resolvesOnce({ Items: [{}] })
      .resolves({ Items: [{ seq: 12 }] });
    ddb.on(GetCommand).resolves({ Item: { headSeq: 9 } });
    const store = new DynamoDbMessageStore({ client, tableName: TABLE });

    expect(await store.lastSeq(CONVERSATION)).toBe(12);
  });

  it('reads an expired message DynamoDB has not deleted yet as gone', async () => {
    ddb.on(GetCommand).resolves({ Item: storedItem(3, 8) });

    expect(await retained().getMessage(CONVERSATION, 3)).toBeUndefined();
  });

  it('answers the seqs of expired and deleted messages with one goneThrough watermark', async () => {
    // 2 is deleted already, 3 expired but still stored, 4 and 5 kept.
    answer([storedItem(1, 9), storedItem(3, 8), storedItem(4, 6), storedItem(5, 1)], [{ headSeq: 5 }]);

    const page = await retained().listMessages(CONVERSATION, 0, 100);

    expect(page).toEqual({
      messages: [plain(storedItem(4, 6)), plain(storedItem(5, 1))],
      lastSeq: 5,
      goneThrough: 3,
    });
  });

  it('answers goneThrough the last seq when every message is gone and deleted', async () => {
    answer([], [{ headSeq: 8 }]);

    expect(await retained().listMessages(CONVERSATION, 2, 100)).toEqual({
      messages: [],
      lastSeq: 8,
      goneThrough: 8,
    });
  });

  it('moves past a page of expired messages only as far as the page read', async () => {
    answer([storedItem(1, 9), storedItem(2, 9)], [{ headSeq: 8 }], true);

    expect(await retained().listMessages(CONVERSATION, 0, 2)).toEqual({
      messages: [],
      lastSeq: 8,
      goneThrough: 2,
    });
  });

  it('answers no goneThrough while nothing read is gone', async () => {
    answer([storedItem(3, 1)], [{ headSeq: 3 }]);

    expect(await retained().listMessages(CONVERSATION, 2, 100)).toEqual({
      messages: [plain(storedItem(3, 1))],
      lastSeq: 3,
    });
  });
});
