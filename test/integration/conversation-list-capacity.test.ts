/**
 * What one conversation-list change costs, as DynamoDB Local reports it with
 * `ReturnConsumedCapacity: INDEXES`: the figures of docs/adr/0010-cheaper-lists.md and of
 * docs/capacity.md §2. DynamoDB Local charges the index writes made inside a transaction at
 * the transactional rate, as it does the table's; the ADR says what AWS documents.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { MessageEventFrame, ReceiptEventFrame } from '@parley/protocol';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { resourceNames } from '../../definitions/tables.js';
import { createAwsClients, LOCAL_CREDENTIALS } from '../../lambdas/adapters/aws-clients.js';
import {
  DynamoDbConversationListStore,
  INDEX_WINDOW_MS,
} from '../../lambdas/adapters/dynamodb-conversation-list-store.js';
import { applyToEntry } from '../../lambdas/domain/conversation-list.js';
import { ensureResources } from '../../local/resources.js';
import { updateEntry } from '../support/conversation-list-updates.js';
import { uniqueId } from '../support/stack.js';
import { CONVERSATION, messageEventOf, receiptEvent } from '../unit/support/conversation-entries.js';

/** Write units of the last requests, by table and by index. */
interface WriteUnits {
  table: number;
  index: number;
}

const base = new DynamoDBClient({
  region: 'us-east-1',
  endpoint: inject('dynamodbEndpoint'),
  credentials: LOCAL_CREDENTIALS,
});
let consumed: WriteUnits = { table: 0, index: 0 };
// Every request asks for its consumed capacity, table and indexes apart, and the test adds it up.
base.middlewareStack.add(
  (next) => async (args) => {
    (args.input as { ReturnConsumedCapacity?: string }).ReturnConsumedCapacity = 'INDEXES';
    const result = await next(args);
    const reported = (result.output as { ConsumedCapacity?: unknown }).ConsumedCapacity;
    for (const capacity of [reported].flat() as Array<{
      Table?: { CapacityUnits?: number };
      LocalSecondaryIndexes?: Record<string, { CapacityUnits?: number }>;
    }>) {
      if (!capacity) continue;
      consumed.table += capacity.Table?.CapacityUnits ?? 0;
      for (const index of Object.values(capacity.LocalSecondaryIndexes ?? {})) {
        consumed.index += index.CapacityUnits ?? 0;
      }
    }
    return result;
  },
  { step: 'initialize', name: 'consumedCapacity' },
);
const client = DynamoDBDocumentClient.from(base, { marshallOptions: { removeUndefinedValues: true } });
const names = resourceNames(uniqueId('cap'));
const setupClients = createAwsClients({
  region: 'us-east-1',
  local: true,
  dynamodb: inject('dynamodbEndpoint'),
  kinesis: inject('kinesisEndpoint'),
});

beforeAll(async () => {
  await ensureResources({ dynamodb: setupClients.dynamodb as never, kinesis: setupClients.kinesis }, names);
});
afterAll(() => {
  base.destroy();
  setupClients.destroy();
});

describe('the cost of a conversation-list change on DynamoDB Local', () => {
  const windowStart = 1_764_288_000_000 - (1_764_288_000_000 % INDEX_WINDOW_MS);
  let now = windowStart + 1_000;
  // A warm instance: it writes from what it wrote last, as the fanout does between batches.
  const store = new DynamoDbConversationListStore({
    client,
    tableName: names.userConversationsTable,
    now: () => now,
  });
  const change = async (userId: string, event: MessageEventFrame | ReceiptEventFrame) => {
    consumed = { table: 0, index: 0 };
    await updateEntry(store, userId, CONVERSATION, (current) => applyToEntry(CONVERSATION, current, [event]));
    return consumed;
  };

  it('charges a new entry the transaction of clock and entry and one index put', async () => {
    expect(await change('bob', messageEventOf(1))).toEqual({ table: 4, index: 2 });
  });

  it('charges a change within the entry’s index window one index write, not a delete and a put', async () => {
    now += 1_000;
    expect(await change('bob', receiptEvent('bob', 'delivered', 1))).toEqual({ table: 4, index: 2 });
    now += 1_000;
    expect(await change('bob', receiptEvent('bob', 'read', 1))).toEqual({ table: 4, index: 2 });
  });

  it('charges a change that moves the entry to the next window a delete and a put in the index', async () => {
    now = windowStart + INDEX_WINDOW_MS + 5;
    expect(await change('bob', messageEventOf(2))).toEqual({ table: 4, index: 4 });
  });

  it('reads no more than the clock and the changed entries for a cursor inside a window', async () => {
    const page = await store.listChangedSince('bob', now - 1, 50);

    expect(page.entries.map((entry) => entry.lastSeq)).toEqual([2]);
  });
});
