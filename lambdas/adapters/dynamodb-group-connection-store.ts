/**
 * The `group-connections` table: one partition per group, one item per open connection of
 * one of its members, with the connection's expiry as TTL (docs/adr/0007-groups.md,
 * "Delivery"). Delivering to a group reads one partition whose size follows its connected
 * devices, not its members.
 */
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GroupConnectionIndexError } from '../domain/errors.js';
import type { Connection, GroupConnectionStore } from '../domain/ports.js';
import { queryAll } from './query-all.js';

/** BatchWriteItem takes at most 25 requests per call. */
const BATCH_WRITE_LIMIT = 25;
/** Tries of one batch's unprocessed requests (throttled ones) before giving up. */
const BATCH_WRITE_ATTEMPTS = 5;

type WriteRequest =
  | { PutRequest: { Item: Record<string, unknown> } }
  | { DeleteRequest: { Key: Record<string, unknown> } };

export class DynamoDbGroupConnectionStore implements GroupConnectionStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #nowSeconds: () => number;

  constructor(options: { client: DynamoDBDocumentClient; tableName: string; now?: () => number }) {
    this.#client = options.client;
    this.#tableName = options.tableName;
    const now = options.now ?? Date.now;
    this.#nowSeconds = () => Math.floor(now() / 1000);
  }

  /**
   * Strongly consistent: the fanout reads what it indexed a moment before, and what a
   * `$connect` indexed before the event was read.
   */
  async listGroupConnections(conversationId: string, atMost?: number): Promise<Connection[]> {
    const items = await queryAll(
      this.#client,
      {
        TableName: this.#tableName,
        KeyConditionExpression: 'conversationId = :c',
        // DynamoDB deletes expired items only eventually: an expired item is a dead connection.
        FilterExpression: 'expiresAt > :now',
        ExpressionAttributeValues: { ':c': conversationId, ':now': this.#nowSeconds() },
        ConsistentRead: true,
      },
      atMost,
    );
    return items.map(toConnection);
  }

  async addConnections(conversationId: string, connections: Connection[]): Promise<void> {
    // One put per connection id: a batch naming a key twice is refused whole.
    const unique = new Map(connections.map((connection) => [connection.connectionId, connection]));
    await this.#writeAll(
      [...unique.values()].map((connection) => ({
        PutRequest: { Item: { ...toConnection(connection), conversationId } },
      })),
    );
  }

  async removeConnections(conversationId: string, connectionIds: string[]): Promise<void> {
    await this.#writeAll(
      [...new Set(connectionIds)].map((connectionId) => ({
        DeleteRequest: { Key: { conversationId, connectionId } },
      })),
    );
  }

  /** Writes the requests 25 at a time, trying the unprocessed ones again. */
  async #writeAll(requests: WriteRequest[]): Promise<void> {
    for (let start = 0; start < requests.length; start += BATCH_WRITE_LIMIT) {
      let pending: WriteRequest[] = requests.slice(start, start + BATCH_WRITE_LIMIT);
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt === BATCH_WRITE_ATTEMPTS) {
          throw new GroupConnectionIndexError(
            `the group connection index was not all written after ${BATCH_WRITE_ATTEMPTS} attempts`,
          );
        }
        const result = await this.#client.send(
          new BatchWriteCommand({ RequestItems: { [this.#tableName]: pending } }),
        );
        pending = (result.UnprocessedItems?.[this.#tableName] ?? []) as WriteRequest[];
      }
    }
  }
}

/** The connection's own fields, without the table's partition key. */
function toConnection(item: Record<string, unknown> | Connection): Connection {
  const { userId, connectionId, deviceId, connectedAt, expiresAt } = item as Connection;
  return { userId, connectionId, deviceId, connectedAt, expiresAt };
}
