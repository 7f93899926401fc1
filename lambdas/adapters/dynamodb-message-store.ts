/**
 * The conversation partition in DynamoDB: messages under `msg#{seq}` (zero-padded so the
 * sort key orders by seq) and idempotency keys under `idem#{senderId}#{clientMessageId}`,
 * each key with an `expiresAt` IDEMPOTENCY_KEY_DAYS after its message, for the table's TTL
 * (docs/adr/0009-keep-alive.md): kept forever, they would be most of the table's storage
 * after the messages themselves, and no client retries that late.
 *
 * With a retention period (docs/adr/0015-retention-and-erasure.md) every message gets an
 * `expiresAt` too, and the conversation's last seq is also kept in a `msg#head` item that
 * never expires: once the table's TTL deletes the newest message, the head still says how
 * far the conversation went, so the next send cannot take a seq again. A message past its
 * expiry reads as gone even before DynamoDB deletes it.
 */
import { type ConsumedCapacity, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { IDEMPOTENCY_KEY_DAYS, type Message } from '@parley/protocol';
import { frameBytesOf, nextPageSize } from '../domain/paging.js';
import type { MessagePage, MessageStore, StoredMessageRef, StoreMessageOutcome } from '../domain/ports.js';

const MESSAGE_PREFIX = 'msg#';
const SEQ_DIGITS = 12;

export const messageKey = (seq: number) => `${MESSAGE_PREFIX}${String(seq).padStart(SEQ_DIGITS, '0')}`;
export const idempotencyKey = (senderId: string, clientMessageId: string) =>
  `idem#${senderId}#${clientMessageId}`;
/** Seconds from a message's `serverTs` to the expiry of its idempotency key. */
const IDEMPOTENCY_KEY_TTL_SECONDS = IDEMPOTENCY_KEY_DAYS * 24 * 60 * 60;
/** When the idempotency key of a message stored at `serverTs` (ms) expires, in epoch seconds. */
export const idempotencyKeyExpiry = (serverTs: number) =>
  Math.floor(serverTs / 1000) + IDEMPOTENCY_KEY_TTL_SECONDS;
const LAST_MESSAGE_KEY = `${MESSAGE_PREFIX}${'9'.repeat(SEQ_DIGITS)}`;
const MAX_SEQ = 10 ** SEQ_DIGITS - 1;
/**
 * The conversation's last seq when messages expire. Letters sort after digits, so the
 * newest-first query of `lastSeq` meets it before any message, and the seq range of
 * `listMessages` never includes it.
 */
export const HEAD_KEY = `${MESSAGE_PREFIX}head`;
const DAY_SECONDS = 24 * 60 * 60;

/** When a message stored at `serverTs` (ms) expires under a retention of `days`, in epoch seconds. */
export const messageExpiry = (serverTs: number, days: number) =>
  Math.floor(serverTs / 1000) + days * DAY_SECONDS;

/**
 * The head item's update in a transaction that stores messages up to `seq`: conditional, so
 * that two writers of the same seq cannot both commit.
 */
export function headUpdate(tableName: string, conversationId: string, seq: number) {
  return {
    Update: {
      TableName: tableName,
      Key: { conversationId, itemKey: HEAD_KEY },
      UpdateExpression: 'SET headSeq = :seq',
      ConditionExpression: 'attribute_not_exists(headSeq) OR headSeq < :seq',
      ExpressionAttributeValues: { ':seq': seq },
    },
  };
}

/** Receives the capacity DynamoDB reports, when measuring (ReturnConsumedCapacity TOTAL). */
export type CapacityListener = (operation: string, capacity: ConsumedCapacity[]) => void;

export interface DynamoDbMessageStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  onCapacity?: CapacityListener;
  /** Days a message is kept; absent: forever. */
  retentionDays?: number;
  /** The clock that says whether a message is past its expiry (ms). */
  now?: () => number;
}

/** The fields a message has only when it was stored with them: a text's body, an event's own. */
const OPTIONAL_FIELDS = ['kind', 'body', 'title', 'members', 'userId', 'admin', 'erased'] as const;

function toMessage(item: Record<string, unknown>): Message {
  const message: Omit<Message, 'serverTs'> = {
    conversationId: item.conversationId as string,
    seq: item.seq as number,
    messageId: item.messageId as string,
    clientMessageId: item.clientMessageId as string,
    senderId: item.senderId as string,
    senderDeviceId: item.senderDeviceId as string,
  };
  const optional: Partial<Message> = {};
  for (const field of OPTIONAL_FIELDS) {
    if (item[field] !== undefined) Object.assign(optional, { [field]: item[field] });
  }
  return { ...message, ...optional, serverTs: item.serverTs as number };
}

