import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ProvisionedThroughputExceededException, PutRecordCommand } from '@aws-sdk/client-kinesis';
import {
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Message, SentFrame } from '@parley/protocol';
import { describe, expect, it, vi } from 'vitest';
import { DynamoDbMessageStore } from '../../lambdas/adapters/dynamodb-message-store.js';
import { backoffDelay } from '../../lambdas/domain/backoff.js';
import { INTERNAL_ERROR_MESSAGE } from '../../lambdas/domain/errors.js';
import { createLastSeqCache, DEFAULT_SEQUENCING, sendMessage } from '../../lambdas/domain/sequencing.js';
import { createSendHandler } from '../../lambdas/handlers/send.js';
import {
  answerOf,
  createTestDeps,
  errorOf,
  FakeConversationsTable,
  invoke,
  messageEvent,
  mockAwsClients,
  NOW,
  transactionCanceled,
} from './support/harness.js';

const { ddb, ddbBase, kinesis } = mockAwsClients();

const CONVERSATION = 'dm:alice:bob';
const CLIENT_MESSAGE_ID = '4f1c0e9a-6b1d-4c47-9a39-2b1a7d2f6c11';
const TABLE = 'unit-conversations';

const sendFrame = (overrides: Record<string, unknown> = {}) => ({
  action: 'send',
  requestId: 'r1',
  to: 'bob',
  clientMessageId: CLIENT_MESSAGE_ID,
  body: 'hello',
  ...overrides,
});

/** The first send of CLIENT_MESSAGE_ID, as stored: seq 7, an hour before NOW. */
const FIRST_SEND: Message = {
  conversationId: CONVERSATION,
  seq: 7,
  messageId: '01JDFIRSTSEND0000000000000',
  clientMessageId: CLIENT_MESSAGE_ID,
  senderId: 'alice',
  senderDeviceId: 'phone',
  body: 'hello',
  serverTs: NOW - 3_600_000,
};
const FIRST_SEND_KEY_ITEM = {
  conversationId: CONVERSATION,
  itemKey: `idem#alice#${CLIENT_MESSAGE_ID}`,
  seq: FIRST_SEND.seq,
  messageId: FIRST_SEND.messageId,
  serverTs: FIRST_SEND.serverTs,
};

const decodeRecord = (data: Uint8Array | undefined) => JSON.parse(Buffer.from(data ?? []).toString('utf8'));

