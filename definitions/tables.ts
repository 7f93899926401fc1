/**
 * The tables and the stream, defined once: the CDK stack and the local stack both build
 * from these definitions, and the handlers read the names from them. Plain data, no CDK
 * import, so that the Lambda bundles and the local stack can use it too.
 */

export type KeyType = 'S' | 'N';

export interface KeyAttribute {
  name: string;
  type: KeyType;
}

export interface IndexDefinition {
  indexName: string;
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
}

export interface TableDefinition {
  /** Logical id, also the suffix of the physical name. */
  id: string;
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  /** Attribute holding the expiry time in epoch seconds. */
  timeToLiveAttribute?: string;
  globalSecondaryIndexes?: IndexDefinition[];
  /** Same partition key as the table; unlike a GSI, readable with strong consistency. */
  localSecondaryIndexes?: Array<{ indexName: string; sortKey: KeyAttribute }>;
}

/**
 * One conversation is one partition: its messages (`msg#` + zero-padded seq, so that the
 * sort order is the seq order), one idempotency item per `(senderId, clientMessageId)`
 * (`idem#…`), the members' receipt watermarks (`member#…`) and, for a group, its state:
 * `group` (title, creator, `everyone`) and the roster in a few buckets (`roster#…`), so
 * that a membership change and its events are one transaction (docs/adr/0007-groups.md).
 * Only the idempotency items carry `expiresAt`: they expire, everything else stays.
 */
export const conversationsTable = {
  id: 'conversations',
  partitionKey: { name: 'conversationId', type: 'S' },
  sortKey: { name: 'itemKey', type: 'S' },
  timeToLiveAttribute: 'expiresAt',
} as const satisfies TableDefinition;

/** One user is one partition: its open connections, each with a TTL past API Gateway's 2-hour limit. */
export const connectionsTable = {
  id: 'connections',
  partitionKey: { name: 'userId', type: 'S' },
  sortKey: { name: 'connectionId', type: 'S' },
  timeToLiveAttribute: 'expiresAt',
} as const satisfies TableDefinition;

/**
 * One user is one partition: an entry per conversation (`conv#{conversationId}`) with its
 * last seq, last message, receipts and `updatedAt`, and one clock item (`clock`) holding
 * the user's last `updatedAt`. Every entry write moves the clock forward in the same
 * transaction, so `updatedAt` is strictly increasing per user and entries commit in
 * `updatedAt` order: a reader holding a cursor can never miss a change committed later
 * with an earlier time. The local index orders entries by `updatedAt` and, being local,
 * can be read with strong consistency.
 */
export const userConversationsTable = {
  id: 'user-conversations',
  partitionKey: { name: 'userId', type: 'S' },
  sortKey: { name: 'itemKey', type: 'S' },
  localSecondaryIndexes: [{ indexName: 'byUpdatedAt', sortKey: { name: 'updatedAt', type: 'N' } }],
} as const satisfies TableDefinition;

/**
 * A user's presence: `online`, `lastSeen`, and an expiry so that a user whose connections
 * died without `$disconnect` does not stay online forever.
 */
export const presenceTable = {
  id: 'presence',
  partitionKey: { name: 'userId', type: 'S' },
  timeToLiveAttribute: 'expiresAt',
} as const satisfies TableDefinition;

/** Watched user → the connections subscribed to its presence, each with an expiry. */
export const presenceSubscriptionsTable = {
  id: 'presence-subscriptions',
  partitionKey: { name: 'watchedUserId', type: 'S' },
  sortKey: { name: 'connectionId', type: 'S' },
  timeToLiveAttribute: 'expiresAt',
} as const satisfies TableDefinition;

/**
 * One group is one partition: the open connections of its members, each with the expiry
 * of the connection, so that delivering to a group reads its connected devices only.
 */
export const groupConnectionsTable = {
  id: 'group-connections',
  partitionKey: { name: 'conversationId', type: 'S' },
  sortKey: { name: 'connectionId', type: 'S' },
  timeToLiveAttribute: 'expiresAt',
} as const satisfies TableDefinition;

/**
 * One user is one partition: a counter item per limited route and window
 * (`{route}#{windowStart}`), which each frame adds to under a condition, and which expires
 * soon after its window (definitions/rate-limits.ts, docs/adr/0012-per-user-limits.md).
 */
export const rateLimitsTable = {
  id: 'rate-limits',
  partitionKey: { name: 'userId', type: 'S' },
  sortKey: { name: 'window', type: 'S' },
  timeToLiveAttribute: 'expiresAt',
} as const satisfies TableDefinition;

/**
 * One user is one partition: the push address of each of its devices (`device#{deviceId}`,
 * protocol 1.4), and the coalescing windows of the push work (`window#{deviceId}#{conversationId}`,
 * with `expiresAt`): a device gets at most one push per conversation a window.
 * Registrations carry no `expiresAt`: they live until the device unregisters, the push
 * service says the address is gone, or the user is erased (docs/adr/0016-push.md).
 */
export const pushDevicesTable = {
  id: 'push-devices',
  partitionKey: { name: 'userId', type: 'S' },
  sortKey: { name: 'itemKey', type: 'S' },
  timeToLiveAttribute: 'expiresAt',
} as const satisfies TableDefinition;

export const TABLES = [
  conversationsTable,
  connectionsTable,
  groupConnectionsTable,
  userConversationsTable,
  presenceTable,
  presenceSubscriptionsTable,
  rateLimitsTable,
  pushDevicesTable,
] as const satisfies readonly TableDefinition[];

export type TableId = (typeof TABLES)[number]['id'];

export interface StreamDefinition {
  id: string;
  /** Shards of the local stream; in AWS the stream is on-demand unless configured otherwise. */
  localShardCount: number;
}

/** Every conversation event (messages, later receipts) travels here, partitioned by conversationId. */
export const eventsStream = { id: 'events', localShardCount: 2 } as const satisfies StreamDefinition;

export interface ResourceNames {
  conversationsTable: string;
  connectionsTable: string;
  groupConnectionsTable: string;
  userConversationsTable: string;
  presenceTable: string;
  presenceSubscriptionsTable: string;
  rateLimitsTable: string;
  pushDevicesTable: string;
  eventsStream: string;
}

/** The field of `ResourceNames` that holds each table's physical name. */
export const TABLE_NAME_FIELDS = {
  conversations: 'conversationsTable',
  connections: 'connectionsTable',
  'group-connections': 'groupConnectionsTable',
  'user-conversations': 'userConversationsTable',
  presence: 'presenceTable',
  'presence-subscriptions': 'presenceSubscriptionsTable',
  'rate-limits': 'rateLimitsTable',
  'push-devices': 'pushDevicesTable',
} as const satisfies Record<TableId, keyof ResourceNames>;

/** Physical names: `{prefix}-{id}`, so that several stacks (or test files) share one engine. */
export function resourceNames(prefix: string): ResourceNames {
  const tables = Object.fromEntries(
    TABLES.map((table) => [TABLE_NAME_FIELDS[table.id], `${prefix}-${table.id}`]),
  ) as Record<(typeof TABLE_NAME_FIELDS)[TableId], string>;
  return { ...tables, eventsStream: `${prefix}-${eventsStream.id}` };
}

/** `userConversationsTable` → `PARLEY_USER_CONVERSATIONS_TABLE`: the variable that gives a function the name. */
export function environmentVariableName(field: keyof ResourceNames): string {
  return `PARLEY_${field.replace(/[A-Z]/g, (letter) => `_${letter}`).toUpperCase()}`;
}
