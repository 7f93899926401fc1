/**
 * The devices' push addresses and the push work's coalescing windows, in the push-devices
 * table (protocol 1.4): one user is one partition. A registration is the item
 * `device#{deviceId}`, its address a map attribute as the client sent it; a window is the
 * item `window#{deviceId}#{conversationId}`, which DynamoDB's TTL deletes some time after
 * it ends. Ids hold no `#` (protocol ids are A-Z, a-z, 0-9, _ and -), so the keys cannot
 * run into each other.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  type BatchWriteCommandOutput,
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { PushAddress } from '@parley/protocol';
import type { PushRegistration, PushRegistrationStore } from '../domain/ports.js';
import { queryAll } from './query-all.js';

const DEVICE_PREFIX = 'device#';
export const registrationKey = (userId: string, deviceId: string) => ({
  userId,
  itemKey: `${DEVICE_PREFIX}${deviceId}`,
});
export const windowKey = (userId: string, deviceId: string, conversationId: string) => ({
  userId,
  itemKey: `window#${deviceId}#${conversationId}`,
});

/**
 * How long a window's item outlives the window before TTL may delete it. TTL deletes
 * expired items only eventually, so the claim compares `windowEndsAt` itself and never
 * relies on the item being gone; the margin only keeps the item while a clock a little
 * behind could still read the window as open.
 */
const WINDOW_EXPIRY_MARGIN_SECONDS = 60;
/** BatchWriteItem takes at most 25 requests a call. */
const BATCH_WRITE_LIMIT = 25;
const MAX_BATCH_ATTEMPTS = 5;

type Item = Record<string, unknown>;

function registrationOf(item: Item): PushRegistration {
  return {
    userId: item.userId as string,
    deviceId: item.deviceId as string,
    address: item.address as PushAddress,
    registeredAt: item.registeredAt as number,
    ...(typeof item.platformEndpointArn === 'string'
      ? { platformEndpointArn: item.platformEndpointArn }
      : {}),
  };
}

const isRegistration = (item: Item) => (item.itemKey as string).startsWith(DEVICE_PREFIX);

/** False when the write's condition failed: the outcome the caller asked about, not an error. */
async function unlessConditionFails(write: () => Promise<unknown>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

export class DynamoDbPushRegistrationStore implements PushRegistrationStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;

  constructor(options: { client: DynamoDBDocumentClient; tableName: string }) {
    this.#client = options.client;
    this.#tableName = options.tableName;
  }

  async putRegistration(registration: PushRegistration): Promise<PushRegistration | undefined> {
    const result = await this.#client.send(
      new PutCommand({
        TableName: this.#tableName,
        Item: { ...registrationKey(registration.userId, registration.deviceId), ...registration },
        ReturnValues: 'ALL_OLD',
      }),
    );
    return result.Attributes ? registrationOf(result.Attributes) : undefined;
  }

  async deleteRegistration(userId: string, deviceId: string): Promise<PushRegistration | undefined> {
    const result = await this.#client.send(
      new DeleteCommand({
        TableName: this.#tableName,
        Key: registrationKey(userId, deviceId),
        ReturnValues: 'ALL_OLD',
      }),
    );
    return result.Attributes ? registrationOf(result.Attributes) : undefined;
  }

  async deleteRegistrationIfUnchanged(
    userId: string,
    deviceId: string,
    registeredAt: number,
  ): Promise<boolean> {
    return unlessConditionFails(() =>
      this.#client.send(
        new DeleteCommand({
          TableName: this.#tableName,
          Key: registrationKey(userId, deviceId),
          ConditionExpression: 'registeredAt = :registeredAt',
          ExpressionAttributeValues: { ':registeredAt': registeredAt },
        }),
      ),
    );
  }

  async listRegistrations(userId: string): Promise<PushRegistration[]> {
    const items = await queryAll(this.#client, {
      TableName: this.#tableName,
      KeyConditionExpression: 'userId = :u AND begins_with(itemKey, :prefix)',
      ExpressionAttributeValues: { ':u': userId, ':prefix': DEVICE_PREFIX },
      ConsistentRead: true,
    });
    return items.map(registrationOf);
  }

  async setPlatformEndpoint(
    userId: string,
    deviceId: string,
    registeredAt: number,
    endpointArn: string,
  ): Promise<void> {
    // A registration replaced or removed meanwhile keeps no endpoint of an older token:
    // the condition fails, and that is the outcome wanted, not an error.
    await unlessConditionFails(() =>
      this.#client.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: registrationKey(userId, deviceId),
          UpdateExpression: 'SET platformEndpointArn = :arn',
          ConditionExpression: 'registeredAt = :registeredAt',
          ExpressionAttributeValues: { ':arn': endpointArn, ':registeredAt': registeredAt },
        }),
      ),
    );
  }

  async claimPushWindow(
    userId: string,
    deviceId: string,
    conversationId: string,
    now: number,
    windowMs: number,
  ): Promise<boolean> {
    const windowEndsAt = now + windowMs;
    return unlessConditionFails(() =>
      this.#client.send(
        new PutCommand({
          TableName: this.#tableName,
          Item: {
            ...windowKey(userId, deviceId, conversationId),
            windowEndsAt,
            expiresAt: Math.ceil(windowEndsAt / 1000) + WINDOW_EXPIRY_MARGIN_SECONDS,
          },
          ConditionExpression: 'attribute_not_exists(itemKey) OR windowEndsAt <= :now',
          ExpressionAttributeValues: { ':now': now },
        }),
      ),
    );
  }

  async removeAllForUser(userId: string): Promise<PushRegistration[]> {
    const items = await queryAll(this.#client, {
      TableName: this.#tableName,
      KeyConditionExpression: 'userId = :u',
      ExpressionAttributeValues: { ':u': userId },
      ConsistentRead: true,
    });
    for (let start = 0; start < items.length; start += BATCH_WRITE_LIMIT) {
      await this.#deleteAll(items.slice(start, start + BATCH_WRITE_LIMIT));
    }
    return items.filter(isRegistration).map(registrationOf);
  }

  /** Deletes up to 25 items, sending again what DynamoDB left unprocessed. */
  async #deleteAll(items: Item[]): Promise<void> {
    let requests: unknown[] | undefined = items.map((item) => ({
      DeleteRequest: { Key: { userId: item.userId, itemKey: item.itemKey } },
    }));
    for (let attempt = 0; requests?.length; attempt++) {
      if (attempt === MAX_BATCH_ATTEMPTS) {
        throw new Error(`push-devices items were not all deleted after ${MAX_BATCH_ATTEMPTS} attempts`);
      }
      const result: BatchWriteCommandOutput = await this.#client.send(
        new BatchWriteCommand({ RequestItems: { [this.#tableName]: requests as never } }),
      );
      requests = result.UnprocessedItems?.[this.#tableName];
    }
  }
}