export class DynamoDbMessageStore implements MessageStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #onCapacity: CapacityListener | undefined;
  readonly #retentionDays: number | undefined;
  readonly #now: () => number;

  constructor(options: DynamoDbMessageStoreOptions) {
    this.#client = options.client;
    this.#tableName = options.tableName;
    this.#onCapacity = options.onCapacity;
    this.#retentionDays = options.retentionDays;
    this.#now = options.now ?? Date.now;
  }

  /** True when the item is past its expiry: DynamoDB deletes expired items only eventually. */
  #expired(item: Record<string, unknown>): boolean {
    return typeof item.expiresAt === 'number' && item.expiresAt * 1000 <= this.#now();
  }

  #capacity() {
    return this.#onCapacity ? { ReturnConsumedCapacity: 'TOTAL' as const } : {};
  }

  #report(operation: string, capacity: ConsumedCapacity | ConsumedCapacity[] | undefined) {
    if (this.#onCapacity && capacity)
      this.#onCapacity(operation, Array.isArray(capacity) ? capacity : [capacity]);
  }

  async lastSeq(conversationId: string): Promise<number> {
    const retained = this.#retentionDays !== undefined;
    // With retention, the head and the newest message together. Without, the newest item
    // alone, as ever; a head left by a retention since turned off projects to no `seq`
    // (its own is `headSeq`), and then the newest message is read after it.
    const items = await this.#newestItems(
      conversationId,
      retained ? 2 : 1,
      retained ? 'seq, headSeq' : 'seq',
    );
    if (!retained && items.length === 1 && items[0]?.seq === undefined) {
      const head = await this.#client.send(
        new GetCommand({
          TableName: this.#tableName,
          Key: { conversationId, itemKey: HEAD_KEY },
          ConsistentRead: true,
        }),
      );
      items.push(head.Item ?? {}, ...(await this.#newestItems(conversationId, 1, 'seq', HEAD_KEY)));
    }
    const seqs = items.map((item) => (item.seq ?? item.headSeq ?? 0) as number);
    return Math.max(0, ...seqs);
  }

  async #newestItems(
    conversationId: string,
    limit: number,
    projection: string,
    after?: string,
  ): Promise<Record<string, unknown>[]> {
    const result = await this.#client.send(
      new QueryCommand({
        TableName: this.#tableName,
        KeyConditionExpression: 'conversationId = :c AND begins_with(itemKey, :p)',
        ExpressionAttributeValues: { ':c': conversationId, ':p': MESSAGE_PREFIX },
        ProjectionExpression: projection,
        ScanIndexForward: false,
        Limit: limit,
        ConsistentRead: true,
        ...(after ? { ExclusiveStartKey: { conversationId, itemKey: after } } : {}),
        ...this.#capacity(),
      }),
    );
    this.#report('lastSeq', result.ConsumedCapacity);
    return result.Items ?? [];
  }

  async storeMessage(message: Message): Promise<StoreMessageOutcome> {
    const { conversationId } = message;
    const retention = this.#retentionDays;
    const expiry = retention === undefined ? {} : { expiresAt: messageExpiry(message.serverTs, retention) };
    const idempotencyItem = {
      conversationId,
      itemKey: idempotencyKey(message.senderId, message.clientMessageId),
      seq: message.seq,
      messageId: message.messageId,
      serverTs: message.serverTs,
      // A key never outlives its message: a resend after that is a new message.
      expiresAt: Math.min(
        idempotencyKeyExpiry(message.serverTs),
        retention === undefined ? Number.POSITIVE_INFINITY : messageExpiry(message.serverTs, retention),
      ),
    };
    try {
      const result = await this.#client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.#tableName,
                Item: { ...message, ...expiry, itemKey: messageKey(message.seq) },
                ConditionExpression: 'attribute_not_exists(itemKey)',
              },
            },
            {
              Put: {
                TableName: this.#tableName,
                Item: idempotencyItem,
                ConditionExpression: 'attribute_not_exists(itemKey)',
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
            ...(retention === undefined ? [] : [headUpdate(this.#tableName, conversationId, message.seq)]),
          ],
          ...this.#capacity(),
        }),
      );
      this.#report('storeMessage', result.ConsumedCapacity);
      return { status: 'stored' };
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const [messageReason, keyReason] = error.CancellationReasons ?? [];
      if (keyReason?.Code === 'ConditionalCheckFailed') {
        const original = keyReason.Item
          ? (unmarshall(keyReason.Item) as StoredMessageRef)
          : await this.#readIdempotencyItem(conversationId, idempotencyItem.itemKey);
        return {
          status: 'duplicate',
          original: { seq: original.seq, messageId: original.messageId, serverTs: original.serverTs },
        };
      }
      const headReason = error.CancellationReasons?.[2];
      if (messageReason?.Code === 'ConditionalCheckFailed' || headReason?.Code === 'ConditionalCheckFailed')
        return { status: 'seq_taken' };
      const reasons = [messageReason?.Code, keyReason?.Code, headReason?.Code];
      if (reasons.includes('TransactionConflict')) return { status: 'conflict' };
      throw error;
    }
  }

  async #readIdempotencyItem(conversationId: string, itemKey: string): Promise<StoredMessageRef> {
    const result = await this.#client.send(
      new GetCommand({ TableName: this.#tableName, Key: { conversationId, itemKey }, ConsistentRead: true }),
    );
    if (!result.Item) throw new Error(`idempotency item ${itemKey} vanished`);
    return result.Item as StoredMessageRef;
  }

  async getMessage(conversationId: string, seq: number): Promise<Message | undefined> {
    const result = await this.#client.send(
      new GetCommand({
        TableName: this.#tableName,
        Key: { conversationId, itemKey: messageKey(seq) },
        ConsistentRead: true,
        ...this.#capacity(),
      }),
    );
    this.#report('getMessage', result.ConsumedCapacity);
    return result.Item && !this.#expired(result.Item) ? toMessage(result.Item) : undefined;
  }

  async listMessages(
    conversationId: string,
    afterSeq: number,
    limit: number,
    maxBytes?: number,
  ): Promise<MessagePage> {
    // No seq follows the largest one a sort key holds; a longer key would not sort by seq,
    // and could put the BETWEEN bounds the wrong way round, which DynamoDB refuses.
    if (afterSeq >= MAX_SEQ) return { messages: [], lastSeq: await this.lastSeq(conversationId) };
    if (this.#retentionDays === undefined) {
      const [{ items }, lastSeq] = await Promise.all([
        this.#readItems(conversationId, afterSeq, limit, maxBytes),
        this.lastSeq(conversationId),
      ]);
      // A message left with an expiry by a retention since turned off is still gone.
      const kept = items.filter((item) => !this.#expired(item));
      return { messages: kept.map(toMessage), lastSeq };
    }
    // The last seq first: every seq up to it was stored before the page is read, so one the
    // page lacks was deleted, not stored meanwhile.
    const lastSeq = await this.lastSeq(conversationId);
    const { items, readToEnd } = await this.#readItems(conversationId, afterSeq, limit, maxBytes);
    return this.#withoutGone(items, afterSeq, lastSeq, readToEnd);
  }

  /**
   * Without `maxBytes`, one query of `limit` items. With it, queries sized to what is left of
   * `maxBytes` (`nextPageSize`): a frame holds two messages of the largest size, so reading
   * `limit` of them at once would read a hundred times what is sent.
   */
  async #readItems(
    conversationId: string,
    afterSeq: number,
    limit: number,
    maxBytes: number | undefined,
  ): Promise<{ items: Record<string, unknown>[]; readToEnd: boolean }> {
    if (maxBytes === undefined) {
      const page = await this.#readPage(conversationId, afterSeq, limit);
      return { items: page.Items ?? [], readToEnd: page.LastEvaluatedKey === undefined };
    }
    const items: Record<string, unknown>[] = [];
    let bytes = 0;
    let largestBytes = 0;
    let readToEnd = false;
    while (items.length < limit && bytes < maxBytes) {
      const size = nextPageSize({
        read: items.length,
        largestBytes,
        remainingBytes: maxBytes - bytes,
        remainingLimit: limit - items.length,
      });
      const lastRead = (items.at(-1)?.seq as number | undefined) ?? afterSeq;
      const page = await this.#readPage(conversationId, lastRead, size);
      for (const item of page.Items ?? []) {
        const messageBytes = frameBytesOf(toMessage(item));
        bytes += messageBytes;
        largestBytes = Math.max(largestBytes, messageBytes);
        items.push(item);
      }
      readToEnd = page.LastEvaluatedKey === undefined;
      if ((page.Items?.length ?? 0) < size || ((items.at(-1)?.seq as number | undefined) ?? 0) >= MAX_SEQ)
        break;
    }
    return { items, readToEnd };
  }

  async #readPage(conversationId: string, afterSeq: number, limit: number) {
    const page = await this.#client.send(
      new QueryCommand({
        TableName: this.#tableName,
        KeyConditionExpression: 'conversationId = :c AND itemKey BETWEEN :from AND :to',
        ExpressionAttributeValues: {
          ':c': conversationId,
          ':from': messageKey(afterSeq + 1),
          ':to': LAST_MESSAGE_KEY,
        },
        Limit: limit,
        ConsistentRead: true,
        ...this.#capacity(),
      }),
    );
    this.#report('listMessages', page.ConsumedCapacity);
    return page;
  }

  /**
   * The page with the gone messages left out. Expiry follows `serverTs`, which grows with
   * seq, so gone seqs form a prefix: `goneThrough` is the highest seq the page read that is
   * expired or already deleted (a seq the page skips: seqs have no gaps), and every message
   * up to it is left out too, so that the answer keeps one watermark and no list of holes.
   */
  #withoutGone(
    items: Record<string, unknown>[],
    afterSeq: number,
    lastSeq: number,
    readToEnd: boolean,
  ): MessagePage {
    let goneThrough = afterSeq;
    let expected = afterSeq + 1;
    for (const item of items) {
      const seq = item.seq as number;
      if (seq > expected) goneThrough = seq - 1;
      if (this.#expired(item)) goneThrough = seq;
      expected = seq + 1;
    }
    // The page read to the end, yet the last seq (read before it) is further: those are deleted.
    if (readToEnd && lastSeq >= expected) goneThrough = lastSeq;
    const messages = items.filter((item) => (item.seq as number) > goneThrough).map(toMessage);
    return { messages, lastSeq, ...(goneThrough > afterSeq ? { goneThrough } : {}) };
  }
}
