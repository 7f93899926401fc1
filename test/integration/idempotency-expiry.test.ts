/**
 * The idempotency items' time to live on DynamoDB Local: the conversations table has TTL on
 * `expiresAt`, and a stored message's key carries it while the message does not.
 */
import { DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { resourceNames } from '../../definitions/tables.js';
import { createAwsClients } from '../../lambdas/adapters/aws-clients.js';
import {
  DynamoDbMessageStore,
  idempotencyKey,
  idempotencyKeyExpiry,
  messageKey,
} from '../../lambdas/adapters/dynamodb-message-store.js';
import { ensureResources } from '../../local/resources.js';
import { uniqueId } from '../support/stack.js';

const clients = createAwsClients({
  region: 'us-east-1',
  local: true,
  dynamodb: inject('dynamodbEndpoint'),
  kinesis: inject('kinesisEndpoint'),
});
const names = resourceNames(uniqueId('ttl'));

beforeAll(async () => {
  await ensureResources({ dynamodb: clients.dynamodb as never, kinesis: clients.kinesis }, names);
});
afterAll(() => clients.destroy());

describe('idempotency items on DynamoDB Local', () => {
  it('are in a table whose time to live reads expiresAt', async () => {
    const { TimeToLiveDescription } = await clients.dynamodb.send(
      new DescribeTimeToLiveCommand({ TableName: names.conversationsTable }),
    );

    expect(TimeToLiveDescription).toEqual({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' });
  });

  it('carry the expiry of their message, which itself has none', async () => {
    const store = new DynamoDbMessageStore({ client: clients.dynamodb, tableName: names.conversationsTable });
    const conversationId = `dm:${uniqueId('alice')}:${uniqueId('bob')}`;
    const serverTs = Date.now();

    const outcome = await store.storeMessage({
      conversationId,
      seq: 1,
      messageId: uniqueId('m'),
      clientMessageId: 'c1',
      senderId: 'alice',
      senderDeviceId: 'phone',
      body: 'hello',
      serverTs,
    });
    const read = (itemKey: string) =>
      clients.dynamodb.send(
        new GetCommand({ TableName: names.conversationsTable, Key: { conversationId, itemKey } }),
      );

    expect(outcome).toEqual({ status: 'stored' });
    expect((await read(idempotencyKey('alice', 'c1'))).Item?.expiresAt).toBe(idempotencyKeyExpiry(serverTs));
    expect((await read(messageKey(1))).Item).not.toHaveProperty('expiresAt');
  });
});
