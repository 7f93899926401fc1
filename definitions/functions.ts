/**
 * Every Lambda function of Parley and exactly what it may touch: the CDK stack grants
 * these and nothing more. Plain data, no CDK import, so that tests can hold the handlers
 * to it. When a handler starts using another table or action, this is the one place to
 * say so.
 */
import { environmentVariableName, TABLE_NAME_FIELDS, type TableId } from './tables.js';

/** The DynamoDB actions the handlers use (a transaction needs the action of each item it writes). */
export type TableAction =
  | 'GetItem'
  | 'BatchGetItem'
  | 'Query'
  | 'PutItem'
  | 'UpdateItem'
  | 'DeleteItem'
  | 'BatchWriteItem';

export type FunctionId =
  | 'authorizer'
  | 'connect'
  | 'disconnect'
  | 'default'
  | 'send'
  | 'ack'
  | 'sync'
  | 'conversations'
  | 'typing'
  | 'subscribe-presence'
  | 'ping'
  | 'fanout'
  | 'presence-notifier';

export interface FunctionDefinition {
  /** The handler file, `lambdas/handlers/{id}.ts`, exporting `handler`. */
  id: FunctionId;
  /** More memory is more CPU: the functions on the message path get more. */
  memoryMiB: number;
  timeoutSeconds: number;
  /** The actions it may take on each table (not its indexes); a table not named is out of reach. */
  tables: Partial<Record<TableId, readonly TableAction[]>>;
  /** The indexes it queries, by table: Query on those indexes only, not on their table. */
  indexQueries?: Partial<Record<TableId, readonly string[]>>;
  /** Puts records on the events stream. */
  publishes?: boolean;
  /** Posts to connections through the `@connections` API. */
  posts?: boolean;
  /** Reads the token signing key (when the key is a Secrets Manager secret). */
  verifiesTokens?: boolean;
}

/** A WebSocket route answers within API Gateway's 29 s integration timeout, and far sooner. */
const ROUTE_TIMEOUT_SECONDS = 10;

export const FUNCTIONS = [
  {
    id: 'authorizer',
    memoryMiB: 512,
    timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
    tables: {},
    verifiesTokens: true,
  },
  {
    id: 'connect',
    memoryMiB: 256,
    timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
    tables: { connections: ['PutItem'], presence: ['UpdateItem'] },
    publishes: true,
  },
  {
    id: 'disconnect',
    memoryMiB: 256,
    timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
    tables: { connections: ['Query', 'DeleteItem'], presence: ['GetItem', 'UpdateItem'] },
    publishes: true,
  },
  { id: 'default', memoryMiB: 256, timeoutSeconds: ROUTE_TIMEOUT_SECONDS, tables: {} },
  {
    id: 'send',
    memoryMiB: 1024,
    timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
    // Query: the last seq. PutItem: the message and its idempotency key, in one
    // transaction. GetItem: the stored message a duplicate is answered with.
    tables: { conversations: ['Query', 'PutItem', 'GetItem'] },
    publishes: true,
  },
  {
    id: 'ack',
    memoryMiB: 256,
    timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
    tables: { conversations: ['Query', 'UpdateItem', 'GetItem'] },
    publishes: true,
  },
  {
    id: 'sync',
    memoryMiB: 512,
    timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
    tables: { conversations: ['Query'] },
  },
  {
    id: 'conversations',
    memoryMiB: 512,
    timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
    tables: {},
    indexQueries: { 'user-conversations': ['byUpdatedAt'] },
  },
  {
    id: 'typing',
    memoryMiB: 256,
    timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
    tables: { connections: ['Query', 'DeleteItem'] },
    posts: true,
  },
  {
    id: 'subscribe-presence',
    memoryMiB: 256,
    timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
    // Query: a shared conversation (its last seq) makes presence visible.
    tables: {
      conversations: ['Query'],
      presence: ['BatchGetItem'],
      'presence-subscriptions': ['BatchWriteItem'],
    },
  },
  { id: 'ping', memoryMiB: 256, timeoutSeconds: ROUTE_TIMEOUT_SECONDS, tables: {} },
  {
    id: 'fanout',
    memoryMiB: 1024,
    timeoutSeconds: 60,
    // PutItem: the conversation-list entries and the user's clock, in one transaction.
    tables: {
      connections: ['Query', 'DeleteItem'],
      'user-conversations': ['BatchGetItem', 'PutItem'],
    },
    posts: true,
  },
  {
    id: 'presence-notifier',
    memoryMiB: 256,
    timeoutSeconds: 60,
    tables: { presence: ['BatchGetItem'], 'presence-subscriptions': ['Query', 'DeleteItem'] },
    posts: true,
  },
] as const satisfies readonly FunctionDefinition[];

/** The WebSocket routes and the function behind each: every action of docs/protocol.md, and `$default` for the rest. */
export const ROUTES = {
  $connect: 'connect',
  $disconnect: 'disconnect',
  $default: 'default',
  send: 'send',
  ack: 'ack',
  sync: 'sync',
  conversations: 'conversations',
  typing: 'typing',
  subscribePresence: 'subscribe-presence',
  ping: 'ping',
} as const satisfies Record<string, FunctionId>;

/**
 * Routes whose function's answer goes back to the caller as a frame (a route response):
 * all but the connection lifecycle, which API Gateway answers itself. `typing` is here
 * for its error frames; it answers nothing when it succeeds.
 */
export const ANSWERED_ROUTES = Object.keys(ROUTES).filter(
  (routeKey) => routeKey !== '$connect' && routeKey !== '$disconnect',
);

/** The tables a function reads or writes, itself or through an index. */
export function tablesOf(definition: FunctionDefinition): TableId[] {
  return [
    ...new Set([
      ...(Object.keys(definition.tables) as TableId[]),
      ...(Object.keys(definition.indexQueries ?? {}) as TableId[]),
    ]),
  ];
}

/**
 * The environment variables a function needs, as the CDK stack sets them and
 * `lambdas/config.ts` requires them: the physical names of its tables and of the stream,
 * and its `@connections` endpoint. (Its token key is one of three variables, so it is not
 * listed.)
 */
export function requiredVariablesOf(definition: FunctionDefinition): string[] {
  return [
    ...tablesOf(definition).map((tableId) => environmentVariableName(TABLE_NAME_FIELDS[tableId])),
    ...(definition.publishes ? [environmentVariableName('eventsStream')] : []),
    ...(definition.posts ? ['PARLEY_CONNECTIONS_ENDPOINT'] : []),
  ];
}
