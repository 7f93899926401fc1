/**
 * Erasure's reads and writes in DynamoDB and `@connections` (docs/adr/0015-retention-and-erasure.md):
 * one method per part of a table that is the user's own. Each reads a page at a time and
 * changes items one by one, each write conditional or a delete, so that running it again
 * changes nothing more.
 */
import type { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
  type ScanCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ResourceNames } from '../../definitions/tables.js';
import { type ErasureStep, erasureSteps, type UserErasureStore } from '../domain/erasure.js';
import { pushErasureStep } from '../domain/push-registration.js';
import { ApiGatewayConnectionPusher } from './api-gateway-connection-pusher.js';
import type { AwsClients } from './aws-clients.js';
import { VERSION_ITEM_KEY } from './dynamodb-connection-store.js';
import { DynamoDbConversationListStore } from './dynamodb-conversation-list-store.js';
import { DynamoDbGroupStore } from './dynamodb-group-store.js';
import { idempotencyKey } from './dynamodb-message-store.js';
import { DynamoDbPushRegistrationStore } from './dynamodb-push-registration-store.js';
import { typingKey } from './dynamodb-typing-gate.js';
import { SnsPlatformEndpoints } from './sns-platform-endpoints.js';

const ENTRY_PREFIX = 'conv#';
/** Items read per page: what one run holds in memory at once. */
const PAGE_SIZE = 100;

type Key = Record<string, unknown>;
export type ErasureTableNames = Pick<
  ResourceNames,
  | 'conversationsTable'
  | 'connectionsTable'
  | 'groupConnectionsTable'
  | 'userConversationsTable'
  | 'presenceTable'
  | 'presenceSubscriptionsTable'
  | 'pushDevicesTable'
>;

export interface DynamoDbUserErasureOptions {
  client: DynamoDBDocumentClient;
  connections: ApiGatewayManagementApiClient;
  names: ErasureTableNames;
}

export class DynamoDbUserErasure implements UserErasureStore {
  readonly #client: DynamoDBDocumentClient;
  /** Closes a connection; one API Gateway no longer knows (410) is closed already. */
  readonly #connections: ApiGatewayConnectionPusher;
  readonly #names: ErasureTableNames;

  constructor(options: DynamoDbUserErasureOptions) {
    this.#client = options.client;
    this.#connections = new ApiGatewayConnectionPusher({ client: options.connections });
    this.#names = options.names;
  }

