/**
 * Receipt watermarks, one item per member in the conversation partition
 * (`member#{userId}` with `deliveredSeq` and `readSeq`), raised by conditional updates so
 * that a watermark only ever moves forward, whatever order acks arrive in; each update
 * returns the watermark it replaced.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Receipt, ReceiptKind } from '@parley/protocol';
import type { ReceiptStore, WatermarkOutcome } from '../domain/ports.js';

const MEMBER_PREFIX = 'member#';
const FIELD: Record<ReceiptKind, 'deliveredSeq' | 'readSeq'> = { delivered: 'deliveredSeq', read: 'readSeq' };

export class DynamoDbReceiptStore implements ReceiptStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;

  constructor(options: { client: DynamoDBDocumentClient; tableName: string }) {
    this.#client = options.client;
    this.#tableName = options.tableName;
  }

  async raiseWatermark(
    conversationId: string,
    userId: string,
    kind: ReceiptKind,
    seq: number,
  ): Promise<WatermarkOutcome> {
    const field = FIELD[kind];
    try {
      const result = await this.#client.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: { conversationId, itemKey: `${MEMBER_PREFIX}${userId}` },
          UpdateExpression: 'SET #field = :seq, userId = :userId',
          ConditionExpression: 'attribute_not_exists(#field) OR #field < :seq',
          ExpressionAttributeNames: { '#field': field },
          ExpressionAttributeValues: { ':seq': seq, ':userId': userId },
          ReturnValues: 'UPDATED_OLD',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      // The old values of the attributes it set: no watermark of this kind before, none here.
      return { seq, moved: true, previous: (result.Attributes?.[field] as number | undefined) ?? 0 };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // The condition fails only on a watermark at or above seq: answer that one. An engine
      // that returns no item with the failure is read instead, never assumed to hold seq.
      const current = error.Item
        ? (unmarshall(error.Item)[field] as number | undefined)
        : await this.#readWatermark(conversationId, userId, field);
      return { seq: current ?? seq, moved: false, previous: current ?? seq };
    }
  }

  async #readWatermark(conversationId: string, userId: string, field: string): Promise<number | undefined> {
    return (await this.#readMember(conversationId, userId))?.[field] as number | undefined;
  }

  async #readMember(conversationId: string, userId: string): Promise<Record<string, unknown> | undefined> {
    const result = await this.#client.send(
      new GetCommand({
        TableName: this.#tableName,
        Key: { conversationId, itemKey: `${MEMBER_PREFIX}${userId}` },
        ConsistentRead: true,
      }),
    );
    return result.Item;
  }

  async getReceipt(conversationId: string, userId: string): Promise<Receipt> {
    const item = await this.#readMember(conversationId, userId);
    return {
      userId,
      deliveredSeq: (item?.deliveredSeq as number | undefined) ?? 0,
      readSeq: (item?.readSeq as number | undefined) ?? 0,
    };
  }

  async listReceipts(conversationId: string): Promise<Receipt[]> {
    const result = await this.#client.send(
      new QueryCommand({
        TableName: this.#tableName,
        KeyConditionExpression: 'conversationId = :c AND begins_with(itemKey, :p)',
        ExpressionAttributeValues: { ':c': conversationId, ':p': MEMBER_PREFIX },
        ConsistentRead: true,
      }),
    );
    return (result.Items ?? []).map((item) => ({
      userId: item.userId as string,
      deliveredSeq: (item.deliveredSeq as number | undefined) ?? 0,
      readSeq: (item.readSeq as number | undefined) ?? 0,
    }));
  }
}
