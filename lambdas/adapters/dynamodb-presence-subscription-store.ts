/** Presence subscriptions: watched user → subscribing connections, each with an expiry. */
import {
  BatchWriteCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import type { PresenceSubscription, PresenceSubscriptionStore } from '../domain/ports.js';
import { queryAll } from './query-all.js';

/** BatchWriteItem takes at most 25 requests per call. */
const BATCH_WRITE_LIMIT = 25;

export class DynamoDbPresenceSubscriptionStore implements PresenceSubscriptionStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #now: () => number;

  constructor(options: { client: DynamoDBDocumentClient; tableName: string; now?: () => number }) {
    this.#client = options.client;
    this.#tableName = options.tableName;
    this.#now = options.now ?? Date.now;
  }

  async subscribe(subscriptions: PresenceSubscription[]): Promise<void> {
    for (let start = 0; start < subscriptions.length; start += BATCH_WRITE_LIMIT) {
      let requests: Array<{ PutRequest?: { Item: Record<string, unknown> } }> | undefined = subscriptions
        .slice(start, start + BATCH_WRITE_LIMIT)
        .map((subscription) => ({ PutRequest: { Item: { ...subscription } } }));
      for (let attempt = 0; requests?.length; attempt++) {
        if (attempt === 5) throw new Error('presence subscriptions were not all written after 5 attempts');
        const result = await this.#client.send(
          new BatchWriteCommand({ RequestItems: { [this.#tableName]: requests as never } }),
        );
        requests = result.UnprocessedItems?.[this.#tableName] as typeof requests;
      }
    }
  }

  async listSubscribers(watchedUserId: string): Promise<PresenceSubscription[]> {
    const subscriptions: PresenceSubscription[] = [];
    let exclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.#client.send(
        new QueryCommand({
          TableName: this.#tableName,
          KeyConditionExpression: 'watchedUserId = :w',
          FilterExpression: 'expiresAt > :now',
          ExpressionAttributeValues: { ':w': watchedUserId, ':now': Math.floor(this.#now() / 1000) },
          ExclusiveStartKey: exclusiveStartKey,
        }),
      );
      for (const item of page.Items ?? []) subscriptions.push(item as PresenceSubscription);
      exclusiveStartKey = page.LastEvaluatedKey;
    } while (exclusiveStartKey);
    return subscriptions;
  }

  async unsubscribe(watchedUserId: string, connectionId: string): Promise<void> {
    await this.#client.send(
      new DeleteCommand({ TableName: this.#tableName, Key: { watchedUserId, connectionId } }),
    );
  }

  async unsubscribeUser(watchedUserId: string, subscriberUserId: string): Promise<void> {
    const items = await queryAll(this.#client, {
      TableName: this.#tableName,
      KeyConditionExpression: 'watchedUserId = :w',
      FilterExpression: 'subscriberUserId = :s',
      ExpressionAttributeValues: { ':w': watchedUserId, ':s': subscriberUserId },
      ProjectionExpression: 'connectionId',
      ConsistentRead: true,
    });
    await Promise.all(items.map((item) => this.unsubscribe(watchedUserId, item.connectionId as string)));
  }
}
