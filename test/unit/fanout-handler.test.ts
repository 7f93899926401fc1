import {
  ApiGatewayManagementApiClient,
  GoneException,
  LimitExceededException,
  PostToConnectionCommand,
  type PostToConnectionCommandInput,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { KinesisStreamEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { isGone } from '../../lambdas/adapters/api-gateway-connection-pusher.js';
import type { Connection } from '../../lambdas/domain/ports.js';
import { createFanoutHandler } from '../../lambdas/handlers/fanout.js';
import { createTestDeps, kinesisEvent, lambdaContext, testConfig } from './support/harness.js';

const ddb = mockClient(DynamoDBDocumentClient);
const ddbBase = mockClient(DynamoDBClient);
const api = mockClient(ApiGatewayManagementApiClient);

afterEach(() => {
  ddb.reset();
  ddbBase.reset();
  api.reset();
});

const EXPIRES_AT = Math.floor(Date.now() / 1000) + 3600;
const connection = (userId: string, deviceId: string): Connection => ({
  userId,
  connectionId: `conn-${userId}-${deviceId}`,
  deviceId,
  connectedAt: 1_764_289_990_000,
  expiresAt: EXPIRES_AT,
});
const CONNECTIONS: Record<string, Connection[]> = {
  alice: [connection('alice', 'phone'), connection('alice', 'laptop')],
  bob: [connection('bob', 'phone')],
  carol: [connection('carol', 'tablet')],
};

/** The fixture's records, in shard order: alice-bob 1, bob-carol 1, alice-bob 2, alice-bob 3. */
const [ALICE_BOB_1, BOB_CAROL_1, ALICE_BOB_2, ALICE_BOB_3] = [0, 1, 2, 3];

function serveConnections(connections: Record<string, Connection[]> = CONNECTIONS) {
  ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => ({
    Items: connections[input.ExpressionAttributeValues?.[':u'] as string] ?? [],
  }));
}

const textOf = (input: PostToConnectionCommandInput) =>
  Buffer.from(input.Data as Uint8Array).toString('utf8');
const frameOf = (input: PostToConnectionCommandInput) => JSON.parse(textOf(input));
const posts = () =>
  api.commandCalls(PostToConnectionCommand).map((call) => {
    const input = call.args[0].input;
    const frame = frameOf(input);
    return { connectionId: input.ConnectionId, conversationId: frame.conversationId, seq: frame.seq };
  });
const sequenceNumberOf = (batch: KinesisStreamEvent, index: number) =>
  batch.Records[index]?.kinesis.sequenceNumber as string;
const failuresOf = (batch: KinesisStreamEvent, ...indexes: number[]) =>
  indexes.map((index) => ({ itemIdentifier: sequenceNumberOf(batch, index) }));
/** The post of `seq` of `conversationId` to `connectionId` throws `error`; every other post succeeds. */
const failPost = (connectionId: string, conversationId: string, seq: number, error: Error) => {
  api.on(PostToConnectionCommand).callsFake((input: PostToConnectionCommandInput) => {
    const frame = frameOf(input);
    if (input.ConnectionId === connectionId && frame.conversationId === conversationId && frame.seq === seq) {
      throw error;
    }
    return {};
  });
};

describe('the fanout handler', () => {
  it('posts each event, as published, to every connection of both members', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    const batch = kinesisEvent();
    batch.Records = batch.Records.slice(ALICE_BOB_1, ALICE_BOB_1 + 1);

    const result = await createFanoutHandler(provider)(batch, lambdaContext);

    expect(result).toEqual({ batchItemFailures: [] });
    const calls = api.commandCalls(PostToConnectionCommand).map((call) => call.args[0].input);
    expect(calls.map((input) => input.ConnectionId).sort()).toEqual([
      'conn-alice-laptop',
      'conn-alice-phone',
      'conn-bob-phone',
    ]);
    const published = Buffer.from(batch.Records[0]?.kinesis.data ?? '', 'base64').toString('utf8');
    for (const input of calls) expect(textOf(input)).toBe(published);
    expect(calls.map(frameOf)[0]).toMatchObject({ type: 'message', conversationId: 'dm:alice:bob', seq: 1 });
  });

  it('looks up the connections of each member with one query each', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    const batch = kinesisEvent();
    batch.Records = batch.Records.slice(ALICE_BOB_1, ALICE_BOB_1 + 1);

    await createFanoutHandler(provider)(batch, lambdaContext);

    const users = ddb
      .commandCalls(QueryCommand)
      .map((call) => call.args[0].input.ExpressionAttributeValues?.[':u']);
    expect(users.sort()).toEqual(['alice', 'bob']);
  });

  it('leaves out expired connections, which DynamoDB deletes only eventually', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    const before = Math.floor(Date.now() / 1000);
    const batch = kinesisEvent();
    batch.Records = batch.Records.slice(ALICE_BOB_1, ALICE_BOB_1 + 1);

    await createFanoutHandler(provider)(batch, lambdaContext);

    const [query] = ddb.commandCalls(QueryCommand).map((call) => call.args[0].input);
    expect(query).toMatchObject({
      TableName: 'unit-connections',
      KeyConditionExpression: 'userId = :u',
      FilterExpression: 'expiresAt > :now',
    });
    const now = query?.ExpressionAttributeValues?.[':now'] as number;
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
  });

  it('reads every page of a user’s connections', async () => {
    const { provider } = createTestDeps();
    const lastKey = { userId: 'alice', connectionId: 'conn-alice-phone' };
    ddb
      .on(QueryCommand, { ExpressionAttributeValues: { ':u': 'alice' } })
      .resolvesOnce({ Items: CONNECTIONS.alice?.slice(0, 1), LastEvaluatedKey: lastKey })
      .resolves({ Items: CONNECTIONS.alice?.slice(1) });
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':u': 'bob' } }).resolves({ Items: CONNECTIONS.bob });
    const batch = kinesisEvent();
    batch.Records = batch.Records.slice(ALICE_BOB_1, ALICE_BOB_1 + 1);

    await createFanoutHandler(provider)(batch, lambdaContext);

    expect(
      posts()
        .map((post) => post.connectionId)
        .sort(),
    ).toEqual(['conn-alice-laptop', 'conn-alice-phone', 'conn-bob-phone']);
    const aliceQueries = ddb
      .commandCalls(QueryCommand)
      .map((call) => call.args[0].input)
      .filter((input) => input.ExpressionAttributeValues?.[':u'] === 'alice');
    expect(aliceQueries.map((input) => input.ExclusiveStartKey)).toEqual([undefined, lastKey]);
  });

  it('delivers the records of one conversation in stream order', async () => {
    const { provider } = createTestDeps();
    serveConnections();

    const result = await createFanoutHandler(provider)(kinesisEvent(), lambdaContext);

    expect(result).toEqual({ batchItemFailures: [] });
    const toBobsPhone = posts().filter((post) => post.connectionId === 'conn-bob-phone');
    expect(
      toBobsPhone.filter((post) => post.conversationId === 'dm:alice:bob').map((post) => post.seq),
    ).toEqual([1, 2, 3]);
    expect(toBobsPhone.filter((post) => post.conversationId === 'dm:bob:carol')).toHaveLength(1);
  });

  it('deletes a connection that answers 410 Gone and counts its record delivered', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    failPost(
      'conn-bob-phone',
      'dm:alice:bob',
      1,
      new GoneException({ message: '410', $metadata: { httpStatusCode: 410 } }),
    );
    const batch = kinesisEvent();
    batch.Records = batch.Records.slice(ALICE_BOB_1, ALICE_BOB_1 + 1);

    const result = await createFanoutHandler(provider)(batch, lambdaContext);

    expect(result).toEqual({ batchItemFailures: [] });
    expect(ddb.commandCalls(DeleteCommand).map((call) => call.args[0].input)).toEqual([
      { TableName: 'unit-connections', Key: { userId: 'bob', connectionId: 'conn-bob-phone' } },
    ]);
  });

  it('reports a record whose post failed and the later records of its conversation, and delivers the others', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    failPost(
      'conn-alice-laptop',
      'dm:alice:bob',
      2,
      new LimitExceededException({ message: 'Limit exceeded', $metadata: { httpStatusCode: 429 } }),
    );
    const batch = kinesisEvent();

    const result = await createFanoutHandler(provider)(batch, lambdaContext);

    expect(result).toEqual({ batchItemFailures: failuresOf(batch, ALICE_BOB_2, ALICE_BOB_3) });
    const delivered = posts();
    expect(
      delivered
        .filter((post) => post.conversationId === 'dm:bob:carol')
        .map((post) => post.connectionId)
        .sort(),
    ).toEqual(['conn-bob-phone', 'conn-carol-tablet']);
    expect(delivered.filter((post) => post.conversationId === 'dm:alice:bob' && post.seq === 1)).toHaveLength(
      3,
    );
    expect(delivered.filter((post) => post.seq === 3)).toHaveLength(0);
    expect(ddb.commandCalls(DeleteCommand)).toHaveLength(0);
  });

  it('reports every record of a conversation when its first record fails', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    failPost('conn-bob-phone', 'dm:alice:bob', 1, new Error('socket hang up'));
    const batch = kinesisEvent();

    const result = await createFanoutHandler(provider)(batch, lambdaContext);

    expect(result).toEqual({ batchItemFailures: failuresOf(batch, ALICE_BOB_1, ALICE_BOB_2, ALICE_BOB_3) });
    expect(posts().filter((post) => post.conversationId === 'dm:bob:carol')).toHaveLength(2);
  });

  it('reports a record whose connection lookup failed', async () => {
    const { provider } = createTestDeps();
    ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => {
      if (input.ExpressionAttributeValues?.[':u'] === 'carol')
        throw new Error('ProvisionedThroughputExceeded');
      return { Items: CONNECTIONS[input.ExpressionAttributeValues?.[':u'] as string] };
    });
    const batch = kinesisEvent();

    const result = await createFanoutHandler(provider)(batch, lambdaContext);

    expect(result).toEqual({ batchItemFailures: failuresOf(batch, BOB_CAROL_1) });
  });

  it('reports a record when deleting a gone connection failed', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    failPost('conn-carol-tablet', 'dm:bob:carol', 1, new GoneException({ message: '410', $metadata: {} }));
    ddb.on(DeleteCommand).rejects(new Error('InternalServerError'));
    const batch = kinesisEvent();

    const result = await createFanoutHandler(provider)(batch, lambdaContext);

    expect(result).toEqual({ batchItemFailures: failuresOf(batch, BOB_CAROL_1) });
  });

  it.each([
    ['is not JSON', Buffer.from('{"type":"message",').toString('base64')],
    ['is not a message event', Buffer.from('{"type":"presence","users":[]}').toString('base64')],
    ['is JSON null', Buffer.from('null').toString('base64')],
    [
      'names no conversation',
      Buffer.from(JSON.stringify({ type: 'message', conversationId: 'dm:alice', seq: 2 })).toString('base64'),
    ],
  ])('skips a record that %s without failing it or the records after it', async (_case, data) => {
    const { provider } = createTestDeps();
    serveConnections();
    const batch = kinesisEvent();
    const skipped = batch.Records[ALICE_BOB_2];
    if (skipped) skipped.kinesis.data = data;

    const result = await createFanoutHandler(provider)(batch, lambdaContext);

    expect(result).toEqual({ batchItemFailures: [] });
    const aliceBob = posts().filter((post) => post.conversationId === 'dm:alice:bob');
    expect(aliceBob.map((post) => post.seq).sort()).toEqual([1, 1, 1, 3, 3, 3]);
  });

  it('has at most postConcurrency posts in flight for one event', async () => {
    const { provider } = createTestDeps({ config: testConfig({ postConcurrency: 2 }) });
    const many = Array.from({ length: 6 }, (_, index) => connection('alice', `device${index}`));
    serveConnections({ alice: many, bob: [] });
    let inFlight = 0;
    let mostInFlight = 0;
    api.on(PostToConnectionCommand).callsFake(async () => {
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      return {};
    });
    const batch = kinesisEvent();
    batch.Records = batch.Records.slice(ALICE_BOB_1, ALICE_BOB_1 + 1);

    await createFanoutHandler(provider)(batch, lambdaContext);

    expect(api.commandCalls(PostToConnectionCommand)).toHaveLength(6);
    expect(mostInFlight).toBe(2);
  });
});

describe('isGone', () => {
  it('recognises the SDK’s GoneException by its name', () => {
    expect(isGone(new GoneException({ message: 'Gone', $metadata: {} }))).toBe(true);
    expect(isGone({ name: 'GoneException' })).toBe(true);
  });

  it('recognises an answer with HTTP status 410 in $metadata', () => {
    expect(isGone({ name: 'UnknownError', $metadata: { httpStatusCode: 410 } })).toBe(true);
  });

  it('does not trust a statusCode property', () => {
    expect(isGone({ name: 'Error', statusCode: 410 })).toBe(false);
  });

  it.each([
    ['another service error', { name: 'LimitExceededException', $metadata: { httpStatusCode: 429 } }],
    ['a plain error', new Error('Gone')],
    ['null', null],
    ['undefined', undefined],
    ['a string', 'GoneException'],
  ])('says no for %s', (_case, error) => {
    expect(isGone(error)).toBe(false);
  });
});
