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
}

/**
 * One conversation is one partition: its messages (`msg#` + zero-padded seq, so that the
 * sort order is the seq order), one idempotency item per `(senderId, clientMessageId)`
 * (`idem#…`), and later the members' receipt watermarks (`member#…`).
 */
export const conversationsTable = {
  id: 'conversations',
  partitionKey: { name: 'conversationId', type: 'S' },
  sortKey: { name: 'itemKey', type: 'S' },
} as const satisfies TableDefinition;

/** One user is one partition: its open connections, each with a TTL past API Gateway's 2-hour limit. */
export const connectionsTable = {
  id: 'connections',
  partitionKey: { name: 'userId', type: 'S' },
  sortKey: { name: 'connectionId', type: 'S' },
  timeToLiveAttribute: 'expiresAt',
} as const satisfies TableDefinition;

export const TABLES = [conversationsTable, connectionsTable] as const satisfies readonly TableDefinition[];

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
  eventsStream: string;
}

/** Physical names: `{prefix}-{id}`, so that several stacks (or test files) share one engine. */
export function resourceNames(prefix: string): ResourceNames {
  return {
    conversationsTable: `${prefix}-${conversationsTable.id}`,
    connectionsTable: `${prefix}-${connectionsTable.id}`,
    eventsStream: `${prefix}-${eventsStream.id}`,
  };
}
