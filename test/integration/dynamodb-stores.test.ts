import type { Message } from '@parley/protocol';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { resourceNames } from '../../definitions/tables.js';
import { createAwsClients } from '../../lambdas/adapters/aws-clients.js';
import { DynamoDbConnectionStore } from '../../lambdas/adapters/dynamodb-connection-store.js';
import { DynamoDbMessageStore } from '../../lambdas/adapters/dynamodb-message-store.js';
import { ensureResources } from '../../local/resources.js';
import { uniqueId } from '../support/stack.js';

const message = (conversationId: string, seq: number, clientMessageId: string): Message => ({
  conversationId,
  seq,
  messageId: `id-${seq}-${clientMessageId}`,
  clientMessageId,
  senderId: 'alice',
  senderDeviceId: 'phone',
  body: `body ${seq}`,
  serverTs: 1_700_000_000_000 + seq,
});

describe('the DynamoDB stores against DynamoDB Local', () => {
  const clients = createAwsClients({
    region: 'us-east-1',
    local: true,
    dynamodb: inject('dynamodbEndpoint'),
    kinesis: inject('kinesisEndpoint'),
  });
  const names = resourceNames(uniqueId('s'));
  const messages = new DynamoDbMessageStore({
    client: clients.dynamodb,
    tableName: names.conversationsTable,
  });
  beforeAll(async () => {
    await ensureResources({ dynamodb: clients.dynamodb as never, kinesis: clients.kinesis }, names);
  });
  afterAll(() => clients.destroy());

  it('stores a message with its key, and refuses the same key and the same seq by their conditions', async () => {
    const conversationId = uniqueId('dm:a:b');
    const first = message(conversationId, 1, 'k1');

    const stored = await messages.storeMessage(first);
    const sameKey = await messages.storeMessage({ ...message(conversationId, 2, 'k1') });
    const sameSeq = await messages.storeMessage(message(conversationId, 1, 'k2'));

    expect(stored).toEqual({ status: 'stored' });
    expect(sameKey).toEqual({
      status: 'duplicate',
      original: { seq: 1, messageId: first.messageId, serverTs: first.serverTs },
    });
    expect(sameSeq).toEqual({ status: 'seq_taken' });
    expect(await messages.lastSeq(conversationId)).toBe(1);
    // The refused transactions stored nothing: seq 2 does not exist, k2 is free.
    expect(await messages.getMessage(conversationId, 2)).toBeUndefined();
    expect(await messages.storeMessage(message(conversationId, 2, 'k2'))).toEqual({ status: 'stored' });
  });

  it('reads the last seq and pages of messages in seq order, past the tenth message', async () => {
    const conversationId = uniqueId('dm:a:c');
    expect(await messages.lastSeq(conversationId)).toBe(0);
    for (let seq = 1; seq <= 12; seq++) await messages.storeMessage(message(conversationId, seq, `k${seq}`));

    const page = await messages.listMessages(conversationId, 8, 3);
    const tail = await messages.listMessages(conversationId, 11, 100);

    expect(await messages.lastSeq(conversationId)).toBe(12);
    expect(page.messages.map((m) => m.seq)).toEqual([9, 10, 11]);
    expect(page.lastSeq).toBe(12);
    expect(tail.messages).toEqual([message(conversationId, 12, 'k12')]);
  });

  it('lists a user’s live connections and leaves out expired ones DynamoDB has not deleted yet', async () => {
    const connections = new DynamoDbConnectionStore({
      client: clients.dynamodb,
      tableName: names.connectionsTable,
    });
    const userId = uniqueId('u');
    const now = Math.floor(Date.now() / 1000);
    await connections.putConnection({
      userId,
      connectionId: 'live',
      deviceId: 'phone',
      connectedAt: 1,
      expiresAt: now + 600,
    });
    await connections.putConnection({
      userId,
      connectionId: 'dead',
      deviceId: 'tablet',
      connectedAt: 1,
      expiresAt: now - 1,
    });

    const listed = await connections.listConnections(userId);
    await connections.deleteConnection(userId, 'live');

    expect(listed.map((c) => c.connectionId)).toEqual(['live']);
    expect(await connections.listConnections(userId)).toEqual([]);
  });
});
