/**
 * What the DynamoDB connection store asks of DynamoDB when it opens a connection under the
 * cap. Its contract is `test/support/port-contracts/connection-cap.ts`, run on DynamoDB Local.
 */
import { DynamoDBClient, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import {
  DynamoDbConnectionStore,
  OPEN_ATTEMPTS,
  VERSION_ITEM_KEY,
} from '../../lambdas/adapters/dynamodb-connection-store.js';
import type { Connection } from '../../lambdas/domain/ports.js';
import { mockAwsClients } from './support/harness.js';

const { ddb } = mockAwsClients();

const NOW = 1_764_290_000_123;
const NOW_SECONDS = Math.floor(NOW / 1000);
const TABLE = 'unit-connections';
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const waits: number[] = [];
const store = () =>
  new DynamoDbConnectionStore({
    client,
    tableName: TABLE,
    now: () => NOW,
    wait: { random: () => 0.5, sleep: async (ms) => void waits.push(ms) },
  });

const device = (
  deviceId: string,
  connectionId = `conn-${deviceId}`,
  expiresAt = NOW_SECONDS + 600,
): Connection => ({
  userId: 'alice',
  connectionId,
  deviceId,
  connectedAt: NOW,
  expiresAt,
});
const versionItem = (version: number) => ({ userId: 'alice', connectionId: VERSION_ITEM_KEY, version });
const canceled = (...codes: string[]) =>
  new TransactionCanceledException({
    message: 'Transaction cancelled',
    $metadata: {},
    CancellationReasons: codes.map((Code) => ({ Code })),
  });
const transactions = () =>
  ddb.commandCalls(TransactWriteCommand).map((call) => call.args[0].input.TransactItems);

describe('the DynamoDB connection store, opening a connection under the cap', () => {
  it('reads the partition strongly consistent, then writes the connection and the next version in one transaction', async () => {
    ddb.on(QueryCommand).resolves({ Items: [device('laptop'), versionItem(7)] });
    ddb.on(TransactWriteCommand).resolves({});

    const outcome = await store().openConnection(device('phone'), 10);

    expect(outcome).toEqual({ status: 'opened', replaced: [] });
    expect(ddb.commandCalls(QueryCommand)[0]?.args[0].input).toMatchObject({
      TableName: TABLE,
      KeyConditionExpression: 'userId = :u',
      ConsistentRead: true,
    });
    expect(transactions()).toEqual([
      [
        { Put: { TableName: TABLE, Item: device('phone') } },
        {
          Update: {
            TableName: TABLE,
            Key: { userId: 'alice', connectionId: VERSION_ITEM_KEY },
            UpdateExpression: 'SET version = :next',
            ConditionExpression: 'version = :read',
            ExpressionAttributeValues: { ':next': 8, ':read': 7 },
          },
        },
      ],
    ]);
  });

  it('makes the version item with the first connection, on the condition that nobody else did', async () => {
    ddb.on(QueryCommand).resolves({ Items: [] });
    ddb.on(TransactWriteCommand).resolves({});

    await store().openConnection(device('phone'), 10);

    expect(transactions()[0]?.[1]?.Update).toMatchObject({
      ConditionExpression: 'attribute_not_exists(version)',
      ExpressionAttributeValues: { ':next': 1 },
    });
  });

  it("deletes the device's older connection in the same transaction and answers it as replaced", async () => {
    const older = device('phone', 'conn-older');
    ddb.on(QueryCommand).resolves({ Items: [older, versionItem(1)] });
    ddb.on(TransactWriteCommand).resolves({});

    const outcome = await store().openConnection(device('phone'), 1);

    expect(outcome).toEqual({ status: 'opened', replaced: [older] });
    expect(transactions()[0]?.[2]).toEqual({
      Delete: { TableName: TABLE, Key: { userId: 'alice', connectionId: 'conn-older' } },
    });
  });

  it('refuses at the cap without writing, counting neither expired items nor the version item', async () => {
    ddb.on(QueryCommand).resolves({
      Items: [device('laptop'), device('tablet'), device('old', 'conn-old', NOW_SECONDS), versionItem(3)],
    });

    const outcome = await store().openConnection(device('phone'), 2);

    expect(outcome).toEqual({ status: 'full', open: 2 });
    expect(transactions()).toEqual([]);
  });

  it('reads and counts again when another handshake changed the partition first', async () => {
    ddb
      .on(QueryCommand)
      .resolvesOnce({ Items: [versionItem(1)] })
      .resolves({ Items: [device('laptop'), versionItem(2)] });
    ddb.on(TransactWriteCommand).rejectsOnce(canceled('None', 'ConditionalCheckFailed')).resolves({});

    const outcome = await store().openConnection(device('phone'), 1);

    expect(outcome).toEqual({ status: 'full', open: 1 });
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(2);
  });

  it(`gives up as contended after ${OPEN_ATTEMPTS} transactions lost to others, waiting longer each time`, async () => {
    waits.length = 0;
    ddb.on(QueryCommand).resolves({ Items: [versionItem(1)] });
    ddb.on(TransactWriteCommand).rejects(canceled('TransactionConflict', 'None'));

    const outcome = await store().openConnection(device('phone'), 10);

    expect(outcome).toEqual({ status: 'contended' });
    expect(transactions()).toHaveLength(OPEN_ATTEMPTS);
    // Full jitter at random 0.5: half of 25 ms, doubling, up to half of 400 ms.
    expect(waits.slice(0, 5)).toEqual([12, 25, 50, 100, 200]);
  });

  it('passes on a failure that is not a lost race', async () => {
    ddb.on(QueryCommand).resolves({ Items: [] });
    ddb.on(TransactWriteCommand).rejects(canceled('ValidationError', 'None'));

    await expect(store().openConnection(device('phone'), 10)).rejects.toBeInstanceOf(
      TransactionCanceledException,
    );
  });
});
