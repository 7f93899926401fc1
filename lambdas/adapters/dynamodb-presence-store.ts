/**
 * Presence, one item per user: `online`, `lastSeen`, `lastActiveAt`, a `version` that every
 * connect bumps, and `expiresAt` (the table's TTL attribute) after which an online item is
 * read as offline: DynamoDB deletes expired items only eventually.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  type DynamoDBDocumentClient,
  GetCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { PresenceRecord, PresenceStore } from '../domain/ports.js';

function toRecord(item: Record<string, unknown>): PresenceRecord {
  return {
    userId: item.userId as string,
    online: item.online === true,
    lastSeen: (item.lastSeen as number | undefined) ?? null,
    lastActiveAt: (item.lastActiveAt as number | undefined) ?? null,
    expiresAt: (item.expiresAt as number | undefined) ?? 0,
    version: (item.version as number | undefined) ?? 0,
  };
}

/** `online` and `version` are DynamoDB reserved words. */
const RESERVED_NAMES = { '#online': 'online', '#version': 'version' };

/** BatchGetItem takes at most 100 keys per call. */
const BATCH_GET_LIMIT = 100;

export class DynamoDbPresenceStore implements PresenceStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;

  constructor(options: { client: DynamoDBDocumentClient; tableName: string }) {
    this.#client = options.client;
    this.#tableName = options.tableName;
  }

  async get(userId: string): Promise<PresenceRecord | undefined> {
    const result = await this.#client.send(
      new GetCommand({ TableName: this.#tableName, Key: { userId }, ConsistentRead: true }),
    );
    return result.Item ? toRecord(result.Item) : undefined;
  }

  async getMany(userIds: string[]): Promise<PresenceRecord[]> {
    const records: PresenceRecord[] = [];
    for (let start = 0; start < userIds.length; start += BATCH_GET_LIMIT) {
      let keys: Array<Record<string, unknown>> | undefined = userIds
        .slice(start, start + BATCH_GET_LIMIT)
        .map((userId) => ({ userId }));
      for (let attempt = 0; keys?.length && attempt < 5; attempt++) {
        const result: BatchGetCommandOutput = await this.#client.send(
          new BatchGetCommand({ RequestItems: { [this.#tableName]: { Keys: keys } } }),
        );
        for (const item of result.Responses?.[this.#tableName] ?? []) records.push(toRecord(item));
        keys = result.UnprocessedKeys?.[this.#tableName]?.Keys;
      }
    }
    return records;
  }

  async markOnline(
    userId: string,
    now: number,
    expiresAt: number,
  ): Promise<{ wasOnline: boolean; version: number }> {
    const result = await this.#client.send(
      new UpdateCommand({
        TableName: this.#tableName,
        Key: { userId },
        UpdateExpression:
          'SET #online = :true, lastActiveAt = :now, expiresAt = :expiresAt ADD #version :one',
        ExpressionAttributeNames: RESERVED_NAMES,
        ExpressionAttributeValues: { ':true': true, ':now': now, ':expiresAt': expiresAt, ':one': 1 },
        ReturnValues: 'ALL_OLD',
      }),
    );
    const before = result.Attributes ? toRecord(result.Attributes) : undefined;
    return {
      wasOnline: !!before?.online && before.expiresAt > Math.floor(now / 1000),
      version: (before?.version ?? 0) + 1,
    };
  }

  async markOffline(userId: string, version: number, now: number): Promise<boolean> {
    try {
      await this.#client.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: { userId },
          // An offline record keeps its lastSeen: it no longer expires.
          UpdateExpression: 'SET #online = :false, lastSeen = :now REMOVE expiresAt',
          ConditionExpression: '#version = :version AND #online = :true',
          ExpressionAttributeNames: RESERVED_NAMES,
          ExpressionAttributeValues: {
            ':false': false,
            ':true': true,
            ':now': now,
            ':version': version,
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
