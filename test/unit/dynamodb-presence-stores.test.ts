/**
 * What the DynamoDB presence and presence-subscription stores ask of DynamoDB, and how they
 * read its answers. Their contracts are `test/support/port-contracts/`, run on DynamoDB Local.
 */
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  type BatchWriteCommandInput,
  DeleteCommand,
  DynamoDBDocumentClient,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoDbPresenceStore } from '../../lambdas/adapters/dynamodb-presence-store.js';
import { DynamoDbPresenceSubscriptionStore } from '../../lambdas/adapters/dynamodb-presence-subscription-store.js';
import type { PresenceSubscription } from '../../lambdas/domain/ports.js';
import { mockAwsClients, NOW } from './support/harness.js';

const { ddb } = mockAwsClients();

const NOW_SECONDS = Math.floor(NOW / 1000);
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const presence = () => new DynamoDbPresenceStore({ client, tableName: 'unit-presence' });
const subscriptions = () =>
  new DynamoDbPresenceSubscriptionStore({ client, tableName: 'unit-presence-subscriptions', now: () => NOW });

const record = (userId: string) => ({
  userId,
  online: true,
  lastActiveAt: NOW - 60_000,
  expiresAt: NOW_SECONDS + 3600,
  version: 1,
});
const subscription = (watchedUserId: string, connectionId = 'conn-1'): PresenceSubscription => ({
  watchedUserId,
  connectionId,
  subscriberUserId: 'alice',
  expiresAt: NOW_SECONDS + 7200,
});

describe('the DynamoDB presence store', () => {
  it('marks a user offline with one update conditional on the version read and the user being online', async () => {
    ddb.on(UpdateCommand).resolves({});

    expect(await presence().markOffline('alice', 3, NOW)).toBe(true);

    expect(ddb.commandCalls(UpdateCommand)[0]?.args[0].input).toEqual({
      TableName: 'unit-presence',
      Key: { userId: 'alice' },
      UpdateExpression: 'SET #online = :false, lastSeen = :now REMOVE expiresAt',
      ConditionExpression: '#version = :version AND #online = :true',
      ExpressionAttributeNames: { '#online': 'online', '#version': 'version' },
      ExpressionAttributeValues: { ':false': false, ':true': true, ':now': NOW, ':version': 3 },
    });
  });

  it('answers false when the condition fails: a connect came in between', async () => {
    ddb
      .on(UpdateCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
      );

    expect(await presence().markOffline('alice', 3, NOW)).toBe(false);
  });

  it('lets any other failure of the offline update through', async () => {
    ddb.on(UpdateCommand).rejects(new Error('InternalServerError'));

    await expect(presence().markOffline('alice', 3, NOW)).rejects.toThrow('InternalServerError');
  });

  it('reads 100 users with one BatchGetItem, and none for no user', async () => {
    const userIds = Array.from({ length: 100 }, (_, index) => `user${index}`);
    ddb.on(BatchGetCommand).resolves({ Responses: { 'unit-presence': userIds.map(record) } });

    const none = await presence().getMany([]);
    const all = await presence().getMany(userIds);

    expect(none).toEqual([]);
    expect(all).toHaveLength(100);
    expect(ddb.commandCalls(BatchGetCommand)).toHaveLength(1);
  });

  it('reads again the keys DynamoDB left unprocessed, and only those', async () => {
    ddb
      .on(BatchGetCommand)
      .resolvesOnce({
        Responses: { 'unit-presence': [record('bob')] },
        UnprocessedKeys: { 'unit-presence': { Keys: [{ userId: 'carol' }] } },
      })
      .resolves({
        Responses: { 'unit-presence': [{ ...record('carol'), online: false, lastSeen: NOW - 1 }] },
      });

    const records = await presence().getMany(['bob', 'carol']);

    expect(records.map((r) => [r.userId, r.online, r.lastSeen])).toEqual([
      ['bob', true, null],
      ['carol', false, NOW - 1],
    ]);
    expect(ddb.commandCalls(BatchGetCommand)[1]?.args[0].input.RequestItems).toEqual({
      'unit-presence': { Keys: [{ userId: 'carol' }] },
    });
  });
});

