/**
 * What the DynamoDB group connection index and the list store's group ids ask of DynamoDB,
 * and how they read its answers. Their contracts are `test/support/port-contracts/`, run on
 * DynamoDB Local.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  type BatchWriteCommandInput,
  DynamoDBDocumentClient,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoDbConversationListStore } from '../../lambdas/adapters/dynamodb-conversation-list-store.js';
import { DynamoDbGroupConnectionStore } from '../../lambdas/adapters/dynamodb-group-connection-store.js';
import { GroupConnectionIndexError } from '../../lambdas/domain/errors.js';
import type { Connection } from '../../lambdas/domain/ports.js';
import { mockAwsClients, NOW } from './support/harness.js';

const { ddb } = mockAwsClients();

const NOW_SECONDS = Math.floor(NOW / 1000);
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const index = () =>
  new DynamoDbGroupConnectionStore({ client, tableName: 'unit-group-connections', now: () => NOW });
const connection = (userId: string, connectionId: string): Connection => ({
  userId,
  connectionId,
  deviceId: 'phone',
  connectedAt: NOW - 1000,
  expiresAt: NOW_SECONDS + 7200,
});

describe('the DynamoDB group connection index', () => {
  it('reads a group’s partition strongly consistent, page after page, leaving out expired items, as connections', async () => {
    ddb
      .on(QueryCommand)
      .resolvesOnce({
        Items: [{ ...connection('alice', 'c1'), conversationId: 'grp:g' }],
        LastEvaluatedKey: { conversationId: 'grp:g', connectionId: 'c1' },
      })
      .resolvesOnce({ Items: [{ ...connection('bob', 'c2'), conversationId: 'grp:g' }] });

    const listed = await index().listGroupConnections('grp:g');

    expect(listed).toEqual([connection('alice', 'c1'), connection('bob', 'c2')]);
    const inputs = ddb.commandCalls(QueryCommand).map((call) => call.args[0].input);
    expect(inputs[0]).toEqual({
      TableName: 'unit-group-connections',
      KeyConditionExpression: 'conversationId = :c',
      FilterExpression: 'expiresAt > :now',
      ExpressionAttributeValues: { ':c': 'grp:g', ':now': NOW_SECONDS },
      ConsistentRead: true,
      ExclusiveStartKey: undefined,
    });
    expect(inputs[1]?.ExclusiveStartKey).toEqual({ conversationId: 'grp:g', connectionId: 'c1' });
  });

  it('writes the connections under the group 25 at a time, and writes again what DynamoDB left unprocessed', async () => {
    const many = Array.from({ length: 30 }, (_, n) => connection('alice', `c${n}`));
    const leftOver = { PutRequest: { Item: { ...many[0], conversationId: 'grp:g' } } };
    ddb
      .on(BatchWriteCommand)
      .resolvesOnce({ UnprocessedItems: { 'unit-group-connections': [leftOver] } })
      .resolves({});

    await index().addConnections('grp:g', many);

    const batches = ddb
      .commandCalls(BatchWriteCommand)
      .map((call) => (call.args[0].input as BatchWriteCommandInput).RequestItems?.['unit-group-connections']);
    expect(batches.map((batch) => batch?.length)).toEqual([25, 1, 5]);
    expect(batches[0]?.[0]).toEqual({ PutRequest: { Item: { ...many[0], conversationId: 'grp:g' } } });
    expect(batches[1]).toEqual([leftOver]);
  });

  it('deletes by group and connection id, and fails by name when the writes stay unprocessed', async () => {
    const stuck = { DeleteRequest: { Key: { conversationId: 'grp:g', connectionId: 'c1' } } };
    ddb.on(BatchWriteCommand).resolves({ UnprocessedItems: { 'unit-group-connections': [stuck] } });

    await expect(index().removeConnections('grp:g', ['c1'])).rejects.toBeInstanceOf(
      GroupConnectionIndexError,
    );

    const calls = ddb.commandCalls(BatchWriteCommand);
    expect(calls).toHaveLength(5);
    expect(calls[0]?.args[0].input.RequestItems?.['unit-group-connections']).toEqual([stuck]);
  });

  it('sends nothing for nothing to write', async () => {
    await index().addConnections('grp:g', []);
    await index().removeConnections('grp:g', []);

    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(0);
  });
});

describe('the DynamoDB conversation list store’s group ids', () => {
  it('queries the group entries of the user only, strongly consistent, keeping those of a member, page after page', async () => {
    const list = new DynamoDbConversationListStore({ client, tableName: 'unit-user-conversations' });
    ddb
      .on(QueryCommand)
      .resolvesOnce({ Items: [{ conversationId: 'grp:a' }], LastEvaluatedKey: { userId: 'alice' } })
      .resolvesOnce({ Items: [{ conversationId: 'grp:b' }] });

    expect(await list.listGroupIds('alice')).toEqual(['grp:a', 'grp:b']);
    expect(ddb.commandCalls(QueryCommand)[0]?.args[0].input).toEqual({
      TableName: 'unit-user-conversations',
      KeyConditionExpression: 'userId = :u AND begins_with(itemKey, :groups)',
      FilterExpression: '#member = :true',
      ProjectionExpression: 'conversationId',
      ExpressionAttributeNames: { '#member': 'member' },
      ExpressionAttributeValues: { ':u': 'alice', ':groups': 'conv#grp:', ':true': true },
      ConsistentRead: true,
      ExclusiveStartKey: undefined,
    });
  });
});
