/**
 * The deployed mode's faults on the wire, as the AWS SDK sees them: the DynamoDB front's
 * throttle and lost answer, and the Kinesis front's failure and lost answer, each held
 * against what really reached the engine.
 */
import { randomBytes } from 'node:crypto';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DeleteStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordCommand,
  waitUntilStreamExists,
} from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { LOCAL_CREDENTIALS, localKinesisRequestHandler } from '../../lambdas/adapters/aws-clients.js';
import {
  type DynamoDbFault,
  type DynamoDbRequest,
  type RunningDynamoDbFront,
  startDynamoDbFront,
} from '../../local/deployed/dynamodb-front.js';
import {
  type KinesisFault,
  type KinesisRequest,
  type PutRecordSummary,
  type RunningKinesisFront,
  startKinesisFront,
} from '../../local/deployed/kinesis-front.js';

const REGION = 'us-east-1';

describe('the DynamoDB front of the deployed mode', () => {
  const tableName = `wire${randomBytes(4).toString('hex')}`;
  const seen: DynamoDbRequest[] = [];
  let faults: DynamoDbFault[] = [];
  let front: RunningDynamoDbFront;
  let direct: DynamoDBClient;
  const clients: DynamoDBClient[] = [];
  /** A client through the front, as a bundle's: `maxAttempts` 1 shows each attempt's outcome. */
  const throughFront = (maxAttempts: number) => {
    const client = new DynamoDBClient({
      region: REGION,
      credentials: LOCAL_CREDENTIALS,
      endpoint: front.endpoint,
      maxAttempts,
    });
    clients.push(client);
    return client;
  };
  const put = (id: string) => new PutItemCommand({ TableName: tableName, Item: { pk: { S: id } } });
  const stored = async (id: string) =>
    (
      await direct.send(
        new GetItemCommand({ TableName: tableName, Key: { pk: { S: id } }, ConsistentRead: true }),
      )
    ).Item;

  beforeAll(async () => {
    direct = new DynamoDBClient({
      region: REGION,
      credentials: LOCAL_CREDENTIALS,
      endpoint: inject('dynamodbEndpoint'),
    });
    await direct.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
    front = await startDynamoDbFront({
      target: inject('dynamodbEndpoint'),
      fault: (request) => {
        seen.push(request);
        return faults.shift();
      },
    });
  });

  afterAll(async () => {
    for (const client of clients) client.destroy();
    await front?.stop();
    await direct?.send(new DeleteTableCommand({ TableName: tableName })).catch(() => undefined);
    direct?.destroy();
  });

  it('asks about each request with its operation and body, and passes it on when there is no fault', async () => {
    faults = [];
    seen.length = 0;
    await throughFront(1).send(put('plain'));
    expect(seen).toEqual([{ target: 'PutItem', body: expect.objectContaining({ TableName: tableName }) }]);
    expect(await stored('plain')).toEqual({ pk: { S: 'plain' } });
  });

  it('answers a throttle as DynamoDB does, without writing, so the SDK names it and retries it', async () => {
    faults = ['throttle'];
    const error = await throughFront(1)
      .send(put('throttled'))
      .catch((caught: unknown) => caught as Error & { $metadata: { httpStatusCode?: number } });
    expect(error).toMatchObject({
      name: 'ProvisionedThroughputExceededException',
      $metadata: { httpStatusCode: 400 },
    });
    expect(await stored('throttled')).toBeUndefined();

    faults = ['throttle'];
    const answer = await throughFront(3).send(put('throttled'));
    expect(answer.$metadata.attempts).toBe(2);
    expect(await stored('throttled')).toEqual({ pk: { S: 'throttled' } });
  });

  it('applies a write whose answer it loses, and the client sees the connection fail', async () => {
    faults = ['lose-answer'];
    const error = await throughFront(1)
      .send(put('lost'))
      .catch((caught: unknown) => caught as Error);
    // The SDK's name for a connection reset, which its retry strategy takes as transient.
    expect(error).toMatchObject({ name: 'TimeoutError', code: 'ECONNRESET' });
    expect(await stored('lost')).toEqual({ pk: { S: 'lost' } });

    // With retries, as in a bundle, the SDK writes again: a conditional write then fails on itself.
    faults = ['lose-answer'];
    const retried = await throughFront(3)
      .send(
        new PutItemCommand({
          TableName: tableName,
          Item: { pk: { S: 'lost-once' } },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      )
      .catch((caught: unknown) => caught as Error & { $metadata: { attempts?: number } });
    expect(retried).toMatchObject({ name: 'ConditionalCheckFailedException', $metadata: { attempts: 2 } });
    expect(await stored('lost-once')).toEqual({ pk: { S: 'lost-once' } });
  });
});

describe('the Kinesis front of the deployed mode', () => {
  const streamName = `wire${randomBytes(4).toString('hex')}`;
  let faults: KinesisFault[] = [];
  const puts: PutRecordSummary[] = [];
  const seen: KinesisRequest[] = [];
  let front: RunningKinesisFront;
  let direct: KinesisClient;
  let bundleClient: KinesisClient;

  /** Every record of the stream's one shard. */
  const records = async () => {
    const shards = await direct.send(new ListShardsCommand({ StreamName: streamName }));
    const { ShardIterator } = await direct.send(
      new GetShardIteratorCommand({
        StreamName: streamName,
        ShardId: shards.Shards?.[0]?.ShardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    const page = await direct.send(new GetRecordsCommand({ ShardIterator }));
    return (page.Records ?? []).map((record) => record.PartitionKey);
  };

  beforeAll(async () => {
    direct = new KinesisClient({
      region: REGION,
      credentials: LOCAL_CREDENTIALS,
      endpoint: inject('kinesisEndpoint'),
      requestHandler: localKinesisRequestHandler(),
    });
    await direct.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: 1 }));
    await waitUntilStreamExists({ client: direct, maxWaitTime: 30, minDelay: 1 }, { StreamName: streamName });
    front = await startKinesisFront({
      target: inject('kinesisEndpoint'),
      onPut: (summaries) => puts.push(...summaries),
      fault: (request) => {
        seen.push(request);
        return faults.shift();
      },
    });
    // The SDK's own handler (HTTP/2), as in the bundles; one attempt shows each outcome.
    bundleClient = new KinesisClient({
      region: REGION,
      credentials: LOCAL_CREDENTIALS,
      endpoint: front.endpoint,
      maxAttempts: 1,
    });
  });

  afterAll(async () => {
    bundleClient?.destroy();
    await front?.stop();
    await direct?.send(new DeleteStreamCommand({ StreamName: streamName })).catch(() => undefined);
    direct?.destroy();
  });

  const putRecord = (partitionKey: string) =>
    bundleClient.send(
      new PutRecordCommand({
        StreamName: streamName,
        PartitionKey: partitionKey,
        Data: new TextEncoder().encode(JSON.stringify({ partitionKey })),
      }),
    );

  it('fails a put with InternalFailure without passing it on', async () => {
    faults = ['fail'];
    const error = await putRecord('failed').catch(
      (caught: unknown) => caught as Error & { $metadata: { httpStatusCode?: number } },
    );
    expect(error).toMatchObject({ name: 'InternalFailure', $metadata: { httpStatusCode: 500 } });
    expect(seen.at(-1)).toEqual({
      target: 'PutRecord',
      body: expect.objectContaining({ StreamName: streamName }),
    });
    expect(await records()).not.toContain('failed');
    expect(puts.map((put) => put.partitionKey)).not.toContain('failed');
  });

  it('puts a record whose answer it loses, tells the consumers, and answers InternalFailure', async () => {
    faults = ['lose-answer'];
    const error = await putRecord('lost').catch((caught: unknown) => caught as Error);
    expect(error).toMatchObject({ name: 'InternalFailure' });
    expect(await records()).toContain('lost');
    expect(puts).toContainEqual({ partitionKey: 'lost', data: { partitionKey: 'lost' } });
  });

  it('passes a put on when there is no fault', async () => {
    faults = [];
    await putRecord('plain');
    expect(await records()).toContain('plain');
  });
});
