/**
 * The typing gate in DynamoDB: one small item per member who typed, `typing#{userId}`, in
 * the conversation's partition, holding when its last `start` was let through. A
 * conditional update lets a `start` through only when that time is at least an interval
 * old, so Lambda instances running side by side let through one between them. The item has
 * no expiry: the conversations table has no TTL, and it stays one short item per member.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { TypingGate } from '../domain/ports.js';

export const typingKey = (userId: string) => `typing#${userId}`;

export class DynamoDbTypingGate implements TypingGate {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;

  constructor(options: { client: DynamoDBDocumentClient; tableName: string }) {
    this.#client = options.client;
    this.#tableName = options.tableName;
  }

  async claimStart(
    conversationId: string,
    userId: string,
    now: number,
    intervalMs: number,
  ): Promise<boolean> {
    try {
      await this.#client.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: { conversationId, itemKey: typingKey(userId) },
          UpdateExpression: 'SET startedAt = :now',
          ConditionExpression: 'attribute_not_exists(startedAt) OR startedAt <= :since',
          ExpressionAttributeValues: { ':now': now, ':since': now - intervalMs },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
