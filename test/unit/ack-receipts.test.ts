import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutRecordCommand } from '@aws-sdk/client-kinesis';
import { GetCommand, QueryCommand, type QueryCommandInput, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { AckedFrame } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { DynamoDbReceiptStore } from '../../lambdas/adapters/dynamodb-receipt-store.js';
import { INTERNAL_ERROR_MESSAGE } from '../../lambdas/domain/errors.js';
import { createAckHandler } from '../../lambdas/handlers/ack.js';
import {
  answerOf,
  createTestDeps,
  errorOf,
  FakeConversationsTable,
  invoke,
  messageEvent,
  mockAwsClients,
  NOW,
  publishedRecords,
} from './support/harness.js';

const { ddb, kinesis } = mockAwsClients();

const CONVERSATION = 'dm:alice:bob';

const ackFrame = (overrides: Record<string, unknown> = {}) => ({
  action: 'ack',
  requestId: 'r2',
  conversationId: CONVERSATION,
  seq: 5,
  kind: 'read',
  ...overrides,
});

/** dm:alice:bob holding seq 1 to `lastSeq`, and alice's watermarks when given. */
function conversationWith(lastSeq: number, aliceWatermarks?: { deliveredSeq?: number; readSeq?: number }) {
  const table = new FakeConversationsTable().install(ddb);
  for (let seq = 1; seq <= lastSeq; seq++) {
    table.put({
      conversationId: CONVERSATION,
      itemKey: `msg#${String(seq).padStart(12, '0')}`,
      seq,
      messageId: `01JDMESSAGE${seq}`,
      clientMessageId: `cm-${seq}`,
      senderId: 'bob',
      senderDeviceId: 'phone',
      body: `message ${seq}`,
      serverTs: NOW + seq,
    });
  }
  if (aliceWatermarks) {
    table.put({ conversationId: CONVERSATION, itemKey: 'member#alice', userId: 'alice', ...aliceWatermarks });
  }
  return table;
}

const aliceItem = (table: FakeConversationsTable) => table.items(CONVERSATION, 'member#alice')[0];

const receiptRecord = (kind: 'delivered' | 'read', seq: number) => ({
  StreamName: 'unit-events',
  PartitionKey: CONVERSATION,
  event: { type: 'receipt', conversationId: CONVERSATION, userId: 'alice', kind, seq },
});

const acked = (kind: 'delivered' | 'read', seq: number): AckedFrame => ({
  type: 'acked',
  requestId: 'r2',
  conversationId: CONVERSATION,
  kind,
  seq,
});

async function ack(frame: Record<string, unknown>) {
  const { provider } = createTestDeps();
  return invoke(createAckHandler(provider), messageEvent(ackFrame(frame)));
}

describe('the ack handler', () => {
  it('raises the read watermark, lifts delivered with it, and publishes both receipts', async () => {
    const table = conversationWith(7);

    const result = await ack({ kind: 'read', seq: 5 });

    expect(result.statusCode).toBe(200);
    expect(answerOf<AckedFrame>(result)).toEqual(acked('read', 5));
    expect(aliceItem(table)).toEqual({
      conversationId: CONVERSATION,
      itemKey: 'member#alice',
      userId: 'alice',
      readSeq: 5,
      deliveredSeq: 5,
    });
    expect(publishedRecords(kinesis)).toEqual([receiptRecord('read', 5), receiptRecord('delivered', 5)]);
  });

  it('raises only the delivered watermark on a delivered ack', async () => {
    const table = conversationWith(7);

    const result = await ack({ kind: 'delivered', seq: 4 });

    expect(answerOf<AckedFrame>(result)).toEqual(acked('delivered', 4));
    expect(aliceItem(table)).toEqual({
      conversationId: CONVERSATION,
      itemKey: 'member#alice',
      userId: 'alice',
      deliveredSeq: 4,
    });
    expect(publishedRecords(kinesis)).toEqual([receiptRecord('delivered', 4)]);
  });

  it('raises each watermark with one conditional update that returns the old item when it fails', async () => {
    conversationWith(7);

    await ack({ kind: 'read', seq: 5 });

    const updates = ddb.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    expect(updates).toEqual(
      (['readSeq', 'deliveredSeq'] as const).map((field) => ({
        TableName: 'unit-conversations',
        Key: { conversationId: CONVERSATION, itemKey: 'member#alice' },
        UpdateExpression: 'SET #field = :seq, userId = :userId',
        ConditionExpression: 'attribute_not_exists(#field) OR #field < :seq',
        ExpressionAttributeNames: { '#field': field },
        ExpressionAttributeValues: { ':seq': 5, ':userId': 'alice' },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      })),
    );
  });

  it('checks the seq against the conversation’s last seq read strongly consistent', async () => {
    conversationWith(7);

    await ack({ seq: 7 });

    expect(ddb.commandCalls(QueryCommand)[0]?.args[0].input).toMatchObject({
      TableName: 'unit-conversations',
      ScanIndexForward: false,
      Limit: 1,
      ConsistentRead: true,
    });
  });

  it('changes nothing for a read ack below the watermark and answers the current one', async () => {
    const table = conversationWith(7, { deliveredSeq: 6, readSeq: 6 });

    const result = await ack({ kind: 'read', seq: 3 });

    expect(answerOf<AckedFrame>(result)).toEqual(acked('read', 6));
    expect(aliceItem(table)).toMatchObject({ deliveredSeq: 6, readSeq: 6 });
    expect(kinesis.calls()).toHaveLength(0);
  });

  it('changes nothing for a delivered ack below the watermark and answers the current one', async () => {
    const table = conversationWith(7, { deliveredSeq: 6, readSeq: 2 });

    const result = await ack({ kind: 'delivered', seq: 4 });

    expect(answerOf<AckedFrame>(result)).toEqual(acked('delivered', 6));
    expect(aliceItem(table)).toMatchObject({ deliveredSeq: 6, readSeq: 2 });
    expect(kinesis.calls()).toHaveLength(0);
  });

  it('raises read alone when delivered is already past it, and publishes only the read receipt', async () => {
    const table = conversationWith(7, { deliveredSeq: 6, readSeq: 2 });

    const result = await ack({ kind: 'read', seq: 4 });

    expect(answerOf<AckedFrame>(result)).toEqual(acked('read', 4));
    expect(aliceItem(table)).toMatchObject({ deliveredSeq: 6, readSeq: 4 });
    expect(publishedRecords(kinesis)).toEqual([receiptRecord('read', 4)]);
  });

  it('publishes again when an ack repeats the watermark exactly, repairing a retry whose publish failed', async () => {
    const table = conversationWith(7, { deliveredSeq: 5, readSeq: 5 });

    const result = await ack({ kind: 'read', seq: 5 });

    expect(answerOf<AckedFrame>(result)).toEqual(acked('read', 5));
    expect(aliceItem(table)).toMatchObject({ deliveredSeq: 5, readSeq: 5 });
    expect(publishedRecords(kinesis)).toEqual([receiptRecord('read', 5), receiptRecord('delivered', 5)]);
  });

  it('answers internal when the receipt cannot be published, and publishes it on the retry', async () => {
    const table = conversationWith(7);
    kinesis
      .on(PutRecordCommand)
      .rejectsOnce(new Error('ProvisionedThroughputExceededException'))
      .resolves({});

    const first = await ack({ kind: 'delivered', seq: 3 });
    const retry = await ack({ kind: 'delivered', seq: 3 });

    expect(errorOf(first)).toEqual({
      type: 'error',
      requestId: 'r2',
      code: 'internal',
      message: INTERNAL_ERROR_MESSAGE,
    });
    expect(answerOf<AckedFrame>(retry)).toEqual(acked('delivered', 3));
    expect(aliceItem(table)).toMatchObject({ deliveredSeq: 3 });
    expect(kinesis.commandCalls(PutRecordCommand)).toHaveLength(2);
    expect(publishedRecords(kinesis)[1]).toEqual(receiptRecord('delivered', 3));
  });

  it('answers internal and publishes nothing when the watermark update fails', async () => {
    conversationWith(7);
    ddb.on(UpdateCommand).rejects(new Error('InternalServerError'));

    const result = await ack({ kind: 'read', seq: 3 });

    expect(errorOf(result)).toMatchObject({
      requestId: 'r2',
      code: 'internal',
      message: INTERNAL_ERROR_MESSAGE,
    });
    expect(kinesis.calls()).toHaveLength(0);
  });

  it.each([
    ['delivered', 'a conversation with messages', 7],
    ['read', 'a conversation nobody has written in yet', 0],
  ] as const)('accepts a %s ack of seq 0 on %s and publishes nothing', async (kind, _case, lastSeq) => {
    conversationWith(lastSeq);

    const result = await ack({ kind, seq: 0 });

    expect(answerOf<AckedFrame>(result)).toEqual(acked(kind, 0));
    expect(kinesis.calls()).toHaveLength(0);
  });

  it('refuses a seq above the conversation’s last one as bad_request and writes nothing', async () => {
    conversationWith(7);

    const result = await ack({ seq: 8 });

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'r2',
      code: 'bad_request',
      message: "seq: must be at most the conversation's last seq, 7",
    });
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(0);
    expect(kinesis.calls()).toHaveLength(0);
  });

  it('refuses a conversation of which the caller is not a member as forbidden and reads nothing', async () => {
    conversationWith(7);

    const result = await ack({ conversationId: 'dm:bob:carol' });

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'r2',
      code: 'forbidden',
      message: 'conversationId: you are not a member of dm:bob:carol',
    });
    expect(ddb.calls()).toHaveLength(0);
    expect(kinesis.calls()).toHaveLength(0);
  });

  it.each([
    {
      name: 'a kind that is neither delivered nor read',
      frame: { kind: 'seen' },
      message: 'kind: must be delivered or read',
    },
    { name: 'a missing kind', frame: { kind: undefined }, message: 'kind: must be delivered or read' },
    { name: 'a negative seq', frame: { seq: -1 }, message: 'seq: must be 0 or more' },
    { name: 'a fractional seq', frame: { seq: 2.5 }, message: 'seq: must be an integer' },
    { name: 'a seq that is a string', frame: { seq: '5' }, message: 'seq: must be a number' },
    { name: 'a missing seq', frame: { seq: undefined }, message: 'seq: is required' },
    {
      name: 'a missing conversationId',
      frame: { conversationId: undefined },
      message: 'conversationId: is required',
    },
    {
      name: 'a malformed conversationId',
      frame: { conversationId: 'dm:bob:alice' },
      message: 'conversationId: must be dm:{x}:{y} with x and y two user ids and x sorting before y',
    },
    {
      name: 'an unknown field',
      frame: { device: 'phone' },
      message: 'device: is not a field of this action',
    },
  ])('refuses $name with bad_request and touches nothing', async ({ frame, message }) => {
    const result = await ack(frame);

    expect(errorOf(result)).toEqual({ type: 'error', requestId: 'r2', code: 'bad_request', message });
    expect(ddb.calls()).toHaveLength(0);
    expect(kinesis.calls()).toHaveLength(0);
  });

  it('refuses an ack without requestId, answering a null requestId', async () => {
    const result = await ack({ requestId: undefined });

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: null,
      code: 'bad_request',
      message: 'requestId: is required',
    });
  });
});

