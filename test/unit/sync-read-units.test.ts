/**
 * `sync` reads only what fits its frame: the DynamoDB message store over a fake
 * conversations table, with the items each query read counted and priced in read units (a
 * strongly consistent read is 1 unit per 4 KB read, docs/capacity.md S13).
 */
import { QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { type HistoryFrame, MAX_BODY_CHARS, type Message } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { createSyncHandler } from '../../lambdas/handlers/sync.js';
import { FakeConversationsTable } from './support/dynamodb-tables.js';
import { answerOf, createTestDeps, invoke, messageEvent, mockAwsClients, NOW } from './support/harness.js';

const { ddb } = mockAwsClients();
const CONVERSATION = 'dm:alice:bob';

/** A body of 4,096 emoji: the largest a message may have, 16 KB in UTF-8. */
const LARGEST_BODY = '😀'.repeat(MAX_BODY_CHARS);

const message = (seq: number, body: string): Message => ({
  conversationId: CONVERSATION,
  seq,
  messageId: `01JDMESSAGE${String(seq).padStart(4, '0')}`,
  clientMessageId: `cm-${seq}`,
  senderId: 'alice',
  senderDeviceId: 'phone',
  body,
  serverTs: NOW + seq,
});

/** The fake table holding `count` messages of `body`, and what every message query of it read. */
async function conversationOf(count: number, body: string) {
  const table = new FakeConversationsTable().install(ddb);
  const { provider } = createTestDeps();
  for (let seq = 1; seq <= count; seq++) await provider().messages.storeMessage(message(seq, body));
  const query = ddb.commandCalls(QueryCommand).length;
  const read = () =>
    ddb
      .commandCalls(QueryCommand)
      .slice(query)
      .filter((call) => (call.args[0].input as QueryCommandInput).KeyConditionExpression?.includes('BETWEEN'))
      .map((call) => {
        const { Limit = 0, ExpressionAttributeValues = {} } = call.args[0].input as QueryCommandInput;
        const items = table
          .items(CONVERSATION, 'msg#')
          .filter((item) => String(item.itemKey) >= String(ExpressionAttributeValues[':from']))
          .slice(0, Limit);
        return {
          items: items.length,
          bytes: items.reduce((sum, item) => sum + JSON.stringify(item).length * 4, 0),
        };
      });
  return { provider, reads: read };
}

/** Read units of strongly consistent queries: each rounds its bytes up to 4 KB. */
const readUnits = (reads: Array<{ bytes: number }>) =>
  reads.reduce((sum, { bytes }) => sum + Math.max(1, Math.ceil(bytes / 4096)), 0);

async function sync(provider: ReturnType<typeof createTestDeps>['provider'], afterSeq: number, limit = 200) {
  const result = await invoke(
    createSyncHandler(provider),
    messageEvent({ action: 'sync', requestId: 'r1', conversationId: CONVERSATION, afterSeq, limit }),
  );
  return answerOf<HistoryFrame>(result);
}

describe('sync of large messages', () => {
  it('reads a few messages, not the 200 asked for, when one 16 KB message fills the frame', async () => {
    const { provider, reads } = await conversationOf(30, LARGEST_BODY);

    const history = await sync(provider, 0);

    expect(history.messages.map(({ seq }) => seq)).toEqual([1]);
    expect(history).toMatchObject({ lastSeq: 30, hasMore: true });
    const items = reads().reduce((sum, { items: count }) => sum + count, 0);
    expect(items).toBeLessThanOrEqual(4);
    // At most 4 items of at most 16 KB (bytes counted as 4 a character, an upper bound): 64 read units at most,
    // where reading the 30 asked for would be 480.
    expect(readUnits(reads())).toBeLessThanOrEqual(64);
  });

  it('pages through every large message with the next cursor right, one or two a frame', async () => {
    const { provider } = await conversationOf(7, LARGEST_BODY);
    const seen: number[] = [];

    let afterSeq = 0;
    for (let page = 0; page < 10; page++) {
      const history = await sync(provider, afterSeq);
      seen.push(...history.messages.map(({ seq }) => seq));
      afterSeq = history.messages.at(-1)?.seq ?? afterSeq;
      if (!history.hasMore) break;
    }

    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});

describe('sync of small messages', () => {
  it('fills the frame in a few queries and says where the next page starts', async () => {
    const { provider, reads } = await conversationOf(180, 'x'.repeat(100));

    const first = await sync(provider, 0);
    const queries = reads().length;
    const second = await sync(provider, first.messages.at(-1)?.seq ?? 0);

    expect(first.messages.length).toBeGreaterThan(80);
    expect(first.hasMore).toBe(true);
    expect(queries).toBeLessThanOrEqual(4);
    expect([...first.messages, ...second.messages].map(({ seq }) => seq)).toEqual(
      Array.from({ length: first.messages.length + second.messages.length }, (_, index) => index + 1),
    );
  });

  it('reads a short catch-up in one query', async () => {
    const { provider, reads } = await conversationOf(3, 'hello');

    const history = await sync(provider, 0);

    expect(history.messages).toHaveLength(3);
    expect(history.hasMore).toBe(false);
    expect(reads()).toHaveLength(1);
  });
});
