/**
 * Blocks and presence consent, in each user's own partition of the user-conversations
 * table: a block is the item `block#{blockedId}` of the blocker, and consent is the
 * `wroteAt` the fanout sets on the writer's entry of a one-to-one conversation
 * (docs/adr/0013-consent-and-blocking.md). A block item has no `updatedAt`, so the list's
 * index, which orders entries by it, never holds one.
 */
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  BatchWriteCommand,
  type BatchWriteCommandOutput,
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
} from '@aws-sdk/lib-dynamodb';
import { directConversationId } from '@parley/protocol';
import type { BlockPair, PrivacyStore } from '../domain/ports.js';
import { queryAll } from './query-all.js';

const BLOCK_PREFIX = 'block#';
export const blockKey = ({ blockerId, blockedId }: BlockPair) => ({
  userId: blockerId,
  itemKey: `${BLOCK_PREFIX}${blockedId}`,
});

/** BatchGetItem takes at most 100 keys per call, BatchWriteItem 25 requests. */
const BATCH_GET_LIMIT = 100;
const BATCH_WRITE_LIMIT = 25;
const MAX_BATCH_ATTEMPTS = 5;

type Key = { userId: string; itemKey: string };

export class DynamoDbPrivacyStore implements PrivacyStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;

  constructor(options: { client: DynamoDBDocumentClient; tableName: string }) {
    this.#client = options.client;
    this.#tableName = options.tableName;
  }

  async block(pair: BlockPair, at: number): Promise<boolean> {
    const result = await this.#client.send(
      new PutCommand({
        TableName: this.#tableName,
        Item: { ...blockKey(pair), blockedUserId: pair.blockedId, blockedAt: at },
        ReturnValues: 'ALL_OLD',
      }),
    );
    return result.Attributes === undefined;
  }

  async unblock(pair: BlockPair): Promise<boolean> {
    const result = await this.#client.send(
      new DeleteCommand({ TableName: this.#tableName, Key: blockKey(pair), ReturnValues: 'ALL_OLD' }),
    );
    return result.Attributes !== undefined;
  }

  async listBlocked(
    blockerId: string,
    after: string | undefined,
    limit: number,
  ): Promise<{ userIds: string[]; hasMore: boolean }> {
    const items = await queryAll(
      this.#client,
      {
        TableName: this.#tableName,
        KeyConditionExpression: after
          ? 'userId = :u AND itemKey BETWEEN :from AND :to'
          : 'userId = :u AND begins_with(itemKey, :prefix)',
        ExpressionAttributeValues: after
          ? // Past `after` and before the first key that no longer begins `block#`.
            { ':u': blockerId, ':from': `${BLOCK_PREFIX}${after}\u0000`, ':to': `${BLOCK_PREFIX}\uffff` }
          : { ':u': blockerId, ':prefix': BLOCK_PREFIX },
        ProjectionExpression: 'blockedUserId',
        ConsistentRead: true,
      },
      limit + 1,
    );
    const userIds = items.map((item) => item.blockedUserId as string);
    return { userIds: userIds.slice(0, limit), hasMore: userIds.length > limit };
  }

  async removeAllBlocks(blockerId: string): Promise<number> {
    const items = await queryAll(this.#client, {
      TableName: this.#tableName,
      KeyConditionExpression: 'userId = :u AND begins_with(itemKey, :prefix)',
      ExpressionAttributeValues: { ':u': blockerId, ':prefix': BLOCK_PREFIX },
      ProjectionExpression: 'userId, itemKey',
      ConsistentRead: true,
    });
    for (let start = 0; start < items.length; start += BATCH_WRITE_LIMIT) {
      let requests: unknown[] | undefined = items
        .slice(start, start + BATCH_WRITE_LIMIT)
        .map((key) => ({ DeleteRequest: { Key: key } }));
      for (let attempt = 0; requests?.length; attempt++) {
        if (attempt === MAX_BATCH_ATTEMPTS) throw new Error('blocks were not all deleted after 5 attempts');
        const result: BatchWriteCommandOutput = await this.#client.send(
          new BatchWriteCommand({ RequestItems: { [this.#tableName]: requests as never } }),
        );
        requests = result.UnprocessedItems?.[this.#tableName];
      }
    }
    return items.length;
  }

  async findBlocks(pairs: readonly BlockPair[]): Promise<BlockPair[]> {
    const found = await this.#getMany(pairs.map(blockKey));
    const keys = new Set(found.map((item) => `${item.userId}\u0000${item.itemKey}`));
    return pairs.filter((pair) => {
      const { userId, itemKey } = blockKey(pair);
      return keys.has(`${userId}\u0000${itemKey}`);
    });
  }

  async presenceVisibleTo(viewerId: string, userIds: readonly string[]): Promise<Set<string>> {
    const others = userIds.filter((userId) => userId !== viewerId);
    const items = await this.#getMany(
      others.flatMap((userId) => [
        { userId, itemKey: `conv#${directConversationId(userId, viewerId)}` },
        blockKey({ blockerId: userId, blockedId: viewerId }),
      ]),
    );
    const wrote = new Set(
      items.filter((item) => typeof item.wroteAt === 'number').map((item) => item.userId as string),
    );
    const blocks = new Set(
      items.filter((item) => (item.itemKey as string).startsWith(BLOCK_PREFIX)).map((item) => item.userId),
    );
    const visible = new Set(others.filter((userId) => wrote.has(userId) && !blocks.has(userId)));
    if (userIds.includes(viewerId)) visible.add(viewerId);
    return visible;
  }

  /** The items of `keys` that exist, read strongly consistent, only the attributes the checks use. */
  async #getMany(keys: Key[]): Promise<Array<Record<string, unknown>>> {
    const items: Array<Record<string, unknown>> = [];
    for (let start = 0; start < keys.length; start += BATCH_GET_LIMIT) {
      let batch: Array<Record<string, unknown>> | undefined = keys.slice(start, start + BATCH_GET_LIMIT);
      for (let attempt = 0; batch?.length; attempt++) {
        if (attempt === MAX_BATCH_ATTEMPTS) throw new Error('blocks were not all read after 5 attempts');
        const result: BatchGetCommandOutput | undefined = await this.#client.send(
          new BatchGetCommand({
            RequestItems: {
              [this.#tableName]: {
                Keys: batch,
                ConsistentRead: true,
                ProjectionExpression: 'userId, itemKey, wroteAt',
              },
            },
          }),
        );
        items.push(...(result?.Responses?.[this.#tableName] ?? []));
        batch = result?.UnprocessedKeys?.[this.#tableName]?.Keys;
      }
    }
    return items;
  }
}
