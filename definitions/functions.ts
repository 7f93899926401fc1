/**
 * Every Lambda function of Parley: what invokes it (a WebSocket route, the `$connect`
 * authorizer or the events stream), its handler module, and exactly what it may touch.
 * The CDK stack builds the functions, routes, authorizer and event source mappings from
 * this list and grants nothing more; the local stack runs the same list; the permission
 * tests hold the handlers to it. Plain data, importing nothing from `lambdas/`, `lib/` or
 * `local/`. When a handler starts using another table or action, or a route is added, this
 * is the one place to say so.
 */
import {
  fanoutConsumer,
  presenceConsumer,
  pushConsumer,
  type StreamConsumerDefinition,
} from './stream-consumers.js';
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
  | 'create-group'
  | 'add-members'
  | 'remove-member'
  | 'set-title'
  | 'set-admin'
  | 'group-info'
  | 'block'
  | 'unblock'
  | 'blocks'
  | 'register-push'
  | 'unregister-push'
  | 'fanout'
  | 'presence-notifier'
  | 'push-notifier';

/**
 * The levels of Lambda's own log records (LoggingConfig.SystemLogLevel): at INFO, Lambda's
 * default, every invocation writes a `platform.start` and a `platform.report` record; at
 * WARN it sends only records at WARN, so not those two (docs/capacity.md §10, "Lambda system
 * logs"). The stack and the cost model both read the default from here.
 */
export const LAMBDA_SYSTEM_LOG_LEVELS = ['DEBUG', 'INFO', 'WARN'] as const;
export type LambdaSystemLogLevel = (typeof LAMBDA_SYSTEM_LOG_LEVELS)[number];
/**
 * WARN: at section 1's load the START and REPORT records of some 20 invocations a message
 * cost more than the handlers' own lines; Lambda's Duration, Errors and Throttles metrics
 * stay, and `-c lambdaSystemLogLevel=INFO` brings the records back.
 */
export const DEFAULT_LAMBDA_SYSTEM_LOG_LEVEL: LambdaSystemLogLevel = 'WARN';

/** What invokes a function. */
export type FunctionTrigger =
  /**
   * A route of the WebSocket API. `answered`: the function's answer goes back to the caller
   * as a frame (a route response); API Gateway answers the connection lifecycle itself.
   */
  | { kind: 'route'; routeKey: string; answered: boolean }
  /** The REQUEST authorizer of `routeKey`, which API Gateway calls only when `queryParameter` is there. */
  | { kind: 'authorizer'; routeKey: '$connect'; queryParameter: string }
  /** An event source mapping on the events stream, filtering, batching and retrying as `consumer` says. */
  | { kind: 'stream'; consumer: StreamConsumerDefinition };

export interface FunctionDefinition {
  /** Names the handler file, `lambdas/handlers/{id}.ts` (see `handlerFileOf`), exporting `handler`. */
  id: FunctionId;
  trigger: FunctionTrigger;
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
  /** Closes connections through the `@connections` API (DELETE). */
  closes?: boolean;
  /** Reads the token signing key (when the key is a Secrets Manager secret). */
  verifiesTokens?: boolean;
  /**
   * Sends pushes (protocol 1.4): Web Push to the push services' https endpoints, signed with
   * the VAPID private key it reads from its secret, and APNs/FCM through the configured SNS
   * platform applications (CreatePlatformEndpoint, Publish, DeleteEndpoint, and
   * Get/SetEndpointAttributes to re-enable an endpoint as SNS's guide says).
   */
  pushes?: boolean;
  /** Deletes the SNS platform endpoints of the push registrations it replaces or removes (sns:DeleteEndpoint). */
  deletesPlatformEndpoints?: boolean;
}

/*
 * `rate-limits` UpdateItem: the caller's counter of the route's per-user limit
 * (definitions/rate-limits.ts), on every route that has one.
 */

/** A WebSocket route answers within API Gateway's 29 s integration timeout, and far sooner. */
const ROUTE_TIMEOUT_SECONDS = 10;

/**
 * The membership actions, each its own function. Query: the last seq, the roster's buckets,
 * and the events a retry publishes again. GetItem: the group item. PutItem: the events and
 * the buckets, with the group item on a creation; UpdateItem: the group item on a later
 * change. All in one transaction.
 */