describe('sequencing a send through the DynamoDB message store', () => {
  it('reads the last seq with one strongly consistent query, newest first', async () => {
    const { provider } = createTestDeps();
    ddb.on(QueryCommand).resolves({ Items: [{ seq: 6 }] });
    ddb.on(TransactWriteCommand).resolves({});

    await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    const [query] = ddb.commandCalls(QueryCommand);
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(1);
    expect(query?.args[0].input).toEqual({
      TableName: TABLE,
      KeyConditionExpression: 'conversationId = :c AND begins_with(itemKey, :p)',
      ExpressionAttributeValues: { ':c': CONVERSATION, ':p': 'msg#' },
      ProjectionExpression: 'seq',
      ScanIndexForward: false,
      Limit: 1,
      ConsistentRead: true,
    });
  });

  it('writes the message at lastSeq + 1 and its idempotency key in one transaction, each only if absent', async () => {
    const { provider } = createTestDeps();
    ddb.on(QueryCommand).resolves({ Items: [{ seq: 6 }] });
    ddb.on(TransactWriteCommand).resolves({});

    await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    const transactions = ddb.commandCalls(TransactWriteCommand);
    expect(transactions).toHaveLength(1);
    expect(transactions[0]?.args[0].input).toEqual({
      TransactItems: [
        {
          Put: {
            TableName: TABLE,
            Item: {
              conversationId: CONVERSATION,
              itemKey: 'msg#000000000007',
              seq: 7,
              messageId: '01MSG0001',
              clientMessageId: CLIENT_MESSAGE_ID,
              senderId: 'alice',
              senderDeviceId: 'phone',
              body: 'hello',
              serverTs: NOW,
            },
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
            },
            ConditionExpression: 'attribute_not_exists(itemKey)',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          },
        },
      ],
    });
  });

  it('publishes the stored message after the commit, partitioned by conversationId', async () => {
    const { provider } = createTestDeps();
    ddb.on(QueryCommand).resolves({ Items: [{ seq: 6 }] });
    ddb.on(TransactWriteCommand).resolves({});

    await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    const records = kinesis.commandCalls(PutRecordCommand);
    expect(records).toHaveLength(1);
    const input = records[0]?.args[0].input;
    expect(input?.StreamName).toBe('unit-events');
    expect(input?.PartitionKey).toBe(CONVERSATION);
    expect(decodeRecord(input?.Data)).toEqual({
      type: 'message',
      conversationId: CONVERSATION,
      seq: 7,
      messageId: '01MSG0001',
      clientMessageId: CLIENT_MESSAGE_ID,
      senderId: 'alice',
      senderDeviceId: 'phone',
      body: 'hello',
      serverTs: NOW,
    });
    expect(
      ddb.commandCalls(TransactWriteCommand)[0]?.calledBefore(records[0] as (typeof records)[number]),
    ).toBe(true);
  });

  it('answers a fresh send with its seq, messageId and serverTs and duplicate false', async () => {
    const { provider } = createTestDeps();
    ddb.on(QueryCommand).resolves({ Items: [{ seq: 6 }] });
    ddb.on(TransactWriteCommand).resolves({});

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(result.statusCode).toBe(200);
    expect(answerOf<SentFrame>(result)).toEqual({
      type: 'sent',
      requestId: 'r1',
      conversationId: CONVERSATION,
      clientMessageId: CLIENT_MESSAGE_ID,
      seq: 7,
      messageId: '01MSG0001',
      serverTs: NOW,
      duplicate: false,
    });
    expect(ddbBase.calls()).toHaveLength(0);
  });

  it('gives the first message of a conversation seq 1', async () => {
    const { provider } = createTestDeps();
    ddb.on(QueryCommand).resolves({ Items: [] });
    ddb.on(TransactWriteCommand).resolves({});

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(answerOf<SentFrame>(result)).toMatchObject({ type: 'sent', seq: 1, duplicate: false });
    const [put] = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(put?.Put?.Item).toMatchObject({ itemKey: 'msg#000000000001', seq: 1 });
  });

  it('answers a resend with the first seq, messageId and serverTs, and publishes the first message again', async () => {
    const { provider, sleep } = createTestDeps();
    ddb.on(QueryCommand).resolves({ Items: [{ seq: 9 }] });
    ddb
      .on(TransactWriteCommand)
      .rejects(transactionCanceled('None', 'ConditionalCheckFailed', FIRST_SEND_KEY_ITEM));
    ddb
      .on(GetCommand, { Key: { conversationId: CONVERSATION, itemKey: 'msg#000000000007' } })
      .resolves({ Item: { ...FIRST_SEND, itemKey: 'msg#000000000007' } });

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(answerOf<SentFrame>(result)).toEqual({
      type: 'sent',
      requestId: 'r1',
      conversationId: CONVERSATION,
      clientMessageId: CLIENT_MESSAGE_ID,
      seq: 7,
      messageId: FIRST_SEND.messageId,
      serverTs: FIRST_SEND.serverTs,
      duplicate: true,
    });
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(1);
    expect(ddb.commandCalls(GetCommand)).toHaveLength(1);
    expect(ddb.commandCalls(GetCommand)[0]?.args[0].input.ConsistentRead).toBe(true);
    const records = kinesis.commandCalls(PutRecordCommand);
    expect(records).toHaveLength(1);
    expect(records[0]?.args[0].input.PartitionKey).toBe(CONVERSATION);
    expect(decodeRecord(records[0]?.args[0].input.Data)).toEqual({ type: 'message', ...FIRST_SEND });
    expect(sleep).not.toHaveBeenCalled();
  });

  it('reads the idempotency item when the cancellation reason carries no item', async () => {
    const { provider } = createTestDeps();
    ddb.on(QueryCommand).resolves({ Items: [{ seq: 9 }] });
    ddb.on(TransactWriteCommand).rejects(transactionCanceled('None', 'ConditionalCheckFailed'));
    ddb
      .on(GetCommand, { Key: { conversationId: CONVERSATION, itemKey: `idem#alice#${CLIENT_MESSAGE_ID}` } })
      .resolves({ Item: FIRST_SEND_KEY_ITEM });
    ddb
      .on(GetCommand, { Key: { conversationId: CONVERSATION, itemKey: 'msg#000000000007' } })
      .resolves({ Item: { ...FIRST_SEND, itemKey: 'msg#000000000007' } });

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(answerOf<SentFrame>(result)).toMatchObject({
      seq: 7,
      messageId: FIRST_SEND.messageId,
      serverTs: FIRST_SEND.serverTs,
      duplicate: true,
    });
    const reads = ddb.commandCalls(GetCommand).map((call) => call.args[0].input);
    expect(reads).toEqual([
      {
        TableName: TABLE,
        Key: { conversationId: CONVERSATION, itemKey: `idem#alice#${CLIENT_MESSAGE_ID}` },
        ConsistentRead: true,
      },
      {
        TableName: TABLE,
        Key: { conversationId: CONVERSATION, itemKey: 'msg#000000000007' },
        ConsistentRead: true,
      },
    ]);
    expect(kinesis.commandCalls(PutRecordCommand)).toHaveLength(1);
  });

  it('takes a failed key condition for a duplicate even when the seq was taken as well', async () => {
    const { provider, sleep } = createTestDeps();
    ddb.on(QueryCommand).resolves({ Items: [{ seq: 6 }] });
    ddb
      .on(TransactWriteCommand)
      .rejects(transactionCanceled('ConditionalCheckFailed', 'ConditionalCheckFailed', FIRST_SEND_KEY_ITEM));
    ddb.on(GetCommand).resolves({ Item: { ...FIRST_SEND, itemKey: 'msg#000000000007' } });

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(answerOf<SentFrame>(result)).toMatchObject({ seq: 7, duplicate: true });
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(1);
    expect(sleep).not.toHaveBeenCalled();
  });

  it('answers internal when the idempotency item names a message that is not there', async () => {
    const { provider } = createTestDeps();
    ddb.on(QueryCommand).resolves({ Items: [{ seq: 9 }] });
    ddb
      .on(TransactWriteCommand)
      .rejects(transactionCanceled('None', 'ConditionalCheckFailed', FIRST_SEND_KEY_ITEM));
    ddb.on(GetCommand).resolves({});

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'r1',
      code: 'internal',
      message: INTERNAL_ERROR_MESSAGE,
    });
    expect(kinesis.commandCalls(PutRecordCommand)).toHaveLength(0);
  });

  it('reads the last seq again and retries after a backoff when another sender took the seq', async () => {
    const { provider, sleep } = createTestDeps({ random: () => 0.5 });
    ddb
      .on(QueryCommand)
      .resolvesOnce({ Items: [{ seq: 3 }] })
      .resolves({ Items: [{ seq: 4 }] });
    const sleepsBeforeEachTry: number[] = [];
    ddb.on(TransactWriteCommand).callsFake(() => {
      sleepsBeforeEachTry.push(sleep.mock.calls.length);
      if (sleepsBeforeEachTry.length === 1) throw transactionCanceled('ConditionalCheckFailed', 'None');
      return {};
    });

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(answerOf<SentFrame>(result)).toMatchObject({
      type: 'sent',
      seq: 5,
      messageId: '01MSG0002',
      duplicate: false,
    });
    const claimed = ddb
      .commandCalls(TransactWriteCommand)
      .map((call) => call.args[0].input.TransactItems?.map((item) => item.Put?.Item?.seq));
    expect(claimed).toEqual([
      [4, 4],
      [5, 5],
    ]);
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(2);
    expect(sleepsBeforeEachTry).toEqual([0, 1]);
    expect(sleep).toHaveBeenCalledWith(Math.floor(0.5 * DEFAULT_SEQUENCING.baseDelayMs));
    const records = kinesis.commandCalls(PutRecordCommand);
    expect(records).toHaveLength(1);
    expect(decodeRecord(records[0]?.args[0].input.Data)).toMatchObject({ seq: 5, messageId: '01MSG0002' });
  });

  it.each([
    ['the message', 'TransactionConflict', 'None'],
    ['the idempotency key', 'None', 'TransactionConflict'],
  ] as const)(
    'retries like a taken seq when a concurrent transaction on %s conflicts',
    async (_item, messageReason, keyReason) => {
      const { provider, sleep } = createTestDeps();
      ddb.on(QueryCommand).resolves({ Items: [{ seq: 3 }] });
      ddb.on(TransactWriteCommand).rejectsOnce(transactionCanceled(messageReason, keyReason)).resolves({});

      const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

      expect(answerOf<SentFrame>(result)).toMatchObject({ type: 'sent', seq: 4, duplicate: false });
      expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(2);
      expect(sleep).toHaveBeenCalledTimes(1);
      expect(kinesis.commandCalls(PutRecordCommand)).toHaveLength(1);
    },
  );

  it('answers internal and publishes nothing when every attempt loses the race', async () => {
    const { provider, sleep } = createTestDeps({ random: () => 0.5 });
    ddb.on(QueryCommand).resolves({ Items: [{ seq: 3 }] });
    ddb.on(TransactWriteCommand).rejects(transactionCanceled('ConditionalCheckFailed', 'None'));

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'r1',
      code: 'internal',
      message: INTERNAL_ERROR_MESSAGE,
    });
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(DEFAULT_SEQUENCING.maxAttempts);
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(DEFAULT_SEQUENCING.maxAttempts);
    // A sleep between attempts, none after the last; the cap doubles from the base up to the maximum.
    const { maxAttempts, baseDelayMs, maxDelayMs } = DEFAULT_SEQUENCING;
    const halfOfEachCap = Array.from({ length: maxAttempts - 1 }, (_, attempt) =>
      Math.floor(0.5 * Math.min(maxDelayMs, baseDelayMs * 2 ** attempt)),
    );
    expect(sleep.mock.calls.map(([ms]) => ms)).toEqual(halfOfEachCap);
    expect(halfOfEachCap.at(-1)).toBe(Math.floor(maxDelayMs / 2));
    expect(kinesis.commandCalls(PutRecordCommand)).toHaveLength(0);
  });

  it('answers internal without retrying when DynamoDB cancels the transaction for another reason', async () => {
    const { provider, sleep } = createTestDeps();
    ddb.on(QueryCommand).resolves({ Items: [{ seq: 3 }] });
    ddb.on(TransactWriteCommand).rejects(transactionCanceled('ThrottlingError', 'None'));

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(errorOf(result)).toMatchObject({
      code: 'internal',
      requestId: 'r1',
      message: INTERNAL_ERROR_MESSAGE,
    });
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(1);
    expect(sleep).not.toHaveBeenCalled();
    expect(kinesis.commandCalls(PutRecordCommand)).toHaveLength(0);
  });

  it('answers internal with no detail when the last-seq query fails', async () => {
    const { provider } = createTestDeps();
    ddb.on(QueryCommand).rejects(new Error('socket hang up at 10.0.0.12'));

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'r1',
      code: 'internal',
      message: INTERNAL_ERROR_MESSAGE,
    });
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });
});

