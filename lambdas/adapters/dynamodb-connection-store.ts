/**
 * The connections table: one partition per user, one item per open connection, and one
 * version item per user that every handshake under the cap bumps (docs/adr/0011-connection-cap.md).
 */
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import { type BackoffDeps, type BackoffPolicy, waitBeforeRetry } from '../domain/backoff.js';
import type { Connection, ConnectionStore, OpenConnectionOutcome } from '../domain/ports.js';
import { queryAll } from './query-all.js';

/**
 * The sort key of a user's version item. API Gateway's connection ids are base64 text,
 * which has no `#`. The item has no `expiresAt`, so a listing of connections (which keeps
 * only items whose `expiresAt` is still ahead) never shows it.
 */
export const VERSION_ITEM_KEY = '#version';

/** Reads and conditional writes a handshake tries before it gives up to others of the same user. */
export const OPEN_ATTEMPTS = 8;
/**
 * The wait before a handshake that lost the race tries again: each round lets at least one
 * of the racers through, and the jitter spreads the rest out. At most about 1.6 s in all,
 * well inside the 10 s of the `connect` function.
 */
const OPEN_RETRY: BackoffPolicy = { baseDelayMs: 25, maxDelayMs: 400 };

const REAL_WAIT: BackoffDeps = {
  random: Math.random,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export class DynamoDbConnectionStore implements ConnectionStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #nowSeconds: () => number;
  readonly #wait: BackoffDeps;

  constructor(options: {
    client: DynamoDBDocumentClient;
    tableName: string;
    now?: () => number;
    /** The waits between a handshake's tries; real timers when absent. */
    wait?: BackoffDeps;
  }) {
    this.#client = options.client;
    this.#tableName = options.tableName;
    this.#wait = options.wait ?? REAL_WAIT;
    const now = options.now ?? Date.now;
    this.#nowSeconds = () => Math.floor(now() / 1000);
  }

  async putConnection(connection: Connection): Promise<void> {
    await this.#client.send(new PutCommand({ TableName: this.#tableName, Item: { ...connection } }));
  }

  /**
   * Reads the user's partition, counts its live connections (an expired item is a dead
   * connection even before DynamoDB deletes it), and writes the new one in a transaction
   * that also deletes the device's older connections and moves the version item on from
   * the version read. A handshake that changed the partition in between fails that
   * condition, and the count is made again from a fresh read.
   */
  async openConnection(connection: Connection, maxPerUser: number): Promise<OpenConnectionOutcome> {
    for (let attempt = 0; attempt < OPEN_ATTEMPTS; attempt++) {
      const { version, live } = await this.#readPartition(connection.userId);
      const replaced = live.filter(
        (other) => other.deviceId === connection.deviceId && other.connectionId !== connection.connectionId,
      );
      const open = live.filter(
        (other) => !replaced.includes(other) && other.connectionId !== connection.connectionId,
      );
      if (open.length >= maxPerUser) return { status: 'full', open: open.length };
      if (await this.#writeIfUnchanged(connection, version, replaced)) return { status: 'opened', replaced };
      await waitBeforeRetry(attempt, OPEN_RETRY, this.#wait);
    }
    return { status: 'contended' };
  }

  async #readPartition(userId: string): Promise<{ version: number | undefined; live: Connection[] }> {
    const items = await queryAll(this.#client, {
      TableName: this.#tableName,
      KeyConditionExpression: 'userId = :u',
      ExpressionAttributeValues: { ':u': userId },
      // A place freed or taken by a handshake that has just finished must count.
      ConsistentRead: true,
    });
    const now = this.#nowSeconds();
    const versionItem = items.find((item) => item.connectionId === VERSION_ITEM_KEY);
    const live = items.filter(
      (item) =>
        item.connectionId !== VERSION_ITEM_KEY && typeof item.expiresAt === 'number' && item.expiresAt > now,
    ) as unknown as Connection[];
    return { version: typeof versionItem?.version === 'number' ? versionItem.version : undefined, live };
  }

  /** The transaction of `openConnection`; false when another handshake changed the partition first. */
  async #writeIfUnchanged(
    connection: Connection,
    version: number | undefined,
    replaced: readonly Connection[],
  ): Promise<boolean> {
    const { userId } = connection;
    try {
      await this.#client.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: { TableName: this.#tableName, Item: { ...connection } } },
            {
              Update: {
                TableName: this.#tableName,
                Key: { userId, connectionId: VERSION_ITEM_KEY },
                UpdateExpression: 'SET version = :next',
                ConditionExpression:
                  version === undefined ? 'attribute_not_exists(version)' : 'version = :read',
                ExpressionAttributeValues: {
                  ':next': (version ?? 0) + 1,
                  ...(version === undefined ? {} : { ':read': version }),
                },
              },
            },
            ...replaced.map((older) => ({
              Delete: { TableName: this.#tableName, Key: { userId, connectionId: older.connectionId } },
            })),
          ],
        }),
      );
      return true;
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const codes = (error.CancellationReasons ?? []).map((reason) => reason.Code);
      if (codes.includes('ConditionalCheckFailed') || codes.includes('TransactionConflict')) return false;
      throw error;
    }
  }

  async deleteConnection(userId: string, connectionId: string): Promise<void> {
    await this.#client.send(new DeleteCommand({ TableName: this.#tableName, Key: { userId, connectionId } }));
  }

  async listConnections(userId: string): Promise<Connection[]> {
    const items = await queryAll(this.#client, {
      TableName: this.#tableName,
      KeyConditionExpression: 'userId = :u',
      // DynamoDB deletes expired items only eventually: an expired item is a dead connection.
      // The version item has no `expiresAt`, so this leaves it out too.
      FilterExpression: 'expiresAt > :now',
      ExpressionAttributeValues: { ':u': userId, ':now': this.#nowSeconds() },
      // A read after a list write must see a connection written before that write
      // (the fanout's late posts, and a group's new members: docs/adr/0007-groups.md).
      ConsistentRead: true,
    });
    return items as unknown as Connection[];
  }
}
