/**
 * The rate counters in DynamoDB: one small item per user, route and window
 * (`{route}#{windowStart}`) holding the window's total and one count per second of it. One
 * conditional update adds to both, or refuses when either is at its limit, so Lambda
 * instances running side by side share one count. A refused update writes nothing but is
 * billed as a write all the same, which is why the limiter remembers refusals.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { CountOutcome, CountRequest, RateCounter } from '../domain/rate-limits.js';

export class DynamoDbRateCounter implements RateCounter {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;

  constructor(options: { client: DynamoDBDocumentClient; tableName: string }) {
    this.#client = options.client;
    this.#tableName = options.tableName;
  }

  async count(request: CountRequest): Promise<CountOutcome> {
    const { userId, route, windowStart, second, expiresAt, limit } = request;
    try {
      await this.#client.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: { userId, window: `${route}#${windowStart}` },
          UpdateExpression: 'ADD #total :one, #second :one SET expiresAt = :expiresAt',
          ConditionExpression:
            '(attribute_not_exists(#total) OR #total < :perWindow) AND ' +
            '(attribute_not_exists(#second) OR #second < :perSecond)',
          ExpressionAttributeNames: { '#total': 'total', '#second': `s${second}` },
          ExpressionAttributeValues: {
            ':one': 1,
            ':expiresAt': expiresAt,
            ':perWindow': limit.perWindow,
            ':perSecond': limit.perSecond,
          },
          // The refused item says whether the window or only this second is full.
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { admitted: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const total = Number(error.Item?.total?.N ?? 0);
      return { admitted: false, windowFull: total >= limit.perWindow };
    }
  }
}