describe('a send whose publish fails after the commit', () => {
  it('answers internal, and the client retry stores nothing new and publishes through the duplicate path', async () => {
    const { provider } = createTestDeps();
    const table = new FakeConversationsTable().install(ddb);
    kinesis
      .on(PutRecordCommand)
      .rejectsOnce(
        new ProvisionedThroughputExceededException({
          message: 'Rate exceeded for shard shardId-000000000000',
          $metadata: { httpStatusCode: 400 },
        }),
      )
      .resolves({
        ShardId: 'shardId-000000000000',
        SequenceNumber: '49590338271490256608559692538361571095921575989136588898',
      });
    const send = createSendHandler(provider);

    const first = await invoke(send, messageEvent(sendFrame({ requestId: 'r1' })));
    const retry = await invoke(send, messageEvent(sendFrame({ requestId: 'r1-retry' })));

    expect(errorOf(first)).toEqual({
      type: 'error',
      requestId: 'r1',
      code: 'internal',
      message: INTERNAL_ERROR_MESSAGE,
    });
    expect(answerOf<SentFrame>(retry)).toEqual({
      type: 'sent',
      requestId: 'r1-retry',
      conversationId: CONVERSATION,
      clientMessageId: CLIENT_MESSAGE_ID,
      seq: 1,
      messageId: '01MSG0001',
      serverTs: NOW,
      duplicate: true,
    });
    expect(table.items(CONVERSATION, 'msg#')).toHaveLength(1);
    expect(table.items(CONVERSATION, 'idem#')).toHaveLength(1);
    const published = kinesis
      .commandCalls(PutRecordCommand)
      .map((call) => decodeRecord(call.args[0].input.Data));
    expect(published).toHaveLength(2);
    expect(published[1]).toEqual({
      type: 'message',
      conversationId: CONVERSATION,
      seq: 1,
      messageId: '01MSG0001',
      clientMessageId: CLIENT_MESSAGE_ID,
      senderId: 'alice',
      senderDeviceId: 'phone',
      body: 'hello',
      serverTs: NOW,
    });
  });
});