function groupChangeFunctions() {
  const change = ['Query', 'GetItem', 'PutItem', 'UpdateItem'] as const;
  const route = <Id extends FunctionId, RouteKey extends string>(
    id: Id,
    routeKey: RouteKey,
    actions: readonly TableAction[] = change,
  ) =>
    ({
      id,
      trigger: { kind: 'route', routeKey, answered: true },
      memoryMiB: 512,
      timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
      tables: { conversations: actions },
      publishes: true,
    }) as const;
  return [
    // UpdateItem: the holders of `everyone` over the first members, after the creation.
    route('create-group', 'createGroup'),
    route('add-members', 'addMembers'),
    route('remove-member', 'removeMember'),
    route('set-title', 'setTitle'),
    route('set-admin', 'setAdmin'),
  ] as const;
}

/**
 * Blocking (protocol 1.3), each action its own function, on the blocker's own partition of
 * user-conversations. `block` and `unblock` post the change to the caller's other devices
 * (and delete a connection found gone); `block` also ends the presence subscriptions the
 * blocked user holds on the caller.
 */
function blockingFunctions() {
  const base = { memoryMiB: 256, timeoutSeconds: ROUTE_TIMEOUT_SECONDS } as const;
  const posting = { connections: ['Query', 'DeleteItem'] } as const;
  return [
    {
      id: 'block',
      trigger: { kind: 'route', routeKey: 'block', answered: true },
      ...base,
      tables: {
        'user-conversations': ['PutItem'],
        'presence-subscriptions': ['Query', 'DeleteItem'],
        ...posting,
      },
      posts: true,
    },
    {
      id: 'unblock',
      trigger: { kind: 'route', routeKey: 'unblock', answered: true },
      ...base,
      tables: { 'user-conversations': ['DeleteItem'], ...posting },
      posts: true,
    },
    {
      id: 'blocks',
      trigger: { kind: 'route', routeKey: 'blocks', answered: true },
      ...base,
      tables: { 'user-conversations': ['Query'] },
    },
  ] as const;
}

/**
 * Push registration (protocol 1.4), on the caller's own partition of push-devices. Each
 * deletes the SNS platform endpoint of an APNs or FCM registration it replaces or removes,
 * so that a device token leaves no endpoint behind.
 */
function pushRegistrationFunctions() {
  const base = {
    memoryMiB: 256,
    timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
    deletesPlatformEndpoints: true,
  } as const;
  return [
    {
      id: 'register-push',
      trigger: { kind: 'route', routeKey: 'registerPush', answered: true },
      ...base,
      tables: { 'push-devices': ['PutItem'], 'rate-limits': ['UpdateItem'] },
    },
    {
      id: 'unregister-push',
      trigger: { kind: 'route', routeKey: 'unregisterPush', answered: true },
      ...base,
      tables: { 'push-devices': ['DeleteItem'], 'rate-limits': ['UpdateItem'] },
    },
  ] as const;
}

