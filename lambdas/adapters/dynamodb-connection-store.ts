/** The connections table: one partition per user, one item per open connection. */
import { DeleteCommand, type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Connection, ConnectionStore } from '../domain/ports.js';
import { queryAll } from './query-all.js';

export class DynamoDbConnectionStore implements ConnectionStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #nowSeconds: () => number;

  constructor(options: { client: DynamoDBDocumentClient; tableName: string; now?: () => number }) {
    this.#client = options.client;
    this.#tableName = options.tableName;
    const now = options.now ?? Date.now;
    this.#nowSeconds = () => Math.floor(now() / 1000);
  }

  async putConnection(connection: Connection): Promise<void> {
    await this.#client.send(new PutCommand({ TableName: this.#tableName, Item: { ...connection } }));
  }

  async deleteConnection(userId: string, connectionId: string): Promise<void> {
    await this.#client.send(new DeleteCommand({ TableName: this.#tableName, Key: { userId, connectionId } }));
  }

  async listConnections(userId: string): Promise<Connection[]> {
    const items = await queryAll(this.#client, {
      TableName: this.#tableName,
      KeyConditionExpression: 'userId = :u',
      // DynamoDB deletes expired items only eventually: an expired item is a dead connection.
      FilterExpression: 'expiresAt > :now',
      ExpressionAttributeValues: { ':u': userId, ':now': this.#nowSeconds() },
      // A read after a list write must see a connection written before that write
      // (the fanout's late posts, and a group's new members: docs/adr/0007-groups.md).
      ConsistentRead: true,
    });
    return items as unknown as Connection[];
  }
}