describe('sequencing against a table with DynamoDB semantics', () => {
  it('gives concurrent senders consecutive seqs with no gap and no repeat', async () => {
    const { provider } = createTestDeps();
    const table = new FakeConversationsTable().install(ddb);
    const send = createSendHandler(provider);

    const results = await Promise.all(
      Array.from({ length: 6 }, (_, index) =>
        invoke(send, messageEvent(sendFrame({ requestId: `r${index}`, clientMessageId: `m${index}` }))),
      ),
    );

    const seqs = results.map((result) => answerOf<SentFrame>(result).seq).sort((a, b) => a - b);
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6]);
    expect(table.items(CONVERSATION, 'msg#').map((item) => item.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(kinesis.commandCalls(PutRecordCommand)).toHaveLength(6);
    // They all read lastSeq 0 at first: the race was real and lost attempts were retried.
    expect(ddb.commandCalls(TransactWriteCommand).length).toBeGreaterThan(6);
  });

  it('claims the seq after the one it committed last in the conversation without reading first', async () => {
    const { provider } = createTestDeps();
    const table = new FakeConversationsTable().install(ddb);
    const send = createSendHandler(provider);

    await invoke(send, messageEvent(sendFrame({ requestId: 'r1', clientMessageId: 'm1' })));
    const second = await invoke(send, messageEvent(sendFrame({ requestId: 'r2', clientMessageId: 'm2' })));

    expect(answerOf<SentFrame>(second)).toMatchObject({ type: 'sent', seq: 2, duplicate: false });
    expect(table.items(CONVERSATION, 'msg#').map((item) => item.seq)).toEqual([1, 2]);
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(1);
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(2);
  });

  it('reads the last seq and tries again at once when another instance sent since its own last commit', async () => {
    const { provider, sleep } = createTestDeps();
    const table = new FakeConversationsTable().install(ddb);
    const send = createSendHandler(provider);
    await invoke(send, messageEvent(sendFrame({ requestId: 'r1', clientMessageId: 'm1' })));
    // Another Lambda instance, which shares the table and not this one's memory, stores seq 2 and 3.
    const { provider: elsewhere } = createTestDeps();
    for (const id of ['m2', 'm3']) {
      await invoke(
        createSendHandler(elsewhere),
        messageEvent(sendFrame({ requestId: id, clientMessageId: id })),
      );
    }
    ddb.resetHistory();

    const result = await invoke(send, messageEvent(sendFrame({ requestId: 'r4', clientMessageId: 'm4' })));

    expect(answerOf<SentFrame>(result)).toMatchObject({ type: 'sent', seq: 4, duplicate: false });
    expect(table.items(CONVERSATION, 'msg#').map((item) => item.seq)).toEqual([1, 2, 3, 4]);
    const claimed = ddb
      .commandCalls(TransactWriteCommand)
      .map((call) => call.args[0].input.TransactItems?.[0]?.Put?.Item?.seq);
    // Its guess, seq 2, was taken: one read, then seq 4, with no backoff.
    expect(claimed).toEqual([2, 4]);
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(1);
    expect(sleep).not.toHaveBeenCalled();
  });

  it('reads the last seq rather than guess while another send of the instance in the conversation is under way', async () => {
    const lastSeq = vi.fn(async () => 1);
    let releaseFirst: () => void = () => {};
    const stored: number[] = [];
    const deps = {
      ...DEFAULT_SEQUENCING,
      messages: {
        lastSeq,
        storeMessage: async (message: Message) => {
          stored.push(message.seq);
          // The first send's transaction is still under way when the second begins.
          if (stored.length === 1) await new Promise<void>((resolve) => (releaseFirst = resolve));
          return { status: 'stored' as const };
        },
        getMessage: async () => undefined,
        listMessages: async () => ({ messages: [], lastSeq: 0 }),
      },
      publisher: { publish: async () => {} },
      newMessageId: () => 'id',
      now: () => NOW,
      sleep: async () => {},
      random: () => 0.5,
      lastSeqCache: createLastSeqCache(),
    };
    deps.lastSeqCache.remember(CONVERSATION, 1);
    const input = (clientMessageId: string) => ({
      conversationId: CONVERSATION,
      senderId: 'alice',
      senderDeviceId: 'phone',
      clientMessageId,
      body: 'hi',
    });

    const first = sendMessage(deps, input('m2'));
    const second = sendMessage(deps, input('m3'));
    await vi.waitFor(() => expect(lastSeq).toHaveBeenCalledTimes(1));
    releaseFirst();
    await Promise.all([first, second]);

    // The first guessed seq 2 without reading; the second read, rather than guess seq 2 as well.
    expect(stored[0]).toBe(2);
    expect(lastSeq).toHaveBeenCalledTimes(1);
  });

  it('answers a resend from its idempotency key when it guesses the seq too', async () => {
    const { provider } = createTestDeps();
    const table = new FakeConversationsTable().install(ddb);
    const send = createSendHandler(provider);
    const first = await invoke(send, messageEvent(sendFrame({ requestId: 'r1', clientMessageId: 'm1' })));

    const resend = await invoke(send, messageEvent(sendFrame({ requestId: 'r2', clientMessageId: 'm1' })));

    expect(answerOf<SentFrame>(resend)).toMatchObject({
      seq: answerOf<SentFrame>(first).seq,
      duplicate: true,
    });
    expect(table.items(CONVERSATION, 'msg#')).toHaveLength(1);
  });

  it('stores a resend from another device of the same user once, under the first seq', async () => {
    const { provider } = createTestDeps();
    const table = new FakeConversationsTable().install(ddb);
    const send = createSendHandler(provider);
    const fromLaptop = messageEvent(sendFrame({ requestId: 'r2', body: 'hello again' }));
    fromLaptop.requestContext.authorizer = { principalId: 'alice', userId: 'alice', deviceId: 'laptop' };

    const first = await invoke(send, messageEvent(sendFrame()));
    const resend = await invoke(send, fromLaptop);

    expect(answerOf<SentFrame>(first)).toMatchObject({ seq: 1, duplicate: false });
    expect(answerOf<SentFrame>(resend)).toMatchObject({
      requestId: 'r2',
      seq: 1,
      messageId: answerOf<SentFrame>(first).messageId,
      duplicate: true,
    });
    expect(table.items(CONVERSATION, 'msg#')).toEqual([
      expect.objectContaining({ seq: 1, senderDeviceId: 'phone', body: 'hello' }),
    ]);
  });

  it('sequences the same clientMessageId into another conversation as a new message', async () => {
    const { provider } = createTestDeps();
    const table = new FakeConversationsTable().install(ddb);
    const send = createSendHandler(provider);

    await invoke(send, messageEvent(sendFrame({ to: 'bob' })));
    const other = await invoke(send, messageEvent(sendFrame({ to: 'carol' })));

    expect(answerOf<SentFrame>(other)).toMatchObject({
      conversationId: 'dm:alice:carol',
      seq: 1,
      duplicate: false,
    });
    expect(table.items('dm:alice:carol', 'msg#')).toHaveLength(1);
  });

  it('lets another user use the same clientMessageId in the same conversation', async () => {
    const { provider } = createTestDeps();
    const table = new FakeConversationsTable().install(ddb);
    const send = createSendHandler(provider);
    const fromBob = messageEvent(sendFrame({ to: 'alice' }));
    fromBob.requestContext.authorizer = { principalId: 'bob', userId: 'bob', deviceId: 'phone' };

    await invoke(send, messageEvent(sendFrame()));
    const bobs = await invoke(send, fromBob);

    expect(answerOf<SentFrame>(bobs)).toMatchObject({
      conversationId: CONVERSATION,
      seq: 2,
      duplicate: false,
    });
    expect(table.items(CONVERSATION, 'msg#').map((item) => item.senderId)).toEqual(['alice', 'bob']);
  });
});

