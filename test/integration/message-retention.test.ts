/**
 * A retention period on DynamoDB Local (docs/adr/0015-retention-and-erasure.md). DynamoDB
 * Local never deletes expired items, so the reads' own check is what is tested, with the
 * clock injected; a delete stands for the table's TTL deleting an item.
 */
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import type { Message } from '@parley/protocol';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { resourceNames } from '../../definitions/tables.js';
import { createAwsClients } from '../../lambdas/adapters/aws-clients.js';
import { DynamoDbMessageStore, messageKey } from '../../lambdas/adapters/dynamodb-message-store.js';
import { ensureResources } from '../../local/resources.js';
import { uniqueId } from '../support/stack.js';

const clients = createAwsClients({
  region: 'us-east-1',
  local: true,
  dynamodb: inject('dynamodbEndpoint'),
  kinesis: inject('kinesisEndpoint'),
});
const names = resourceNames(uniqueId('keep'));
const DAY_MS = 24 * 60 * 60 * 1000;
// In the future of the real clock: were the engine to delete expired items after all, it
// could not delete these during the test.
const T0 = Date.UTC(2040, 0, 1);

beforeAll(async () => {
  await ensureResources({ dynamodb: clients.dynamodb as never, kinesis: clients.kinesis }, names);
});
afterAll(() => clients.destroy());

/** A store keeping messages one day, reading the time `at`. */
const storeAt = (at: () => number, retentionDays: number | undefined = 1) =>
  new DynamoDbMessageStore({
    client: clients.dynamodb,
    tableName: names.conversationsTable,
    now: at,
    ...(retentionDays ? { retentionDays } : {}),
  });

const text = (conversationId: string, seq: number, serverTs: number): Message => ({
  conversationId,
  seq,
  messageId: `m${seq}`,
  clientMessageId: `c${seq}`,
  senderId: 'alice',
  senderDeviceId: 'phone',
  body: `message ${seq}`,
  serverTs,
});

describe('messages under a retention period, on DynamoDB Local', () => {
  it('read as gone once past their expiry, before DynamoDB deletes them, with the seq still counted', async () => {
    let now = T0;
    const store = storeAt(() => now);
    const conversationId = `dm:${uniqueId('a')}:${uniqueId('b')}`;
    for (const seq of [1, 2, 3]) await store.storeMessage(text(conversationId, seq, T0));
    for (const seq of [4, 5]) await store.storeMessage(text(conversationId, seq, T0 + DAY_MS));

    now = T0 + 1.5 * DAY_MS;
    const page = await store.listMessages(conversationId, 0, 100);

    expect(page.messages.map((message) => message.seq)).toEqual([4, 5]);
    expect(page).toMatchObject({ lastSeq: 5, goneThrough: 3 });
    expect(await store.getMessage(conversationId, 2)).toBeUndefined();
  });

  it('keep the last seq once every message is deleted, so that the next send takes the next seq', async () => {
    let now = T0;
    const store = storeAt(() => now);
    const conversationId = `dm:${uniqueId('a')}:${uniqueId('b')}`;
    for (const seq of [1, 2, 3]) await store.storeMessage(text(conversationId, seq, T0));
    now = T0 + 3 * DAY_MS;
    for (const seq of [1, 2, 3])
      await clients.dynamodb.send(
        new DeleteCommand({
          TableName: names.conversationsTable,
          Key: { conversationId, itemKey: messageKey(seq) },
        }),
      );

    const lastSeq = await store.lastSeq(conversationId);
    const page = await store.listMessages(conversationId, 0, 100);
    const retaken = await store.storeMessage({ ...text(conversationId, 3, now), clientMessageId: 'again' });
    const next = await store.storeMessage(text(conversationId, 4, now));

    expect(lastSeq).toBe(3);
    expect(page).toEqual({ messages: [], lastSeq: 3, goneThrough: 3 });
    expect(retaken).toEqual({ status: 'seq_taken' });
    expect(next).toEqual({ status: 'stored' });
    expect(await storeAt(() => now, undefined).lastSeq(conversationId)).toBe(4);
  });

  it('keep the last seq from the head when the retention is turned off afterwards', async () => {
    const store = storeAt(() => T0);
    const conversationId = `dm:${uniqueId('a')}:${uniqueId('b')}`;
    for (const seq of [1, 2]) await store.storeMessage(text(conversationId, seq, T0));
    await clients.dynamodb.send(
      new DeleteCommand({
        TableName: names.conversationsTable,
        Key: { conversationId, itemKey: messageKey(2) },
      }),
    );

    expect(await storeAt(() => T0, undefined).lastSeq(conversationId)).toBe(2);
  });
});