export const FUNCTIONS = [
  {
    id: 'authorizer',
    trigger: { kind: 'authorizer', routeKey: '$connect', queryParameter: 'token' },
    memoryMiB: 512,
    timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
    tables: {},
    verifiesTokens: true,
  },
  {
    id: 'connect',
    trigger: { kind: 'route', routeKey: '$connect', answered: false },
    memoryMiB: 256,
    timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
    // Query: the user's groups in its list. BatchWriteItem: the connection in each group's index.
    // On connections, one transaction: Query reads the user's connections, PutItem adds the new
    // one, UpdateItem moves the user's version item on, DeleteItem drops the device's older one,
    // which `closes` then closes (docs/adr/0011-connection-cap.md).
    tables: {
      connections: ['Query', 'PutItem', 'UpdateItem', 'DeleteItem'],
      presence: ['UpdateItem'],
      'user-conversations': ['Query'],
      'group-connections': ['BatchWriteItem'],
      'rate-limits': ['UpdateItem'],
    },
    publishes: true,
    closes: true,
  },
  {
    id: 'disconnect',
    trigger: { kind: 'route', routeKey: '$disconnect', answered: false },
    memoryMiB: 256,
    timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
    tables: {
      connections: ['Query', 'DeleteItem'],
      presence: ['GetItem', 'UpdateItem'],
      'user-conversations': ['Query'],
      'group-connections': ['BatchWriteItem'],
    },
    publishes: true,
  },
  {
    id: 'default',
    trigger: { kind: 'route', routeKey: '$default', answered: true },
    memoryMiB: 256,
    timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
    tables: {},
  },
  {
    id: 'send',
    trigger: { kind: 'route', routeKey: 'send', answered: true },
    memoryMiB: 1024,
    timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
    // Query: the last seq. PutItem: the message and its idempotency key, in one
    // transaction. GetItem: the stored message a duplicate is answered with. UpdateItem: in
    // a group, the sender's own watermarks (and `everyone` when they held it back). The
    // fast path (docs/adr/0008-fast-path.md): the members' connections or the group's
    // index, posts, and a connection gone deleted as the fanout deletes it. BatchGetItem on
    // user-conversations: in a one-to-one conversation, the two members' blocks.
    tables: {
      conversations: ['Query', 'PutItem', 'GetItem', 'UpdateItem'],
      connections: ['Query', 'DeleteItem'],
      'group-connections': ['Query', 'BatchWriteItem'],
      'rate-limits': ['UpdateItem'],
      'user-conversations': ['BatchGetItem'],
    },
    publishes: true,
    posts: true,
  },
  {
    id: 'ack',
    // One-way: most acks answer nothing (protocol 1.2); `acked` and error frames are posted.
    trigger: { kind: 'route', routeKey: 'ack', answered: false },
    memoryMiB: 256,
    timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
    tables: { conversations: ['Query', 'UpdateItem', 'GetItem'], 'rate-limits': ['UpdateItem'] },
    publishes: true,
    posts: true,
  },
  {
    id: 'sync',
    trigger: { kind: 'route', routeKey: 'sync', answered: true },
    memoryMiB: 512,
    timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
    // GetItem: in a group, the caller's own watermarks (and its membership).
    tables: { conversations: ['Query', 'GetItem'], 'rate-limits': ['UpdateItem'] },
  },
  {
    id: 'conversations',
    trigger: { kind: 'route', routeKey: 'conversations', answered: true },
    memoryMiB: 512,
    timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
    // BatchGetItem: the user's clock, read before the index (docs/adr/0010-cheaper-lists.md).
    tables: { 'user-conversations': ['BatchGetItem'], 'rate-limits': ['UpdateItem'] },
    indexQueries: { 'user-conversations': ['byUpdatedAt'] },
  },
  {
    id: 'typing',
    // One-way: it answers nothing but error frames, which it posts.
    trigger: { kind: 'route', routeKey: 'typing', answered: false },
    memoryMiB: 256,
    timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
    // GetItem: the typing member's membership. UpdateItem: the group typing gate's item,
    // one `start` per member per interval. group-connections: the group's connected
    // devices, and a gone one taken out of the index. BatchGetItem on user-conversations:
    // in a one-to-one conversation, the two members' blocks.
    tables: {
      connections: ['Query', 'DeleteItem'],
      conversations: ['GetItem', 'UpdateItem'],
      'group-connections': ['Query', 'BatchWriteItem'],
      'rate-limits': ['UpdateItem'],
      'user-conversations': ['BatchGetItem'],
    },
    posts: true,
  },
  {
    id: 'subscribe-presence',
    trigger: { kind: 'route', routeKey: 'subscribePresence', answered: true },
    memoryMiB: 256,
    timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
    // BatchGetItem on user-conversations: each watched user's entry of its one-to-one
    // conversation with the caller (its `wroteAt`) and its block of the caller. DeleteItem:
    // a subscription a block committed meanwhile ends.
    tables: {
      'user-conversations': ['BatchGetItem'],
      presence: ['BatchGetItem'],
      'presence-subscriptions': ['BatchWriteItem', 'DeleteItem'],
      'rate-limits': ['UpdateItem'],
    },
  },
  ...groupChangeFunctions(),
  {
    id: 'group-info',
    trigger: { kind: 'route', routeKey: 'groupInfo', answered: true },
    memoryMiB: 512,
    timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
    // Query: the last seq, the roster's buckets and the receipts. GetItem: the group item.
    tables: { conversations: ['Query', 'GetItem'] },
  },
  ...blockingFunctions(),
  ...pushRegistrationFunctions(),
  {
    id: 'fanout',
    trigger: { kind: 'stream', consumer: fanoutConsumer },
    memoryMiB: 1024,
    timeoutSeconds: 60,
    // PutItem: the conversation-list entries and the user's clock, in one transaction.
    // GetItem and Query on conversations: a group and its roster. Publishes: the slices of
    // a large group's delivery.
    tables: {
      conversations: ['GetItem', 'Query'],
      connections: ['Query', 'DeleteItem'],
      'group-connections': ['Query', 'BatchWriteItem'],
      'user-conversations': ['BatchGetItem', 'PutItem'],
    },
    publishes: true,
    posts: true,
  },
  {
    id: 'push-notifier',
    trigger: { kind: 'stream', consumer: pushConsumer },
    memoryMiB: 512,
    timeoutSeconds: 60,
    // push-devices: the recipients' registrations (Query), the coalescing windows (PutItem),
    // the SNS endpoint kept on a registration (UpdateItem), a gone registration (DeleteItem).
    // connections: which devices are connected. conversations: a group's roster and the
    // recipient's read watermark, for the unread count. user-conversations: whether a group
    // member blocks the sender (no push for a blocked user's message).
    tables: {
      'push-devices': ['Query', 'PutItem', 'UpdateItem', 'DeleteItem'],
      connections: ['Query'],
      conversations: ['GetItem', 'Query'],
      'user-conversations': ['BatchGetItem'],
    },
    pushes: true,
  },
  {
    id: 'presence-notifier',
    trigger: { kind: 'stream', consumer: presenceConsumer },
    memoryMiB: 256,
    timeoutSeconds: 60,
    tables: { presence: ['BatchGetItem'], 'presence-subscriptions': ['Query', 'DeleteItem'] },
    posts: true,
  },
] as const satisfies readonly FunctionDefinition[];