describe('the DynamoDB presence subscription store', () => {
  it('writes subscriptions as puts, 25 to a BatchWriteItem, and nothing for none', async () => {
    ddb.on(BatchWriteCommand).resolves({});
    const many = Array.from({ length: 100 }, (_, index) => subscription(`user${index}`));

    await subscriptions().subscribe([]);
    await subscriptions().subscribe([subscription('bob'), subscription('alice')]);
    await subscriptions().subscribe(many);

    const [first, ...rest] = ddb.commandCalls(BatchWriteCommand).map((call) => call.args[0].input);
    expect(first).toEqual({
      RequestItems: {
        'unit-presence-subscriptions': [
          { PutRequest: { Item: subscription('bob') } },
          { PutRequest: { Item: subscription('alice') } },
        ],
      },
    } satisfies BatchWriteCommandInput);
    expect(rest.map((input) => input.RequestItems?.['unit-presence-subscriptions']?.length)).toEqual([
      25, 25, 25, 25,
    ]);
  });

  it('writes again the subscriptions DynamoDB left unprocessed', async () => {
    const unprocessed = [{ PutRequest: { Item: subscription('carol') } }];
    ddb
      .on(BatchWriteCommand)
      .resolvesOnce({ UnprocessedItems: { 'unit-presence-subscriptions': unprocessed } })
      .resolves({});

    await subscriptions().subscribe([subscription('bob'), subscription('carol')]);

    const calls = ddb.commandCalls(BatchWriteCommand).map((call) => call.args[0].input.RequestItems);
    expect(calls).toHaveLength(2);
    expect(calls[1]).toEqual({ 'unit-presence-subscriptions': unprocessed });
  });

  it('fails when subscriptions stay unprocessed after 5 attempts', async () => {
    ddb
      .on(BatchWriteCommand)
      .callsFake((input: BatchWriteCommandInput) => ({ UnprocessedItems: input.RequestItems }));

    await expect(subscriptions().subscribe([subscription('bob')])).rejects.toThrow(
      'presence subscriptions were not all written after 5 attempts',
    );
    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(5);
  });

  it('lists the live subscribers of a user with a query filtered on the expiry, page by page', async () => {
    ddb
      .on(QueryCommand)
      .resolvesOnce({
        Items: [subscription('bob', 'c1')],
        LastEvaluatedKey: { watchedUserId: 'bob', connectionId: 'c1' },
      })
      .resolves({ Items: [subscription('bob', 'c2')] });

    const listed = await subscriptions().listSubscribers('bob');

    expect(listed.map((s) => s.connectionId)).toEqual(['c1', 'c2']);
    expect(ddb.commandCalls(QueryCommand).map((call) => call.args[0].input)).toEqual([
      {
        TableName: 'unit-presence-subscriptions',
        KeyConditionExpression: 'watchedUserId = :w',
        FilterExpression: 'expiresAt > :now',
        ExpressionAttributeValues: { ':w': 'bob', ':now': NOW_SECONDS },
        ExclusiveStartKey: undefined,
      },
      {
        TableName: 'unit-presence-subscriptions',
        KeyConditionExpression: 'watchedUserId = :w',
        FilterExpression: 'expiresAt > :now',
        ExpressionAttributeValues: { ':w': 'bob', ':now': NOW_SECONDS },
        ExclusiveStartKey: { watchedUserId: 'bob', connectionId: 'c1' },
      },
    ]);
  });

  it('unsubscribes a connection by deleting its item', async () => {
    ddb.on(DeleteCommand).resolves({});

    await subscriptions().unsubscribe('bob', 'conn-alice-phone');

    expect(ddb.commandCalls(DeleteCommand).map((call) => call.args[0].input)).toEqual([
      {
        TableName: 'unit-presence-subscriptions',
        Key: { watchedUserId: 'bob', connectionId: 'conn-alice-phone' },
      },
    ]);
  });
});
