/**
 * What the DynamoDB receipt store asks of DynamoDB, and how it reads DynamoDB's answers. Its
 * contract is `test/support/port-contracts/`, run on DynamoDB Local.
 */
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoDbReceiptStore } from '../../lambdas/adapters/dynamodb-receipt-store.js';
import { mockAwsClients } from './support/harness.js';

const { ddb } = mockAwsClients();

const CONVERSATION = 'dm:alice:bob';
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));

describe('the DynamoDB receipt store', () => {
  const store = () => new DynamoDbReceiptStore({ client, tableName: 'unit-conversations' });
  const conditionFailed = (item?: Record<string, unknown>) =>
    new ConditionalCheckFailedException({
      message: 'The conditional request failed',
      $metadata: { httpStatusCode: 400 },
      ...(item ? { Item: marshall(item) } : {}),
    });

  it('raises a watermark with one conditional update that returns the old item when it fails', async () => {
    ddb.on(UpdateCommand).resolves({});

    await store().raiseWatermark(CONVERSATION, 'alice', 'read', 5);
    await store().raiseWatermark(CONVERSATION, 'alice', 'delivered', 5);

    const updates = ddb.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    expect(updates).toEqual(
      (['readSeq', 'deliveredSeq'] as const).map((field) => ({
        TableName: 'unit-conversations',
        Key: { conversationId: CONVERSATION, itemKey: 'member#alice' },
        UpdateExpression: 'SET #field = :seq, userId = :userId',
        ConditionExpression: 'attribute_not_exists(#field) OR #field < :seq',
        ExpressionAttributeNames: { '#field': field },
        ExpressionAttributeValues: { ':seq': 5, ':userId': 'alice' },
        ReturnValues: 'UPDATED_OLD',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      })),
    );
  });

  it('says the watermark moved when the conditional update succeeds, from 0 when it had none', async () => {
    ddb.on(UpdateCommand).resolves({});

    await expect(store().raiseWatermark(CONVERSATION, 'alice', 'read', 4)).resolves.toEqual({
      seq: 4,
      moved: true,
      previous: 0,
    });
  });

  it('answers the watermark the update replaced, from the old values DynamoDB returns', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: { readSeq: 2, userId: 'alice' } });

    await expect(store().raiseWatermark(CONVERSATION, 'alice', 'read', 4)).resolves.toEqual({
      seq: 4,
      moved: true,
      previous: 2,
    });
  });

  it('answers the watermark of the item the failed condition returns', async () => {
    ddb
      .on(UpdateCommand)
      .rejects(conditionFailed({ conversationId: CONVERSATION, itemKey: 'member#alice', readSeq: 9 }));

    await expect(store().raiseWatermark(CONVERSATION, 'alice', 'read', 4)).resolves.toEqual({
      seq: 9,
      moved: false,
      previous: 9,
    });
    expect(ddb.commandCalls(GetCommand)).toHaveLength(0);
  });

  it('reads the current watermark, strongly consistent, when the failed condition returns no item', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    ddb.on(GetCommand).resolves({
      Item: { conversationId: CONVERSATION, itemKey: 'member#alice', deliveredSeq: 9, readSeq: 6 },
    });

    const outcome = await store().raiseWatermark(CONVERSATION, 'alice', 'delivered', 4);

    expect(outcome).toEqual({ seq: 9, moved: false, previous: 9 });
    expect(ddb.commandCalls(GetCommand)[0]?.args[0].input).toEqual({
      TableName: 'unit-conversations',
      Key: { conversationId: CONVERSATION, itemKey: 'member#alice' },
      ConsistentRead: true,
    });
  });

  it('reads one member’s watermarks with one strongly consistent GetItem, a missing one at 0', async () => {
    ddb.on(GetCommand).resolves({
      Item: { conversationId: 'grp:lunch', itemKey: 'member#alice', userId: 'alice', readSeq: 6 },
    });

    const receipt = await store().getReceipt('grp:lunch', 'alice');

    expect(receipt).toEqual({ userId: 'alice', deliveredSeq: 0, readSeq: 6 });
    expect(ddb.commandCalls(GetCommand)[0]?.args[0].input).toEqual({
      TableName: 'unit-conversations',
      Key: { conversationId: 'grp:lunch', itemKey: 'member#alice' },
      ConsistentRead: true,
    });
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
