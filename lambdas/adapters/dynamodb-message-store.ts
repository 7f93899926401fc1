/**
 * The conversation partition in DynamoDB: messages under `msg#{seq}` (zero-padded so the
 * sort key orders by seq) and idempotency keys under `idem#{senderId}#{clientMessageId}`,
 * each key with an `expiresAt` IDEMPOTENCY_KEY_DAYS after its message, for the table's TTL
 * (docs/adr/0009-keep-alive.md): kept forever, they would be most of the table's storage
 * after the messages themselves, and no client retries that late.
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

/** Receives the capacity DynamoDB reports, when measuring (ReturnConsumedCapacity TOTAL). */
export type CapacityListener = (operation: string, capacity: ConsumedCapacity[]) => void;

export interface DynamoDbMessageStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  onCapacity?: CapacityListener;
}

/** The fields a message has only when it was stored with them: a text's body, an event's own. */
const OPTIONAL_FIELDS = ['kind', 'body', 'title', 'members', 'userId', 'admin'] as const;

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

  constructor(options: DynamoDbMessageStoreOptions) {
    this.#client = options.client;
    this.#tableName = options.tableName;
    this.#onCapacity = options.onCapacity;
  }

  #capacity() {
    return this.#onCapacity ? { ReturnConsumedCapacity: 'TOTAL' as const } : {};
  }

  #report(operation: string, capacity: ConsumedCapacity | ConsumedCapacity[] | undefined) {
    if (this.#onCapacity && capacity)
      this.#onCapacity(operation, Array.isArray(capacity) ? capacity : [capacity]);
  }

  async lastSeq(conversationId: string): Promise<number> {
    const result = await this.#client.send(
      new QueryCommand({
        TableName: this.#tableName,
        KeyConditionExpression: 'conversationId = :c AND begins_with(itemKey, :p)',
        ExpressionAttributeValues: { ':c': conversationId, ':p': MESSAGE_PREFIX },
        ProjectionExpression: 'seq',
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
        ...this.#capacity(),
      }),
    );
    this.#report('lastSeq', result.ConsumedCapacity);
    return (result.Items?.[0]?.seq as number | undefined) ?? 0;
  }

  async storeMessage(message: Message): Promise<StoreMessageOutcome> {
    const { conversationId } = message;
    const idempotencyItem = {
      conversationId,
      itemKey: idempotencyKey(message.senderId, message.clientMessageId),
      seq: message.seq,
      messageId: message.messageId,
      serverTs: message.serverTs,
      expiresAt: idempotencyKeyExpiry(message.serverTs),
    };
    try {
      const result = await this.#client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.#tableName,
                Item: { ...message, itemKey: messageKey(message.seq) },
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
      if (messageReason?.Code === 'ConditionalCheckFailed') return { status: 'seq_taken' };
      const reasons = [messageReason?.Code, keyReason?.Code];
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
    return result.Item ? toMessage(result.Item) : undefined;
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
    const [messages, lastSeq] = await Promise.all([
      maxBytes === undefined
        ? this.#queryMessages(conversationId, afterSeq, limit)
        : this.#readWithin(conversationId, afterSeq, limit, maxBytes),
      this.lastSeq(conversationId),
    ]);
    return { messages, lastSeq };
  }

  /**
   * Reads in queries sized to what is left of `maxBytes` (`nextPageSize`): a frame holds
   * two messages of the largest size, so reading `limit` of them at once would read a
   * hundred times what is sent.
   */
  async #readWithin(conversationId: string, afterSeq: number, limit: number, maxBytes: number) {
    const messages: Message[] = [];
    let bytes = 0;
    let largestBytes = 0;
    while (messages.length < limit && bytes < maxBytes) {
      const size = nextPageSize({
        read: messages.length,
        largestBytes,
        remainingBytes: maxBytes - bytes,
        remainingLimit: limit - messages.length,
      });
      const page = await this.#queryMessages(conversationId, messages.at(-1)?.seq ?? afterSeq, size);
      for (const message of page) {
        const messageBytes = frameBytesOf(message);
        bytes += messageBytes;
        largestBytes = Math.max(largestBytes, messageBytes);
        messages.push(message);
      }
      if (page.length < size || (messages.at(-1)?.seq ?? 0) >= MAX_SEQ) break;
    }
    return messages;
  }

  async #queryMessages(conversationId: string, afterSeq: number, limit: number): Promise<Message[]> {
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
    return (page.Items ?? []).map(toMessage);
  }
}