/** The definition of function `Id`, with its trigger as written above. */
export type DefinitionOf<Id extends FunctionId> = Extract<(typeof FUNCTIONS)[number], { id: Id }>;
/** The definitions of the functions that `kind` of trigger invokes. */
type FunctionTriggeredBy<Kind extends FunctionTrigger['kind']> = Extract<
  (typeof FUNCTIONS)[number],
  { trigger: { kind: Kind } }
>;
type RouteFunctionId = FunctionTriggeredBy<'route'>['id'];

/** The functions that `kind` of trigger invokes, in the order of `FUNCTIONS`. */
function functionsTriggeredBy<Kind extends FunctionTrigger['kind']>(kind: Kind): FunctionTriggeredBy<Kind>[] {
  return FUNCTIONS.filter(
    (definition): definition is FunctionTriggeredBy<Kind> => definition.trigger.kind === kind,
  );
}

/**
 * The route functions: every action of docs/protocol.md but those API Gateway answers itself
 * (`definitions/mock-routes.ts`), the connection lifecycle, and `$default` for the rest.
 */
export const ROUTE_FUNCTIONS = functionsTriggeredBy('route');
/** The consumers of the events stream. */
export const STREAM_FUNCTIONS = functionsTriggeredBy('stream');
/** The one REQUEST authorizer, of `$connect`. */
export const AUTHORIZER_FUNCTION = onlyOne(functionsTriggeredBy('authorizer'), 'authorizer');

/** The WebSocket routes and the function behind each, by route key. */
export const ROUTES: Readonly<Record<string, RouteFunctionId>> = Object.fromEntries(
  ROUTE_FUNCTIONS.map(({ id, trigger }) => [trigger.routeKey, id]),
);

/**
 * Routes whose function's answer goes back to the caller as a frame (a route response):
 * all but the connection lifecycle, which API Gateway answers itself, and the routes that
 * most often answer nothing, `ack` (without `requestId`, protocol 1.2) and `typing`: a
 * two-way route whose function returns no body may still send, and bill, an empty frame
 * (docs/capacity.md §2), so those two are one-way and post what they do answer
 * (`lambdas/middleware/websocket-route.ts`).
 */
export const ANSWERED_ROUTES: readonly string[] = ROUTE_FUNCTIONS.filter(
  ({ trigger }) => trigger.answered,
).map(({ trigger }) => trigger.routeKey);

const ANSWERED = new Set(ANSWERED_ROUTES);

/**
 * True for a function's route that has no route response, where API Gateway sends the
 * caller nothing back whatever the function returns: `ack`, `typing` and the connection
 * lifecycle.
 */
export function isOneWayRoute(routeKey: string): boolean {
  return Object.hasOwn(ROUTES, routeKey) && !ANSWERED.has(routeKey);
}

/** The handler file of a function, from the project's root: the CDK stack bundles it. */
export function handlerFileOf(id: FunctionId): string {
  return `lambdas/handlers/${id}.ts`;
}

/** The function whose handler file `path` ends with (a bundle's description names it), if any. */
export function functionOfHandlerFile(path: string): FunctionDefinition | undefined {
  return FUNCTIONS.find(({ id }) => path.endsWith(handlerFileOf(id)));
}

function onlyOne<Item>(items: readonly Item[], what: string): Item {
  const [item, ...others] = items;
  if (item === undefined || others.length > 0) {
    throw new Error(`definitions/functions.ts: expected one ${what} function, found ${items.length}`);
  }
  return item;
}

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
    ...(connectionMethodsOf(definition).length > 0 ? ['PARLEY_CONNECTIONS_ENDPOINT'] : []),
  ];
}

/** The `@connections` methods a function calls: POST when it posts, DELETE when it closes. */
export function connectionMethodsOf(definition: FunctionDefinition): Array<'POST' | 'DELETE'> {
  return [
    ...(definition.posts ? (['POST'] as const) : []),
    ...(definition.closes ? (['DELETE'] as const) : []),
  ];
}