describe('the receipt store', () => {
  const store = () => {
    const { deps } = createTestDeps();
    return new DynamoDbReceiptStore({ client: deps.clients.dynamodb, tableName: 'unit-conversations' });
  };
  const conditionFailed = (item?: Record<string, unknown>) =>
    new ConditionalCheckFailedException({
      message: 'The conditional request failed',
      $metadata: { httpStatusCode: 400 },
      ...(item ? { Item: marshall(item) } : {}),
    });

  it('says the watermark moved when the conditional update succeeds', async () => {
    ddb.on(UpdateCommand).resolves({});

    await expect(store().raiseWatermark(CONVERSATION, 'alice', 'read', 4)).resolves.toEqual({
      seq: 4,
      moved: true,
    });
  });

  it('answers the watermark of the item the failed condition returns', async () => {
    ddb
      .on(UpdateCommand)
      .rejects(conditionFailed({ conversationId: CONVERSATION, itemKey: 'member#alice', readSeq: 9 }));

    await expect(store().raiseWatermark(CONVERSATION, 'alice', 'read', 4)).resolves.toEqual({
      seq: 9,
      moved: false,
    });
    expect(ddb.commandCalls(GetCommand)).toHaveLength(0);
  });

  it('reads the current watermark, strongly consistent, when the failed condition returns no item', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    ddb.on(GetCommand).resolves({
      Item: { conversationId: CONVERSATION, itemKey: 'member#alice', deliveredSeq: 9, readSeq: 6 },
    });

    const outcome = await store().raiseWatermark(CONVERSATION, 'alice', 'delivered', 4);

    expect(outcome).toEqual({ seq: 9, moved: false });
    expect(ddb.commandCalls(GetCommand)[0]?.args[0].input).toEqual({
      TableName: 'unit-conversations',
      Key: { conversationId: CONVERSATION, itemKey: 'member#alice' },
      ConsistentRead: true,
    });
  });

  it('answers the current watermark through the ack handler when the failed condition returns no item', async () => {
    ddb.on(QueryCommand).resolves({ Items: [{ seq: 7 }] });
    ddb.on(UpdateCommand).rejects(conditionFailed());
    ddb.on(GetCommand).resolves({
      Item: {
        conversationId: CONVERSATION,
        itemKey: 'member#alice',
        userId: 'alice',
        deliveredSeq: 6,
        readSeq: 6,
      },
    });

    const result = await ack({ kind: 'read', seq: 3 });

    expect(answerOf<AckedFrame>(result)).toEqual(acked('read', 6));
    expect(kinesis.calls()).toHaveLength(0);
  });

  it('lets any other failure of the update through', async () => {
    ddb.on(UpdateCommand).rejects(new Error('ProvisionedThroughputExceededException'));

    await expect(store().raiseWatermark(CONVERSATION, 'alice', 'read', 4)).rejects.toThrow(
      'ProvisionedThroughputExceededException',
    );
  });

  it('lists the members’ watermarks with one strongly consistent query, a missing one at 0', async () => {
    ddb.on(QueryCommand).resolves({
      Items: [
        { conversationId: CONVERSATION, itemKey: 'member#alice', userId: 'alice', deliveredSeq: 3 },
        { conversationId: CONVERSATION, itemKey: 'member#bob', userId: 'bob', deliveredSeq: 7, readSeq: 5 },
      ],
    });

    const receipts = await store().listReceipts(CONVERSATION);

    expect(receipts).toEqual([
      { userId: 'alice', deliveredSeq: 3, readSeq: 0 },
      { userId: 'bob', deliveredSeq: 7, readSeq: 5 },
    ]);
    expect(ddb.commandCalls(QueryCommand).map((call) => call.args[0].input)).toEqual([
      {
        TableName: 'unit-conversations',
        KeyConditionExpression: 'conversationId = :c AND begins_with(itemKey, :p)',
        ExpressionAttributeValues: { ':c': CONVERSATION, ':p': 'member#' },
        ConsistentRead: true,
      } satisfies QueryCommandInput,
    ]);
  });
});