describe('the sequencing settings', () => {
  it('remembers the highest seq committed per conversation, and forgets the least recently used first', () => {
    const cache = createLastSeqCache(2);

    cache.remember('a', 5);
    cache.remember('a', 4);
    cache.remember('b', 1);
    cache.get('a');
    cache.remember('c', 1);

    expect(cache.get('a')).toBe(5);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('c')).toBe(1);
    cache.forget('a');
    expect(cache.get('a')).toBeUndefined();
    expect(cache.begin('c')).toBe(1);
    expect(cache.begin('c')).toBeUndefined();
    cache.end('c');
    cache.end('c');
    expect(cache.begin('c')).toBe(1);
  });

  it('stays below the default cap for the default settings', () => {
    const delays = Array.from({ length: DEFAULT_SEQUENCING.maxAttempts }, (_, attempt) =>
      backoffDelay(attempt, DEFAULT_SEQUENCING, () => 0.999_999),
    );

    expect(Math.max(...delays)).toBeLessThan(DEFAULT_SEQUENCING.maxDelayMs);
    expect(delays).toEqual([...delays].sort((a, b) => a - b));
  });
});

describe('the message store', () => {
  it('asks DynamoDB for consumed capacity and reports it only when measuring', async () => {
    const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
    const reports: [string, unknown][] = [];
    const measured = new DynamoDbMessageStore({
      client,
      tableName: TABLE,
      onCapacity: (operation, capacity) => reports.push([operation, capacity]),
    });
    const plain = new DynamoDbMessageStore({ client, tableName: TABLE });
    ddb
      .on(QueryCommand)
      .resolves({ Items: [{ seq: 2 }], ConsumedCapacity: { TableName: TABLE, CapacityUnits: 0.5 } });

    await measured.lastSeq(CONVERSATION);
    await plain.lastSeq(CONVERSATION);

    const [measuredQuery, plainQuery] = ddb.commandCalls(QueryCommand).map((call) => call.args[0].input);
    expect(measuredQuery?.ReturnConsumedCapacity).toBe('TOTAL');
    expect(plainQuery?.ReturnConsumedCapacity).toBeUndefined();
    expect(reports).toEqual([['lastSeq', [{ TableName: TABLE, CapacityUnits: 0.5 }]]]);
  });

  it('rethrows an error that is not a cancelled transaction', async () => {
    const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
    const store = new DynamoDbMessageStore({ client, tableName: TABLE });
    const failure = new Error('ValidationException');
    ddb.on(TransactWriteCommand).rejects(failure);

    await expect(store.storeMessage(FIRST_SEND)).rejects.toBe(failure);
  });
});