  async closeConnections(userId: string): Promise<number> {
    const table = this.#names.connectionsTable;
    return this.#eachQueried(
      {
        TableName: table,
        KeyConditionExpression: 'userId = :u',
        ExpressionAttributeValues: { ':u': userId },
      },
      async (item) => {
        // The connection cap's version item is the user's too, but no connection to close.
        if (item.connectionId !== VERSION_ITEM_KEY)
          await this.#connections.disconnect(item.connectionId as string);
        return this.#delete(table, { userId, connectionId: item.connectionId });
      },
    );
  }

  async deletePresence(userId: string): Promise<number> {
    return this.#delete(this.#names.presenceTable, { userId });
  }

  async deletePresenceSubscriptions(userId: string): Promise<number> {
    const table = this.#names.presenceSubscriptionsTable;
    const remove = (item: Key) =>
      this.#delete(table, { watchedUserId: item.watchedUserId, connectionId: item.connectionId });
    const watchers = await this.#eachQueried(
      {
        TableName: table,
        KeyConditionExpression: 'watchedUserId = :u',
        ExpressionAttributeValues: { ':u': userId },
      },
      remove,
    );
    // The user's own subscriptions sit under the users it watched: no key leads to them, so
    // scan; they expire with their connection anyway, and erasure is rare.
    const own = await this.#eachScanned(
      {
        TableName: table,
        FilterExpression: 'subscriberUserId = :u',
        ExpressionAttributeValues: { ':u': userId },
      },
      remove,
    );
    return watchers + own;
  }

  async listConversationIds(userId: string, after: string | undefined) {
    const page = await this.#client.send(
      new QueryCommand({
        TableName: this.#names.userConversationsTable,
        KeyConditionExpression: 'userId = :u AND begins_with(itemKey, :p)',
        ExpressionAttributeValues: { ':u': userId, ':p': ENTRY_PREFIX },
        ProjectionExpression: 'itemKey',
        Limit: PAGE_SIZE,
        ...(after ? { ExclusiveStartKey: { userId, itemKey: `${ENTRY_PREFIX}${after}` } } : {}),
      }),
    );
    const conversationIds = (page.Items ?? []).map((item) =>
      (item.itemKey as string).slice(ENTRY_PREFIX.length),
    );
    const last = conversationIds.at(-1);
    return { conversationIds, ...(page.LastEvaluatedKey && last ? { next: last } : {}) };
  }

  async tombstoneMessages(conversationId: string, userId: string): Promise<number> {
    const table = this.#names.conversationsTable;
    // The whole partition's messages are read to find the user's: the filter saves the
    // transfer, not the read. Erasure is rare; a sender index would cost every send.
    return this.#eachQueried(
      {
        TableName: table,
        KeyConditionExpression: 'conversationId = :c AND begins_with(itemKey, :p)',
        FilterExpression: 'senderId = :u AND attribute_exists(body)',
        ExpressionAttributeValues: { ':c': conversationId, ':p': 'msg#', ':u': userId },
        ProjectionExpression: 'itemKey',
      },
      (item) =>
        this.#updateIfStill(table, { conversationId, itemKey: item.itemKey }, userId, {
          UpdateExpression: 'REMOVE body SET erased = :erased',
          ConditionExpression: 'senderId = :u AND attribute_exists(body)',
        }),
    );
  }

  async deleteOwnConversationItems(conversationId: string, userId: string): Promise<number> {
    const table = this.#names.conversationsTable;
    const keys = await this.#eachQueried(
      {
        TableName: table,
        KeyConditionExpression: 'conversationId = :c AND begins_with(itemKey, :p)',
        ExpressionAttributeValues: { ':c': conversationId, ':p': idempotencyKey(userId, '') },
        ProjectionExpression: 'itemKey',
      },
      (item) => this.#delete(table, { conversationId, itemKey: item.itemKey }),
    );
    return keys + (await this.#delete(table, { conversationId, itemKey: typingKey(userId) }));
  }

  async deleteGroupConnections(conversationId: string, userId: string): Promise<number> {
    const table = this.#names.groupConnectionsTable;
    return this.#eachQueried(
      {
        TableName: table,
        KeyConditionExpression: 'conversationId = :c',
        FilterExpression: 'userId = :u',
        ExpressionAttributeValues: { ':c': conversationId, ':u': userId },
        ProjectionExpression: 'connectionId',
      },
      (item) => this.#delete(table, { conversationId, connectionId: item.connectionId }),
    );
  }

  async deleteListEntry(userId: string, conversationId: string): Promise<number> {
    return this.#delete(this.#names.userConversationsTable, {
      userId,
      itemKey: `${ENTRY_PREFIX}${conversationId}`,
    });
  }

  async deleteList(userId: string): Promise<number> {
    const table = this.#names.userConversationsTable;
    return this.#eachQueried(
      {
        TableName: table,
        KeyConditionExpression: 'userId = :u',
        ExpressionAttributeValues: { ':u': userId },
        ProjectionExpression: 'itemKey',
      },
      (item) => this.#delete(table, { userId, itemKey: item.itemKey }),
    );
  }

  /** An update on condition; a condition that no longer holds means another run did it. */
  async #updateIfStill(
    table: string,
    key: Key,
    userId: string,
    update: { UpdateExpression: string; ConditionExpression: string },
  ): Promise<number> {
    try {
      await this.#client.send(
        new UpdateCommand({
          TableName: table,
          Key: key,
          ...update,
          ExpressionAttributeValues: { ':u': userId, ':erased': true },
        }),
      );
      return 1;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return 0;
    }
  }

  /** Deletes the item; 1 when there was one, 0 when an earlier run deleted it. */
  async #delete(table: string, key: Key): Promise<number> {
    const result = await this.#client.send(
      new DeleteCommand({ TableName: table, Key: key, ReturnValues: 'ALL_OLD' }),
    );
    return result.Attributes ? 1 : 0;
  }

  /** Calls `act` on each item the query finds, a page at a time; what `act` counted. */
  async #eachQueried(
    input: Omit<QueryCommandInput, 'ExclusiveStartKey'>,
    act: (item: Key) => Promise<number>,
  ) {
    return this.#eachPage((start) => this.#client.send(new QueryCommand({ ...input, ...start })), act);
  }

  async #eachScanned(
    input: Omit<ScanCommandInput, 'ExclusiveStartKey'>,
    act: (item: Key) => Promise<number>,
  ) {
    return this.#eachPage((start) => this.#client.send(new ScanCommand({ ...input, ...start })), act);
  }

  async #eachPage(
    read: (start: {
      Limit: number;
      ExclusiveStartKey?: Key;
    }) => Promise<{ Items?: Key[]; LastEvaluatedKey?: Key }>,
    act: (item: Key) => Promise<number>,
  ): Promise<number> {
    let found = 0;
    let start: Key | undefined;
    do {
      const page = await read({ Limit: PAGE_SIZE, ...(start ? { ExclusiveStartKey: start } : {}) });
      for (const item of page.Items ?? []) found += await act(item);
      start = page.LastEvaluatedKey;
    } while (start);
    return found;
  }
}

/**
 * The erasure steps on the stack's tables and `@connections`, with the list and group stores
 * the handlers use, so that the other members' entries are written as the fanout writes them,
 * and the push registrations with their SNS platform endpoints (protocol 1.4).
 *
 * @example
 * const clients = createAwsClients({ region: 'eu-west-1', connections });
 * await eraseUser('alice', userErasureSteps(clients, names));
 */
export function userErasureSteps(
  clients: AwsClients,
  names: ErasureTableNames,
  extra: ErasureStep[] = [],
): ErasureStep[] {
  const client = clients.dynamodb;
  return erasureSteps(
    {
      store: new DynamoDbUserErasure({ client, connections: clients.connections, names }),
      groups: new DynamoDbGroupStore({ client, tableName: names.conversationsTable }),
      conversationList: new DynamoDbConversationListStore({
        client,
        tableName: names.userConversationsTable,
      }),
    },
    [
      pushErasureStep(
        new DynamoDbPushRegistrationStore({ client, tableName: names.pushDevicesTable }),
        new SnsPlatformEndpoints(),
      ),
      ...extra,
    ],
  );
}