describe('the send handler’s metrics', () => {
  it('records nothing for a send that neither retried nor was a duplicate', async () => {
    const { provider, metrics } = createTestDeps();
    ddb.on(QueryCommand).resolves({ Items: [{ seq: 6 }] });
    ddb.on(TransactWriteCommand).resolves({});

    await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(metrics.values('DuplicatesSuppressed')).toEqual([]);
    expect(metrics.values('SequencingRetries')).toEqual([]);
  });

  it('counts a resend answered from its idempotency key as a suppressed duplicate', async () => {
    const { provider, metrics } = createTestDeps();
    ddb.on(QueryCommand).resolves({ Items: [{ seq: 9 }] });
    ddb
      .on(TransactWriteCommand)
      .rejects(transactionCanceled('None', 'ConditionalCheckFailed', FIRST_SEND_KEY_ITEM));
    ddb.on(GetCommand).resolves({ Item: { ...FIRST_SEND, itemKey: 'msg#000000000007' } });

    await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(metrics.values('DuplicatesSuppressed')).toEqual([1]);
    expect(metrics.values('SequencingRetries')).toEqual([]);
  });

  it('records how many times a send read the last seq again', async () => {
    const { provider, metrics } = createTestDeps();
    ddb.on(QueryCommand).resolves({ Items: [{ seq: 3 }] });
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(transactionCanceled('ConditionalCheckFailed', 'None'))
      .rejectsOnce(transactionCanceled('TransactionConflict', 'None'))
      .resolves({});

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(answerOf<SentFrame>(result)).toMatchObject({ type: 'sent', duplicate: false });
    expect(metrics.values('SequencingRetries')).toEqual([2]);
    expect(metrics.values('DuplicatesSuppressed')).toEqual([]);
  });

  it('publishes the metrics once, also when the send answers internal', async () => {
    const { provider, metrics } = createTestDeps();
    const flush = vi.spyOn(metrics, 'flush');
    ddb.on(QueryCommand).rejects(new Error('ProvisionedThroughputExceededException'));

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(errorOf(result)).toMatchObject({ code: 'internal' });
    expect(flush).toHaveBeenCalledTimes(1);
  });

  it('publishes the metrics once for a frame it refuses', async () => {
    const { provider, metrics } = createTestDeps();
    const flush = vi.spyOn(metrics, 'flush');

    const result = await invoke(createSendHandler(provider), messageEvent('not json'));

    expect(errorOf(result)).toMatchObject({ code: 'bad_request' });
    expect(flush).toHaveBeenCalledTimes(1);
  });
});
