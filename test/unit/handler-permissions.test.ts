/**
 * The other half of the least-privilege grants: `definitions/functions.ts` says what each Lambda
 * function may touch and `test/infra/functions.test.ts` holds the stack's IAM to it; this
 * file holds each handler's code to it. Every handler is driven through its paths, the
 * rare ones included, over the mocked AWS clients; each call the SDK made becomes the IAM
 * permission it needs (action and resource, as IAM would check it), and every one must be
 * in the grant, or the function would fail with AccessDenied in AWS where no local test
 * would notice. The other way round, every grant must be used on at least one path, so
 * that the list holds no dead entries.
 */

import {
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import {
  ConditionalCheckFailedException,
  GetItemCommand,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import { PutRecordCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  CreatePlatformEndpointCommand,
  DeleteEndpointCommand,
  GetEndpointAttributesCommand,
  PublishCommand,
  SetEndpointAttributesCommand,
  SNSClient,
} from '@aws-sdk/client-sns';
import {
  BatchGetCommand,
  type BatchGetCommandInput,
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  type GetCommandInput,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type {
  AckedFrame,
  ConversationsPageFrame,
  HistoryFrame,
  MessageEventFrame,
  PresenceFrame,
  ReceiptEventFrame,
  SentFrame,
} from '@parley/protocol';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  ANSWERED_ROUTES,
  connectionMethodsOf,
  FUNCTIONS,
  type FunctionDefinition,
  type FunctionId,
  ROUTES,
} from '../../definitions/functions.js';
import { DEFAULT_RATE_LIMITS, LIMITED_ROUTES, routeKeyOf } from '../../definitions/rate-limits.js';
import { TABLE_NAME_FIELDS, TABLES } from '../../definitions/tables.js';
import { rosterKeyOf } from '../../lambdas/adapters/dynamodb-group-store.js';
import { idempotencyKey, messageKey } from '../../lambdas/adapters/dynamodb-message-store.js';
import { encodeCursor } from '../../lambdas/domain/conversation-list.js';
import type { Connection, PresenceRecord, PushSender } from '../../lambdas/domain/ports.js';
import { mintToken } from '../../lambdas/domain/tokens.js';
import type { DepsProvider } from '../../lambdas/runtime.js';
import { HANDLER_BUILDERS, type HandlerOf } from '../../local/functions.js';
import {
  FakeConversationsTable,
  FakeUserConversationsTable,
  transactionCanceled,
} from './support/dynamodb-tables.js';
import {
  answerOf,
  authorizerEvent,
  connectEvent,
  createTestDeps,
  disconnectEvent,
  errorOf,
  invoke,
  kinesisEventOf,
  lambdaContext,
  messageEvent,
  mockAwsClients,
  NOW,
  presenceStreamEvent,
  publishedRecords,
  TEST_SECRET,
  testConfig,
} from './support/harness.js';

const { ddb, ddbBase, kinesis, api } = mockAwsClients();
/** Only the authorizer reads the signing key, and only when it is a Secrets Manager secret. */
const secrets = mockClient(SecretsManagerClient);
afterEach(() => secrets.reset());
/** The push registration routes delete the SNS platform endpoints of the APNs/FCM registrations they replace. */
const sns = mockClient(SNSClient);
afterEach(() => sns.reset());
// The unit files share one module graph per worker: the next file gets the real clients.
afterAll(() => {
  secrets.restore();
  sns.restore();
});

// ---------------------------------------------------------------------------------------
// From SDK calls to IAM permissions
// ---------------------------------------------------------------------------------------

/**
 * One permission a call needs, as `{service}:{action} {resource}`: a table id (`/index/{name}`
 * for a query of an index), the stream id, `@connections` with the HTTP method the
 * `ManageConnections` resource names, or the token key.
 */
type Access = string;

const NAMES = testConfig().names;
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:Parley-unit-TokenSigningKey-AbC123';
const SIGNING_KEY = 'a-key-only-secrets-manager-knows';

/** Physical table name → table id, through the names the handlers are configured with. */
const TABLE_IDS = new Map<string, string>(
  TABLES.map((table) => [NAMES[TABLE_NAME_FIELDS[table.id]], table.id]),
);
/** A table no grant can name: another stack's, or a name the configuration never gave. */
const tableIdOf = (name: unknown) => TABLE_IDS.get(String(name)) ?? `unknown-table:${String(name)}`;

/** Commands on one item or one key range, named as the document client and the base client name them. */
const SINGLE_TABLE_ACTIONS: Record<string, string> = {
  GetCommand: 'GetItem',
  GetItemCommand: 'GetItem',
  PutCommand: 'PutItem',
  PutItemCommand: 'PutItem',
  UpdateCommand: 'UpdateItem',
  UpdateItemCommand: 'UpdateItem',
  DeleteCommand: 'DeleteItem',
  DeleteItemCommand: 'DeleteItem',
  QueryCommand: 'Query',
  ScanCommand: 'Scan',
};
/** Batch commands: IAM checks the batch action on every table the request names. */
const BATCH_ACTIONS: Record<string, string> = {
  BatchGetCommand: 'BatchGetItem',
  BatchGetItemCommand: 'BatchGetItem',
  BatchWriteCommand: 'BatchWriteItem',
  BatchWriteItemCommand: 'BatchWriteItem',
};
/** Transactions: there is no transaction action in IAM, only the action of each item. */
const TRANSACT_COMMANDS = new Set([
  'TransactWriteCommand',
  'TransactWriteItemsCommand',
  'TransactGetCommand',
  'TransactGetItemsCommand',
]);
const TRANSACT_ITEM_ACTIONS: Record<string, string> = {
  Put: 'PutItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  ConditionCheck: 'ConditionCheckItem',
  Get: 'GetItem',
};

interface SentCommand {
  constructor: { name: string };
  input: {
    TableName?: unknown;
    IndexName?: unknown;
    RequestItems?: Record<string, unknown>;
    TransactItems?: Array<Record<string, { TableName?: unknown } | undefined>>;
    StreamName?: unknown;
    SecretId?: unknown;
    EndpointArn?: unknown;
    TargetArn?: unknown;
    PlatformApplicationArn?: unknown;
  };
}

/** The DynamoDB permissions a command sent through the document client (or the base client) needs. */
function dynamodbAccesses(command: SentCommand): Access[] {
  const name = command.constructor.name;
  const { input } = command;
  const single = SINGLE_TABLE_ACTIONS[name];
  if (single) {
    const index = input.IndexName === undefined ? '' : `/index/${String(input.IndexName)}`;
    return [`dynamodb:${single} ${tableIdOf(input.TableName)}${index}`];
  }
  const batch = BATCH_ACTIONS[name];
  if (batch)
    return Object.keys(input.RequestItems ?? {}).map((table) => `dynamodb:${batch} ${tableIdOf(table)}`);
  if (TRANSACT_COMMANDS.has(name)) {
    return (input.TransactItems ?? []).flatMap((item) =>
      Object.entries(item).map(
        ([kind, request]) =>
          `dynamodb:${TRANSACT_ITEM_ACTIONS[kind] ?? `${kind}(unmapped)`} ${tableIdOf(request?.TableName)}`,
      ),
    );
  }
  // A command this test does not know yet: never granted, so the test says which one to map.
  return [`dynamodb:${name}(unmapped) ${tableIdOf(input.TableName)}`];
}

const CONNECTION_METHODS: Record<string, string> = {
  PostToConnectionCommand: 'POST',
  DeleteConnectionCommand: 'DELETE',
  GetConnectionCommand: 'GET',
};

/** `execute-api:ManageConnections` is granted on `{stage}/{METHOD}/@connections/*`: the method is the resource. */
function connectionAccesses(command: SentCommand): Access[] {
  const method = CONNECTION_METHODS[command.constructor.name];
  return [
    method
      ? `execute-api:ManageConnections ${method} @connections`
      : `execute-api:${command.constructor.name}(unmapped) @connections`,
  ];
}

const actionOf = (command: SentCommand) => command.constructor.name.replace(/Command$/, '');

function kinesisAccesses(command: SentCommand): Access[] {
  const stream =
    command.input.StreamName === NAMES.eventsStream ? 'events' : String(command.input.StreamName);
  return [`kinesis:${actionOf(command)} ${stream}`];
}

function secretAccesses(command: SentCommand): Access[] {
  const secret = command.input.SecretId === SECRET_ARN ? 'token-key' : String(command.input.SecretId);
  return [`secretsmanager:${actionOf(command)} ${secret}`];
}

/** SNS platform endpoints are made per device token: a grant names them all (`platform-endpoint`). */
function snsAccesses(command: SentCommand): Access[] {
  const target = String(command.input.EndpointArn ?? command.input.TargetArn ?? '');
  const resource = target.includes(':endpoint/')
    ? 'platform-endpoint'
    : String(command.input.PlatformApplicationArn ?? '').includes(':app/')
      ? 'platform-application'
      : target;
  return [`sns:${actionOf(command)} ${resource}`];
}

const sent = (calls: Array<{ args: unknown[] }>) => calls.map((call) => call.args[0] as SentCommand);

/** Every permission the calls recorded since the last reset needed, each once, sorted. */
function recordedAccesses(): Access[] {
  return [
    ...new Set([
      ...sent(ddb.calls()).flatMap(dynamodbAccesses),
      ...sent(ddbBase.calls()).flatMap(dynamodbAccesses),
      ...sent(kinesis.calls()).flatMap(kinesisAccesses),
      ...sent(api.calls()).flatMap(connectionAccesses),
      ...sent(secrets.calls()).flatMap(secretAccesses),
      ...sent(sns.calls()).flatMap(snsAccesses),
    ]),
  ].sort();
}

// ---------------------------------------------------------------------------------------
// What definitions/functions.ts grants
// ---------------------------------------------------------------------------------------

const DEFINITIONS: readonly FunctionDefinition[] = FUNCTIONS;

function definitionOf(id: FunctionId): FunctionDefinition {
  const definition = DEFINITIONS.find((candidate) => candidate.id === id);
  if (!definition) throw new Error(`no function ${id}`);
  return definition;
}

/**
 * The grant entries of a function, one per table and action, plus the stream, the
 * connections and the token key when it has them: what each must be used for.
 */
function grantEntries(definition: FunctionDefinition): Access[] {
  return [
    ...Object.entries(definition.tables).flatMap(([tableId, actions]) =>
      (actions ?? []).map((action) => `dynamodb:${action} ${tableId}`),
    ),
    ...Object.entries(definition.indexQueries ?? {}).flatMap(([tableId, indexNames]) =>
      (indexNames ?? []).map((indexName) => `dynamodb:Query ${tableId}/index/${indexName}`),
    ),
    ...(definition.publishes ? ['kinesis:PutRecord events'] : []),
    ...connectionMethodsOf(definition).map(
      (method) => `execute-api:ManageConnections ${method} @connections`,
    ),
    ...(definition.verifiesTokens ? ['secretsmanager:GetSecretValue token-key'] : []),
    ...(definition.deletesPlatformEndpoints ? ['sns:DeleteEndpoint platform-endpoint'] : []),
    // As lib/constructs/functions.ts grants them: endpoints made on the applications, then used.
    ...(definition.pushes
      ? [
          'sns:CreatePlatformEndpoint platform-application',
          ...['Publish', 'GetEndpointAttributes', 'SetEndpointAttributes', 'DeleteEndpoint'].map(
            (action) => `sns:${action} platform-endpoint`,
          ),
        ]
      : []),
  ];
}

/**
 * Everything IAM lets the function do, as `lib/constructs/functions.ts` writes it: each
 * table's actions on the table alone; Query on each index it names; `kinesis:PutRecord`
 * on the stream; ManageConnections on `POST/@connections/*`; and GetSecretValue on the
 * token key. Exactly its grant entries.
 */
function allowedAccesses(definition: FunctionDefinition): Set<Access> {
  return new Set(grantEntries(definition));
}

// ---------------------------------------------------------------------------------------
// The paths of every handler
// ---------------------------------------------------------------------------------------

/** The functions whose handlers the running scenario built. */
const builtFunctions = new Set<FunctionId>();

/** The handler of function `id` over `deps`, from its handler module as the local stack builds it. */
function handlerOf<Id extends FunctionId>(id: Id, deps: DepsProvider): HandlerOf<Id> {
  builtFunctions.add(id);
  return HANDLER_BUILDERS[id](deps);
}

interface Scenario {
  fn: FunctionId;
  /** The path, finishing the sentence "the {fn} function keeps to its grant …". */
  path: string;
  /** The permissions that make this path what it is: each must be among those it used. */
  touches: readonly Access[];
  /** Sets up the mocks, drives the handler and checks it took the path meant. */
  run: () => Promise<void>;
}

const CONVERSATION = 'dm:alice:bob';
const CLIENT_MESSAGE_ID = '4f1c0e9a-6b1d-4c47-9a39-2b1a7d2f6c11';
const NOW_SECONDS = Math.floor(NOW / 1000);

const CONVERSATIONS_QUERY = 'dynamodb:Query conversations';
const POST = 'execute-api:ManageConnections POST @connections';
const CLOSE = 'execute-api:ManageConnections DELETE @connections';
const PUBLISH = 'kinesis:PutRecord events';

const connection = (userId: string, deviceId: string): Connection => ({
  userId,
  connectionId: `conn-${userId}-${deviceId}`,
  deviceId,
  connectedAt: NOW - 60_000,
  expiresAt: Math.floor(Date.now() / 1000) + 3600,
});
const CONNECTIONS: Record<string, Connection[]> = {
  alice: [connection('alice', 'phone'), connection('alice', 'laptop')],
  bob: [connection('bob', 'phone')],
};
function serveConnections(connections: Record<string, Connection[]> = CONNECTIONS) {
  ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => ({
    // Other tables (the user's groups in its list, since protocol 1.1) hold nothing here.
    Items:
      input.TableName === NAMES.connectionsTable
        ? (connections[input.ExpressionAttributeValues?.[':u'] as string] ?? [])
        : [],
  }));
}
/** Alice's list has one group she is a member of; the connections are served as above. */
function serveGroupsOfAlice(connections: Record<string, Connection[]> = CONNECTIONS) {
  ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => {
    if (input.TableName === NAMES.userConversationsTable) return { Items: [{ conversationId: GROUP }] };
    return { Items: connections[input.ExpressionAttributeValues?.[':u'] as string] ?? [] };
  });
  ddb.on(BatchWriteCommand).resolves({});
}
/**
 * The group's item and its roster (alice, bob and `members` joined at 1), the index of its
 * connected devices (`indexed`), and each user's connections, as the conversations,
 * group-connections and connections tables answer them.
 */
function serveGroup(indexed: Connection[], members: string[] = []) {
  ddb.on(GetCommand, { TableName: NAMES.conversationsTable }).resolves({
    Item: { conversationId: GROUP, itemKey: 'group', title: 'Lunch', createdBy: 'alice', createdAt: NOW },
  });
  ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => {
    if (input.TableName === NAMES.conversationsTable) {
      const roster = Object.fromEntries(
        ['alice', 'bob', ...members].map((userId) => [userId, { admin: false, joinedSeq: 1, joinedAt: NOW }]),
      );
      return { Items: [{ conversationId: GROUP, itemKey: 'roster#00', members: roster, former: {} }] };
    }
    if (input.TableName === NAMES.groupConnectionsTable) {
      return { Items: indexed.map((item) => ({ ...item, conversationId: GROUP })) };
    }
    return { Items: CONNECTIONS[input.ExpressionAttributeValues?.[':u'] as string] ?? [] };
  });
  ddb.on(BatchWriteCommand).resolves({});
}
const groupMessageOf = (seq: number, fields: Partial<MessageEventFrame> = {}): MessageEventFrame => ({
  ...messageOf(seq),
  conversationId: GROUP,
  kind: 'text',
  ...fields,
});
const gone = () => new GoneException({ message: '410', $metadata: { httpStatusCode: 410 } });
const conditionFailed = () =>
  new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: { httpStatusCode: 400 },
  });

const presenceRecord = (userId: string, fields: Partial<PresenceRecord> = {}): PresenceRecord => ({
  userId,
  online: true,
  lastSeen: null,
  lastActiveAt: NOW - 60_000,
  expiresAt: NOW_SECONDS + 3600,
  version: 1,
  ...fields,
});

/** Message `seq` of dm:alice:bob as the conversations table stores it. */
const storedMessage = (seq: number, senderId = 'bob', clientMessageId = `cm-${seq}`) => ({
  conversationId: CONVERSATION,
  itemKey: messageKey(seq),
  seq,
  messageId: `01STORED${seq}`,
  clientMessageId,
  senderId,
  senderDeviceId: 'phone',
  body: `message ${seq}`,
  serverTs: NOW - 1000 + seq,
});
function conversationHolding(lastSeq: number): FakeConversationsTable {
  const table = new FakeConversationsTable().install(ddb);
  for (let seq = 1; seq <= lastSeq; seq++) table.put(storedMessage(seq));
  return table;
}

const GROUP = 'grp:lunch';

/** A group of alice (its admin) and bob, made at seq 1, as the conversations table holds it. */
function groupOfAliceAndBob(): FakeConversationsTable {
  const table = new FakeConversationsTable().install(ddb);
  const members = ['alice', 'bob'];
  table.put({ conversationId: GROUP, itemKey: 'group', title: 'Lunch', createdBy: 'alice', createdAt: NOW });
  for (const userId of members) {
    const member = { admin: userId === 'alice', joinedSeq: 1, joinedAt: NOW };
    const itemKey = rosterKeyOf(userId);
    const bucket = table.items(GROUP, itemKey)[0] ?? {
      conversationId: GROUP,
      itemKey,
      members: {},
      former: {},
    };
    table.put({ ...bucket, members: { ...(bucket.members as object), [userId]: member } });
  }
  table.put({ ...storedMessage(1, 'alice'), conversationId: GROUP, kind: 'group-created', members });
  return table;
}

/** A frame of each membership change that changes the group of alice and bob, sent by alice. */
const GROUP_CHANGES = {
  'add-members': { action: 'addMembers', requestId: 'r8', conversationId: GROUP, members: ['carol'] },
  'remove-member': { action: 'removeMember', requestId: 'r9', conversationId: GROUP, userId: 'bob' },
  'set-title': { action: 'setTitle', requestId: 'r10', conversationId: GROUP, title: 'Dinner' },
  'set-admin': { action: 'setAdmin', requestId: 'r11', conversationId: GROUP, userId: 'bob', admin: true },
};

const route = (handler: Parameters<typeof invoke>[0], frame: Record<string, unknown>) =>
  invoke(handler, messageEvent(frame));

const sendFrame = (overrides: Record<string, unknown> = {}) => ({
  action: 'send',
  requestId: 'r1',
  to: 'bob',
  clientMessageId: CLIENT_MESSAGE_ID,
  body: 'hello',
  ...overrides,
});
const ackFrame = (kind: 'delivered' | 'read', seq: number) => ({
  action: 'ack',
  requestId: 'r2',
  conversationId: CONVERSATION,
  kind,
  seq,
});
const subscribeFrame = (userIds: string[]) => ({ action: 'subscribePresence', requestId: 'r5', userIds });

/**
 * The users who wrote to alice (their entry of the one-to-one conversation has `wroteAt`),
 * the presence records, and subscription writes that succeed.
 */
function servePresenceTables(wroteToAlice: string[], presence: PresenceRecord[]) {
  ddb.on(BatchGetCommand).callsFake((input: BatchGetCommandInput) => {
    const wanted = new Set(input.RequestItems?.[NAMES.presenceTable]?.Keys?.map((key) => key.userId));
    const entries = (input.RequestItems?.[NAMES.userConversationsTable]?.Keys ?? []).filter(
      (key) => wroteToAlice.includes(key.userId) && String(key.itemKey).startsWith('conv#'),
    );
    return {
      Responses: {
        [NAMES.presenceTable]: presence.filter((record) => wanted.has(record.userId)),
        [NAMES.userConversationsTable]: entries.map((key) => ({ ...key, wroteAt: NOW })),
      },
    };
  });
  ddb.on(BatchWriteCommand).resolves({});
}

/** Alice's connections, and the subscriptions `subscribers` hold on alice's presence. */
function serveBlockerTables(subscribers: Record<string, string>) {
  ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => {
    if (input.TableName === NAMES.presenceSubscriptionsTable) {
      return {
        Items: Object.entries(subscribers)
          .filter(([, userId]) => userId === input.ExpressionAttributeValues?.[':s'])
          .map(([connectionId]) => ({ connectionId })),
      };
    }
    return { Items: CONNECTIONS[input.ExpressionAttributeValues?.[':u'] as string] ?? [] };
  });
  ddb.on(PutCommand).resolves({});
  ddb.on(DeleteCommand).resolves({});
}

/** The block item of `blockerId` on `blockedId`, as the user-conversations table answers it. */
function serveBlock(blockerId: string, blockedId: string) {
  ddb.on(BatchGetCommand).resolves({
    Responses: { [NAMES.userConversationsTable]: [{ userId: blockerId, itemKey: `block#${blockedId}` }] },
  });
}

/** Alice's phone subscribed to bob's presence; the notifier's tables around it. */
function serveSubscriptions(subscriptions: Record<string, string[]>) {
  ddb.on(BatchGetCommand).resolves({
    Responses: { [NAMES.presenceTable]: [presenceRecord('bob'), presenceRecord('carol', { online: false })] },
  });
  ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => {
    const watchedUserId = input.ExpressionAttributeValues?.[':w'] as string;
    return {
      Items: (subscriptions[watchedUserId] ?? []).map((connectionId) => ({
        watchedUserId,
        connectionId,
        subscriberUserId: 'alice',
        expiresAt: NOW_SECONDS + 600,
      })),
    };
  });
  ddb.on(DeleteCommand).resolves({});
}

const messageOf = (seq: number): MessageEventFrame => ({ type: 'message', ...storedMessage(seq) });
const receiptOf = (userId: string, kind: 'delivered' | 'read', seq: number): ReceiptEventFrame => ({
  type: 'receipt',
  conversationId: CONVERSATION,
  userId,
  kind,
  seq,
});
/** Both members' entries of dm:alice:bob at seq 1, and their clocks. */
function listsHoldingSeq1(lists: FakeUserConversationsTable) {
  for (const userId of ['alice', 'bob']) {
    const { type: _type, ...lastMessage } = messageOf(1);
    lists.put({
      userId,
      itemKey: `conv#${CONVERSATION}`,
      conversationId: CONVERSATION,
      members: ['alice', 'bob'],
      lastSeq: 1,
      lastMessage,
      receipts: [
        { userId: 'alice', deliveredSeq: 0, readSeq: 0 },
        { userId: 'bob', deliveredSeq: 0, readSeq: 0 },
      ],
      updatedAt: NOW - 10,
    });
    lists.put({ userId, itemKey: 'clock', lastUpdatedAt: NOW - 10 });
  }
}
const postedTo = () =>
  api.commandCalls(PostToConnectionCommand).map((call) => call.args[0].input.ConnectionId);

/** The group's connection index, holding bob's phone, as the group-connections table answers it. */
function groupConnectionsIndexingBob(): void {
  ddb
    .on(QueryCommand, { TableName: NAMES.groupConnectionsTable })
    .resolves({ Items: [{ ...connection('bob', 'phone'), conversationId: GROUP }] });
  ddb.on(BatchWriteCommand).resolves({});
}

/**
 * Every function with a per-user limit counts the frame (or handshake) in the rate-limits
 * table before anything else; here the counter refuses it, so nothing else runs.
 */
const RATE_LIMIT_SCENARIOS: Scenario[] = LIMITED_ROUTES.map((route) => {
  const routeKey = routeKeyOf(route);
  const fn = ROUTES[routeKey] as FunctionId;
  return {
    fn,
    path: `when it refuses a ${routeKey} over the caller's limit`,
    touches: ['dynamodb:UpdateItem rate-limits'],
    run: async () => {
      ddb.on(UpdateCommand).rejects(
        new ConditionalCheckFailedException({
          message: 'over',
          $metadata: {},
          Item: { total: { N: '1' } },
        }),
      );
      const { provider } = createTestDeps({ config: testConfig({ rateLimits: DEFAULT_RATE_LIMITS }) });
      if (route === 'connect') {
        const result = await invoke(handlerOf('connect', provider), connectEvent());
        expect(result.statusCode).toBe(429);
        return;
      }
      const event = messageEvent({ action: routeKey, requestId: 'r1' });
      event.requestContext.routeKey = routeKey;
      const result = await invoke(handlerOf(fn, provider), event);
      // A one-way route answers a frame over the limit with nothing: a post would cost a request.
      if (ANSWERED_ROUTES.includes(routeKey)) expect(errorOf(result).code).toBe('rate_limited');
      else expect(result.body).toBeUndefined();
    },
  };
});

// ---------------------------------------------------------- push registration
const ENDPOINT_ARN = 'arn:aws:sns:us-east-1:123456789012:endpoint/APNS/parley/5e3e9847';
const PUSH_CONFIG = testConfig({
  push: {
    vapid: { publicKey: `B${'A'.repeat(86)}`, subject: 'mailto:ops@example.com' },
    apnsPlatformApplicationArn: 'arn:aws:sns:us-east-1:123456789012:app/APNS/parley',
    preview: false,
    coalesceWindowMs: 5000,
    ttlSeconds: 86_400,
    endpointHosts: ['fcm.googleapis.com'],
  },
});
/** Alice's phone registered with APNs before, and SNS made an endpoint for its token. */
const EARLIER_APNS = {
  userId: 'alice',
  itemKey: 'device#phone',
  deviceId: 'phone',
  address: { kind: 'apns', token: 'ab12' },
  registeredAt: NOW - 60_000,
  platformEndpointArn: ENDPOINT_ARN,
};

const PUSH_REGISTRATION_SCENARIOS: Scenario[] = [
  {
    fn: 'register-push',
    path: "when it replaces an APNs registration and deletes that registration's SNS endpoint",
    touches: ['dynamodb:PutItem push-devices', 'sns:DeleteEndpoint platform-endpoint'],
    run: async () => {
      ddb.on(PutCommand).resolves({ Attributes: EARLIER_APNS });
      sns.on(DeleteEndpointCommand).resolves({});
      const { provider } = createTestDeps({ config: PUSH_CONFIG });
      const result = await route(handlerOf('register-push', provider), {
        action: 'registerPush',
        requestId: 'r1',
        push: { kind: 'apns', token: 'cd34' },
      });
      expect(answerOf(result)).toEqual({ type: 'pushRegistered', requestId: 'r1' });
      expect(sns.commandCalls(DeleteEndpointCommand).map((call) => call.args[0].input)).toEqual([
        { EndpointArn: ENDPOINT_ARN },
      ]);
    },
  },
  {
    fn: 'unregister-push',
    path: "when it deletes the caller's registration and its SNS endpoint",
    touches: ['dynamodb:DeleteItem push-devices', 'sns:DeleteEndpoint platform-endpoint'],
    run: async () => {
      ddb.on(DeleteCommand).resolves({ Attributes: EARLIER_APNS });
      sns.on(DeleteEndpointCommand).resolves({});
      const { provider } = createTestDeps({ config: PUSH_CONFIG });
      const result = await route(handlerOf('unregister-push', provider), {
        action: 'unregisterPush',
        requestId: 'r2',
      });
      expect(answerOf(result)).toEqual({ type: 'pushUnregistered', requestId: 'r2' });
    },
  },
];

const SCENARIOS: Scenario[] = [
  ...RATE_LIMIT_SCENARIOS,
  // ----------------------------------------------------------------- authorizer
  {
    fn: 'authorizer',
    path: 'when it verifies a token with a key from its configuration',
    touches: [],
    run: async () => {
      const { provider } = createTestDeps();
      const result = await handlerOf('authorizer', provider)(
        authorizerEvent(await mintToken('alice', TEST_SECRET)),
        lambdaContext,
      );
      expect(result.principalId).toBe('alice');
    },
  },
  {
    fn: 'authorizer',
    path: 'when it reads the signing key from Secrets Manager',
    touches: ['secretsmanager:GetSecretValue token-key'],
    run: async () => {
      secrets.on(GetSecretValueCommand).resolves({ SecretString: SIGNING_KEY });
      const { provider } = createTestDeps({ config: testConfig({ tokens: { secretArn: SECRET_ARN } }) });
      const result = await handlerOf('authorizer', provider)(
        authorizerEvent(await mintToken('alice', SIGNING_KEY)),
        lambdaContext,
      );
      expect(result.principalId).toBe('alice');
    },
  },
  {
    fn: 'authorizer',
    path: 'when it refuses a token signed with another key',
    touches: ['secretsmanager:GetSecretValue token-key'],
    run: async () => {
      secrets.on(GetSecretValueCommand).resolves({ SecretString: SIGNING_KEY });
      const { provider } = createTestDeps({ config: testConfig({ tokens: { secretArn: SECRET_ARN } }) });
      await expect(
        handlerOf('authorizer', provider)(
          authorizerEvent(await mintToken('mallory', 'another-key')),
          lambdaContext,
        ),
      ).rejects.toThrowError(/^Unauthorized$/);
    },
  },
  // -------------------------------------------------------------------- connect
  {
    fn: 'connect',
    path: "when it registers a user's first device and publishes that the user came online",
    touches: [
      'dynamodb:Query connections',
      'dynamodb:PutItem connections',
      'dynamodb:UpdateItem connections',
      'dynamodb:UpdateItem presence',
      PUBLISH,
    ],
    run: async () => {
      ddb.on(TransactWriteCommand).resolves({});
      ddb.on(UpdateCommand).resolves({});
      serveConnections();
      const { provider } = createTestDeps();
      expect(await invoke(handlerOf('connect', provider), connectEvent())).toEqual({ statusCode: 200 });
      expect(publishedRecords(kinesis)).toHaveLength(1);
    },
  },
  {
    fn: 'connect',
    path: "when it indexes the connection in the user's groups",
    touches: [
      'dynamodb:PutItem connections',
      'dynamodb:Query user-conversations',
      'dynamodb:BatchWriteItem group-connections',
    ],
    run: async () => {
      ddb.on(TransactWriteCommand).resolves({});
      ddb.on(UpdateCommand).resolves({ Attributes: presenceRecord('alice') });
      serveGroupsOfAlice();
      const { provider } = createTestDeps();
      expect(await invoke(handlerOf('connect', provider), connectEvent())).toEqual({ statusCode: 200 });
      expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(1);
    },
  },
  {
    fn: 'connect',
    path: 'when it registers another device of a user already online',
    touches: ['dynamodb:PutItem connections', 'dynamodb:UpdateItem presence'],
    run: async () => {
      ddb.on(TransactWriteCommand).resolves({});
      ddb.on(UpdateCommand).resolves({ Attributes: presenceRecord('alice') });
      serveConnections();
      const { provider } = createTestDeps();
      expect(await invoke(handlerOf('connect', provider), connectEvent())).toEqual({ statusCode: 200 });
      expect(kinesis.calls()).toHaveLength(0);
    },
  },
  {
    fn: 'connect',
    path: 'when it marks the user offline again because the publish failed',
    touches: ['dynamodb:PutItem connections', 'dynamodb:UpdateItem presence', PUBLISH],
    run: async () => {
      ddb.on(TransactWriteCommand).resolves({});
      ddb.on(UpdateCommand).resolves({});
      serveConnections();
      kinesis.on(PutRecordCommand).rejects(new Error('ProvisionedThroughputExceededException'));
      const { provider } = createTestDeps();
      await expect(invoke(handlerOf('connect', provider), connectEvent())).rejects.toThrow(
        'ProvisionedThroughputExceededException',
      );
      expect(ddb.commandCalls(UpdateCommand)).toHaveLength(2);
    },
  },
  {
    fn: 'connect',
    path: "when it replaces the device's older connection in the same write and closes it",
    touches: ['dynamodb:DeleteItem connections', CLOSE],
    run: async () => {
      ddb.on(TransactWriteCommand).resolves({});
      ddb.on(UpdateCommand).resolves({ Attributes: presenceRecord('alice') });
      serveConnections({ alice: [{ ...connection('alice', 'phone'), connectionId: 'conn-older-phone' }] });
      const { provider } = createTestDeps();
      expect(await invoke(handlerOf('connect', provider), connectEvent())).toEqual({ statusCode: 200 });
      expect(api.commandCalls(DeleteConnectionCommand)[0]?.args[0].input).toEqual({
        ConnectionId: 'conn-older-phone',
      });
    },
  },
  {
    fn: 'connect',
    path: 'when it refuses a handshake over the connection cap',
    touches: ['dynamodb:Query connections'],
    run: async () => {
      serveConnections({ alice: [connection('alice', 'laptop')] });
      const { provider } = createTestDeps({ config: testConfig({ maxConnectionsPerUser: 1 }) });
      expect((await invoke(handlerOf('connect', provider), connectEvent())).statusCode).toBe(429);
      expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(0);
    },
  },
  {
    fn: 'connect',
    path: 'when it refuses a handshake without a valid deviceId',
    touches: [],
    run: async () => {
      const event = connectEvent();
      event.queryStringParameters = { deviceId: 'not a device' };
      const { provider } = createTestDeps();
      expect((await invoke(handlerOf('connect', provider), event)).statusCode).toBe(400);
    },
  },
  // ----------------------------------------------------------------- disconnect
  {
    fn: 'disconnect',
    path: 'when it removes one of several connections and leaves the user online',
    touches: ['dynamodb:DeleteItem connections', 'dynamodb:GetItem presence', 'dynamodb:Query connections'],
    run: async () => {
      ddb.on(DeleteCommand).resolves({});
      ddb.on(GetCommand).resolves({ Item: presenceRecord('alice') });
      serveConnections({ alice: [connection('alice', 'laptop')] });
      const { provider } = createTestDeps();
      expect(await invoke(handlerOf('disconnect', provider), disconnectEvent())).toEqual({ statusCode: 200 });
      expect(ddb.commandCalls(UpdateCommand)).toHaveLength(0);
    },
  },
  {
    fn: 'disconnect',
    path: 'when the last connection goes and it publishes that the user went offline',
    touches: [
      'dynamodb:DeleteItem connections',
      'dynamodb:GetItem presence',
      'dynamodb:Query connections',
      'dynamodb:UpdateItem presence',
      PUBLISH,
    ],
    run: async () => {
      ddb.on(DeleteCommand).resolves({});
      ddb.on(GetCommand).resolves({ Item: presenceRecord('alice') });
      serveConnections({});
      ddb.on(UpdateCommand).resolves({});
      const { provider } = createTestDeps();
      expect(await invoke(handlerOf('disconnect', provider), disconnectEvent())).toEqual({ statusCode: 200 });
      expect(publishedRecords(kinesis).map((record) => record.event)).toEqual([
        { type: 'presence-changed', userId: 'alice' },
      ]);
    },
  },
  {
    fn: 'disconnect',
    path: 'when a device connected meanwhile and the offline update does not hold',
    touches: ['dynamodb:UpdateItem presence'],
    run: async () => {
      ddb.on(DeleteCommand).resolves({});
      ddb.on(GetCommand).resolves({ Item: presenceRecord('alice') });
      serveConnections({});
      ddb.on(UpdateCommand).rejects(conditionFailed());
      const { provider } = createTestDeps();
      expect(await invoke(handlerOf('disconnect', provider), disconnectEvent())).toEqual({ statusCode: 200 });
      expect(kinesis.calls()).toHaveLength(0);
    },
  },
  {
    fn: 'disconnect',
    path: 'when the user is already offline',
    touches: ['dynamodb:DeleteItem connections', 'dynamodb:GetItem presence'],
    run: async () => {
      ddb.on(DeleteCommand).resolves({});
      ddb.on(GetCommand).resolves({ Item: presenceRecord('alice', { online: false, lastSeen: NOW - 5000 }) });
      serveConnections();
      const { provider } = createTestDeps();
      expect(await invoke(handlerOf('disconnect', provider), disconnectEvent())).toEqual({ statusCode: 200 });
      // Its groups only: not its connections.
      expect(ddb.commandCalls(QueryCommand).map((call) => call.args[0].input.TableName)).toEqual([
        NAMES.userConversationsTable,
      ]);
    },
  },
  {
    fn: 'disconnect',
    path: "when it removes the connection from its user's groups",
    touches: [
      'dynamodb:DeleteItem connections',
      'dynamodb:Query user-conversations',
      'dynamodb:BatchWriteItem group-connections',
    ],
    run: async () => {
      ddb.on(DeleteCommand).resolves({});
      ddb.on(GetCommand).resolves({ Item: presenceRecord('alice') });
      serveGroupsOfAlice();
      const { provider } = createTestDeps();
      expect(await invoke(handlerOf('disconnect', provider), disconnectEvent())).toEqual({ statusCode: 200 });
      expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(1);
    },
  },
  // -------------------------------------------------------------------- default
  {
    fn: 'default',
    path: 'when it answers an unknown action',
    touches: [],
    run: async () => {
      const { provider } = createTestDeps();
      const result = await route(handlerOf('default', provider), { action: 'dance', requestId: 'r9' });
      expect(errorOf(result).code).toBe('bad_request');
    },
  },
  {
    fn: 'default',
    path: 'when it answers a text that is not JSON',
    touches: [],
    run: async () => {
      const { provider } = createTestDeps();
      const result = await invoke(handlerOf('default', provider), messageEvent('not json'));
      expect(errorOf(result).code).toBe('bad_request');
    },
  },
  // ----------------------------------------------------------------------- send
  {
    fn: 'send',
    path: 'when the recipient blocks the sender, and it refuses before claiming a seq',
    touches: [CONVERSATIONS_QUERY, 'dynamodb:BatchGetItem user-conversations'],
    run: async () => {
      conversationHolding(0);
      serveBlock('bob', 'alice');
      const { provider } = createTestDeps();
      const result = await route(handlerOf('send', provider), sendFrame());
      expect(errorOf(result)).toMatchObject({
        code: 'forbidden',
        message: 'the recipient does not accept messages from you',
      });
      expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(0);
    },
  },
  {
    fn: 'send',
    path: 'when it stores and publishes a fresh message',
    touches: [CONVERSATIONS_QUERY, 'dynamodb:PutItem conversations', PUBLISH],
    run: async () => {
      conversationHolding(0);
      const { provider } = createTestDeps();
      const result = await route(handlerOf('send', provider), sendFrame());
      expect(answerOf<SentFrame>(result)).toMatchObject({ type: 'sent', seq: 1, duplicate: false });
    },
  },
  {
    fn: 'send',
    path: 'when it answers a duplicate send with the stored message',
    touches: [
      CONVERSATIONS_QUERY,
      'dynamodb:PutItem conversations',
      'dynamodb:GetItem conversations',
      PUBLISH,
    ],
    run: async () => {
      conversationHolding(0);
      const { provider } = createTestDeps();
      await route(handlerOf('send', provider), sendFrame());
      const again = await route(handlerOf('send', provider), sendFrame());
      expect(answerOf<SentFrame>(again)).toMatchObject({ seq: 1, duplicate: true });
    },
  },
  {
    fn: 'send',
    path: 'when a duplicate comes back without its key item and it reads that item too',
    touches: [
      CONVERSATIONS_QUERY,
      'dynamodb:PutItem conversations',
      'dynamodb:GetItem conversations',
      PUBLISH,
    ],
    run: async () => {
      const original = storedMessage(1, 'alice', CLIENT_MESSAGE_ID);
      ddb.on(QueryCommand).resolves({ Items: [{ seq: 1 }] });
      ddb.on(TransactWriteCommand).rejects(transactionCanceled('None', 'ConditionalCheckFailed'));
      ddb.on(GetCommand).callsFake((input: GetCommandInput) => ({
        Item:
          input.Key?.itemKey === idempotencyKey('alice', CLIENT_MESSAGE_ID)
            ? { seq: 1, messageId: original.messageId, serverTs: original.serverTs }
            : original,
      }));
      const { provider } = createTestDeps();
      const result = await route(handlerOf('send', provider), sendFrame());
      expect(answerOf<SentFrame>(result)).toMatchObject({ seq: 1, duplicate: true });
      expect(ddb.commandCalls(GetCommand)).toHaveLength(2);
    },
  },
  {
    fn: 'send',
    path: 'when another sender took the seq and it reads the last seq again',
    touches: [CONVERSATIONS_QUERY, 'dynamodb:PutItem conversations', PUBLISH],
    run: async () => {
      ddb
        .on(QueryCommand)
        .resolvesOnce({ Items: [] })
        .resolves({ Items: [{ seq: 1 }] });
      ddb
        .on(TransactWriteCommand)
        .rejectsOnce(transactionCanceled('ConditionalCheckFailed', 'None'))
        .resolves({});
      const { provider, sleep } = createTestDeps();
      const result = await route(handlerOf('send', provider), sendFrame());
      expect(answerOf<SentFrame>(result)).toMatchObject({ seq: 2, duplicate: false });
      expect(sleep).toHaveBeenCalledTimes(1);
    },
  },
  {
    fn: 'send',
    path: 'when a concurrent transaction conflicts and it tries again',
    touches: [CONVERSATIONS_QUERY, 'dynamodb:PutItem conversations', PUBLISH],
    run: async () => {
      ddb.on(QueryCommand).resolves({ Items: [] });
      ddb
        .on(TransactWriteCommand)
        .rejectsOnce(transactionCanceled('TransactionConflict', 'None'))
        .resolves({});
      const { provider } = createTestDeps();
      const result = await route(handlerOf('send', provider), sendFrame());
      expect(answerOf<SentFrame>(result)).toMatchObject({ seq: 1, duplicate: false });
      expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(2);
    },
  },
  {
    fn: 'send',
    path: "when it sends into a group and raises the sender's own watermarks",
    touches: [
      CONVERSATIONS_QUERY,
      'dynamodb:GetItem conversations',
      'dynamodb:PutItem conversations',
      'dynamodb:UpdateItem conversations',
      PUBLISH,
    ],
    run: async () => {
      groupOfAliceAndBob();
      const { provider } = createTestDeps();
      const result = await route(
        handlerOf('send', provider),
        sendFrame({ to: undefined, conversationId: GROUP }),
      );
      expect(answerOf<SentFrame>(result)).toMatchObject({ type: 'sent', conversationId: GROUP, seq: 2 });
      // Alice's own watermarks, and the holders of everyone, unknown in this table until now
      // (bob still holds everyone back at 0).
      expect(ddb.commandCalls(UpdateCommand)).toHaveLength(3);
    },
  },
  {
    fn: 'send',
    path: "when its fast path posts to both members' devices and deletes one that is gone",
    touches: [
      CONVERSATIONS_QUERY,
      'dynamodb:PutItem conversations',
      'dynamodb:Query connections',
      POST,
      'dynamodb:DeleteItem connections',
      PUBLISH,
    ],
    run: async () => {
      conversationHolding(0);
      ddb.on(QueryCommand, { TableName: NAMES.connectionsTable }).callsFake((input: QueryCommandInput) => ({
        Items: CONNECTIONS[input.ExpressionAttributeValues?.[':u'] as string] ?? [],
      }));
      api.on(PostToConnectionCommand, { ConnectionId: 'conn-bob-phone' }).rejects(gone());
      ddb.on(DeleteCommand).resolves({});
      const { provider } = createTestDeps({ config: testConfig({ fastPathMaxConnections: 16 }) });
      const result = await route(handlerOf('send', provider), sendFrame());
      expect(answerOf<SentFrame>(result)).toMatchObject({ type: 'sent', seq: 1 });
      expect(publishedRecords(kinesis)).toHaveLength(1);
    },
  },
  {
    fn: 'send',
    path: "when its fast path posts to a small group's indexed devices and one leaves the index as gone",
    touches: [
      CONVERSATIONS_QUERY,
      'dynamodb:GetItem conversations',
      'dynamodb:PutItem conversations',
      'dynamodb:UpdateItem conversations',
      'dynamodb:Query group-connections',
      POST,
      'dynamodb:DeleteItem connections',
      'dynamodb:BatchWriteItem group-connections',
      PUBLISH,
    ],
    run: async () => {
      groupOfAliceAndBob();
      ddb.on(QueryCommand, { TableName: NAMES.groupConnectionsTable }).resolves({
        // alice sends from her phone, which the fast path leaves to the stream: her laptop gets it.
        Items: [connection('alice', 'phone'), connection('alice', 'laptop'), connection('bob', 'phone')].map(
          (item) => ({
            ...item,
            conversationId: GROUP,
          }),
        ),
      });
      api.on(PostToConnectionCommand, { ConnectionId: 'conn-bob-phone' }).rejects(gone());
      ddb.on(DeleteCommand).resolves({});
      ddb.on(BatchWriteCommand).resolves({});
      const { provider } = createTestDeps({ config: testConfig({ fastPathMaxConnections: 16 }) });
      const result = await route(
        handlerOf('send', provider),
        sendFrame({ to: undefined, conversationId: GROUP }),
      );
      expect(answerOf<SentFrame>(result)).toMatchObject({ type: 'sent', conversationId: GROUP, seq: 2 });
      expect(postedTo().sort()).toEqual(['conn-alice-laptop', 'conn-bob-phone']);
      expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(1);
    },
  },
  // ------------------------------------------------------------------------ ack
  {
    fn: 'ack',
    path: 'when it raises the delivered watermark and publishes the receipt',
    touches: [CONVERSATIONS_QUERY, 'dynamodb:UpdateItem conversations', PUBLISH],
    run: async () => {
      conversationHolding(5);
      const { provider } = createTestDeps();
      const result = await route(handlerOf('ack', provider), ackFrame('delivered', 3));
      expect(answerOf<AckedFrame>(result)).toMatchObject({ kind: 'delivered', seq: 3 });
      expect(publishedRecords(kinesis)).toHaveLength(1);
    },
  },
  {
    fn: 'ack',
    path: 'when it raises the read watermark and delivered with it',
    touches: [CONVERSATIONS_QUERY, 'dynamodb:UpdateItem conversations', PUBLISH],
    run: async () => {
      conversationHolding(5);
      const { provider } = createTestDeps();
      const result = await route(handlerOf('ack', provider), ackFrame('read', 3));
      expect(answerOf<AckedFrame>(result)).toMatchObject({ kind: 'read', seq: 3 });
      expect(publishedRecords(kinesis)).toHaveLength(1);
    },
  },
  {
    fn: 'ack',
    path: 'when the watermark is already ahead and the failed condition returns it',
    touches: [CONVERSATIONS_QUERY, 'dynamodb:UpdateItem conversations'],
    run: async () => {
      const table = conversationHolding(5);
      table.put({ conversationId: CONVERSATION, itemKey: 'member#alice', userId: 'alice', deliveredSeq: 5 });
      const { provider } = createTestDeps();
      const result = await route(handlerOf('ack', provider), ackFrame('delivered', 3));
      expect(answerOf<AckedFrame>(result)).toMatchObject({ seq: 5 });
      expect(ddb.commandCalls(GetCommand)).toHaveLength(0);
    },
  },
  {
    fn: 'ack',
    path: 'when the watermark is not moved and the failed condition returns no item, so it reads it',
    touches: [CONVERSATIONS_QUERY, 'dynamodb:UpdateItem conversations', 'dynamodb:GetItem conversations'],
    run: async () => {
      ddb.on(QueryCommand).resolves({ Items: [{ seq: 7 }] });
      ddb.on(UpdateCommand).rejects(conditionFailed());
      ddb.on(GetCommand).resolves({ Item: { userId: 'alice', deliveredSeq: 5 } });
      const { provider } = createTestDeps();
      const result = await route(handlerOf('ack', provider), ackFrame('delivered', 3));
      expect(answerOf<AckedFrame>(result)).toMatchObject({ seq: 5 });
    },
  },
  {
    fn: 'ack',
    path: "when it refuses a seq past the conversation's last",
    touches: [CONVERSATIONS_QUERY],
    run: async () => {
      conversationHolding(2);
      const { provider } = createTestDeps();
      const result = await route(handlerOf('ack', provider), ackFrame('read', 3));
      expect(errorOf(result).code).toBe('bad_request');
    },
  },
  {
    fn: 'ack',
    path: 'in a group, when the member held the lowest watermark and it recomputes everyone',
    touches: [
      CONVERSATIONS_QUERY,
      'dynamodb:GetItem conversations',
      'dynamodb:UpdateItem conversations',
      PUBLISH,
    ],
    run: async () => {
      groupOfAliceAndBob();
      const { provider } = createTestDeps();
      const result = await route(handlerOf('ack', provider), {
        ...ackFrame('read', 1),
        conversationId: GROUP,
      });
      expect(answerOf<AckedFrame>(result)).toMatchObject({ conversationId: GROUP, kind: 'read', seq: 1 });
      // Bob never acked and joined at 1: he holds everyone at 0, so only alice's receipt goes out.
      expect(publishedRecords(kinesis).map((record) => (record.event as { type: string }).type)).toEqual([
        'receipt',
      ]);
    },
  },
  // ----------------------------------------------------------------------- sync
  {
    fn: 'sync',
    path: "when it reads a page of a group and the caller's own watermarks",
    touches: [CONVERSATIONS_QUERY, 'dynamodb:GetItem conversations'],
    run: async () => {
      const table = groupOfAliceAndBob();
      table.put({ conversationId: GROUP, itemKey: 'member#alice', userId: 'alice', readSeq: 1 });
      const { provider } = createTestDeps();
      const result = await route(handlerOf('sync', provider), {
        action: 'sync',
        requestId: 'r3',
        conversationId: GROUP,
        afterSeq: 0,
      });
      const history = answerOf<HistoryFrame>(result);
      expect(history.receipts).toEqual([{ userId: 'alice', deliveredSeq: 0, readSeq: 1 }]);
    },
  },
  {
    fn: 'sync',
    path: "when it reads a page of history and the members' receipts",
    touches: [CONVERSATIONS_QUERY],
    run: async () => {
      const table = conversationHolding(3);
      table.put({ conversationId: CONVERSATION, itemKey: 'member#bob', userId: 'bob', deliveredSeq: 2 });
      const { provider } = createTestDeps();
      const result = await route(handlerOf('sync', provider), {
        action: 'sync',
        requestId: 'r3',
        conversationId: CONVERSATION,
        afterSeq: 1,
      });
      const history = answerOf<HistoryFrame>(result);
      expect(history.messages.map((message) => message.seq)).toEqual([2, 3]);
      expect(history.receipts).toContainEqual({ userId: 'bob', deliveredSeq: 2, readSeq: 0 });
    },
  },
  {
    fn: 'sync',
    path: 'when it asks past the largest seq a sort key can hold',
    touches: [CONVERSATIONS_QUERY],
    run: async () => {
      conversationHolding(3);
      const { provider } = createTestDeps();
      const result = await route(handlerOf('sync', provider), {
        action: 'sync',
        requestId: 'r3',
        conversationId: CONVERSATION,
        afterSeq: 999_999_999_999,
      });
      expect(answerOf<HistoryFrame>(result)).toMatchObject({ messages: [], lastSeq: 3, hasMore: false });
    },
  },
  // -------------------------------------------------------------- conversations
  {
    fn: 'conversations',
    path: "when it lists the caller's changed conversations from the start",
    touches: [
      'dynamodb:BatchGetItem user-conversations',
      'dynamodb:Query user-conversations/index/byUpdatedAt',
    ],
    run: async () => {
      const lists = new FakeUserConversationsTable().install(ddb, { query: true });
      listsHoldingSeq1(lists);
      const { provider } = createTestDeps();
      const result = await route(handlerOf('conversations', provider), {
        action: 'conversations',
        requestId: 'r4',
      });
      expect(answerOf<ConversationsPageFrame>(result)).toMatchObject({
        conversations: [{ conversationId: CONVERSATION }],
        hasMore: false,
      });
    },
  },
  {
    fn: 'conversations',
    path: 'when it lists from a cursor a page with more to come',
    touches: [
      'dynamodb:BatchGetItem user-conversations',
      'dynamodb:Query user-conversations/index/byUpdatedAt',
    ],
    run: async () => {
      const lists = new FakeUserConversationsTable().install(ddb, { query: true });
      listsHoldingSeq1(lists);
      lists.put({
        ...lists.entry('alice', CONVERSATION),
        itemKey: 'conv#dm:alice:carol',
        conversationId: 'dm:alice:carol',
        members: ['alice', 'carol'],
        updatedAt: NOW - 5,
      });
      lists.put({ userId: 'alice', itemKey: 'clock', lastUpdatedAt: NOW - 5 });
      const { provider } = createTestDeps();
      const result = await route(handlerOf('conversations', provider), {
        action: 'conversations',
        requestId: 'r4',
        since: encodeCursor(NOW - 100),
        limit: 1,
      });
      expect(answerOf<ConversationsPageFrame>(result)).toMatchObject({ hasMore: true });
    },
  },
  {
    fn: 'conversations',
    path: 'when it refuses a cursor it never gave',
    touches: [],
    run: async () => {
      const { provider } = createTestDeps();
      const result = await route(handlerOf('conversations', provider), {
        action: 'conversations',
        requestId: 'r4',
        since: 'not-a-cursor',
      });
      expect(errorOf(result).code).toBe('bad_request');
    },
  },
  // --------------------------------------------------------------------- typing
  {
    fn: 'typing',
    path: 'when a member blocks the other, and it posts nothing',
    touches: ['dynamodb:BatchGetItem user-conversations'],
    run: async () => {
      serveConnections();
      serveBlock('bob', 'alice');
      const { provider } = createTestDeps();
      const result = await route(handlerOf('typing', provider), {
        action: 'typing',
        conversationId: CONVERSATION,
        state: 'start',
      });
      expect(result).toEqual({ statusCode: 200 });
      expect(postedTo()).toEqual([]);
    },
  },
  {
    fn: 'typing',
    path: "when it posts to the other member's devices",
    touches: ['dynamodb:Query connections', POST],
    run: async () => {
      serveConnections();
      const { provider } = createTestDeps();
      const result = await route(handlerOf('typing', provider), {
        action: 'typing',
        conversationId: CONVERSATION,
        state: 'start',
      });
      expect(result).toEqual({ statusCode: 200 });
      expect(postedTo()).toEqual(['conn-bob-phone']);
    },
  },
  {
    fn: 'typing',
    path: 'when a peer connection is gone and it deletes it',
    touches: ['dynamodb:Query connections', POST, 'dynamodb:DeleteItem connections'],
    run: async () => {
      serveConnections();
      api.on(PostToConnectionCommand).rejects(gone());
      ddb.on(DeleteCommand).resolves({});
      const { provider } = createTestDeps();
      const result = await route(handlerOf('typing', provider), {
        action: 'typing',
        conversationId: CONVERSATION,
        state: 'stop',
      });
      expect(result).toEqual({ statusCode: 200 });
      expect(ddb.commandCalls(DeleteCommand)).toHaveLength(1);
    },
  },
  {
    fn: 'typing',
    path: 'when the other member has no open connection',
    touches: ['dynamodb:Query connections'],
    run: async () => {
      serveConnections({});
      const { provider } = createTestDeps();
      const result = await route(handlerOf('typing', provider), {
        action: 'typing',
        conversationId: CONVERSATION,
        state: 'start',
      });
      expect(result).toEqual({ statusCode: 200 });
      expect(api.calls()).toHaveLength(0);
    },
  },
  {
    fn: 'typing',
    path: "when it claims a start in a group and posts to the other members' devices",
    touches: [
      'dynamodb:GetItem conversations',
      'dynamodb:UpdateItem conversations',
      'dynamodb:Query group-connections',
      POST,
    ],
    run: async () => {
      groupOfAliceAndBob();
      groupConnectionsIndexingBob();
      ddb.on(UpdateCommand).resolves({});
      const { provider } = createTestDeps();
      const result = await route(handlerOf('typing', provider), {
        action: 'typing',
        conversationId: GROUP,
        state: 'start',
      });
      expect(result).toEqual({ statusCode: 200 });
      expect(postedTo()).toEqual(['conn-bob-phone']);
    },
  },
  {
    fn: 'typing',
    path: 'when a start in a group is held back and a gone device is deleted on the stop after it',
    touches: [
      'dynamodb:UpdateItem conversations',
      'dynamodb:Query group-connections',
      POST,
      'dynamodb:DeleteItem connections',
      'dynamodb:BatchWriteItem group-connections',
    ],
    run: async () => {
      groupOfAliceAndBob();
      groupConnectionsIndexingBob();
      ddb.on(UpdateCommand).rejects(conditionFailed());
      api.on(PostToConnectionCommand).rejects(gone());
      ddb.on(DeleteCommand).resolves({});
      const { provider } = createTestDeps();
      const typing = handlerOf('typing', provider);
      await route(typing, { action: 'typing', conversationId: GROUP, state: 'start' });
      expect(api.calls()).toHaveLength(0);
      await route(typing, { action: 'typing', conversationId: GROUP, state: 'stop' });
      expect(ddb.commandCalls(DeleteCommand)).toHaveLength(1);
    },
  },
  // --------------------------------------------------------- subscribe-presence
  {
    fn: 'subscribe-presence',
    path: 'when it subscribes to a user who wrote to the caller',
    touches: [
      'dynamodb:BatchGetItem user-conversations',
      'dynamodb:BatchGetItem presence',
      'dynamodb:BatchWriteItem presence-subscriptions',
    ],
    run: async () => {
      servePresenceTables(['bob'], [presenceRecord('bob')]);
      const { provider } = createTestDeps();
      const result = await route(handlerOf('subscribe-presence', provider), subscribeFrame(['bob']));
      expect(answerOf<PresenceFrame>(result).users).toEqual([
        { userId: 'bob', online: true, lastSeen: null },
      ]);
    },
  },
  {
    fn: 'subscribe-presence',
    path: 'when it subscribes to a stranger, who stays hidden',
    touches: ['dynamodb:BatchGetItem user-conversations'],
    run: async () => {
      servePresenceTables([], [presenceRecord('carol')]);
      const { provider } = createTestDeps();
      const result = await route(handlerOf('subscribe-presence', provider), subscribeFrame(['carol']));
      expect(answerOf<PresenceFrame>(result).users).toEqual([
        { userId: 'carol', online: false, lastSeen: null },
      ]);
      expect(ddb.commandCalls(BatchGetCommand)).toHaveLength(1);
    },
  },
  {
    fn: 'subscribe-presence',
    path: 'when a block committed while it subscribed, and it ends that subscription',
    touches: ['dynamodb:BatchGetItem user-conversations', 'dynamodb:DeleteItem presence-subscriptions'],
    run: async () => {
      ddb.on(BatchWriteCommand).resolves({});
      ddb.on(DeleteCommand).resolves({});
      let reads = 0;
      ddb.on(BatchGetCommand).callsFake((input: BatchGetCommandInput) => {
        const keys = input.RequestItems?.[NAMES.userConversationsTable]?.Keys;
        if (!keys) return { Responses: { [NAMES.presenceTable]: [presenceRecord('bob')] } };
        reads += 1;
        // The consent read sees bob's entry; the read after the write sees his block.
        return {
          Responses: {
            [NAMES.userConversationsTable]:
              reads === 1
                ? [{ userId: 'bob', itemKey: `conv#${CONVERSATION}`, wroteAt: NOW }]
                : [{ userId: 'bob', itemKey: 'block#alice' }],
          },
        };
      });
      const { provider } = createTestDeps();
      const result = await route(handlerOf('subscribe-presence', provider), subscribeFrame(['bob']));
      expect(answerOf<PresenceFrame>(result).users).toEqual([
        { userId: 'bob', online: false, lastSeen: null },
      ]);
      expect(ddb.commandCalls(DeleteCommand).map((call) => call.args[0].input.Key)).toEqual([
        { watchedUserId: 'bob', connectionId: messageEvent().requestContext.connectionId },
      ]);
    },
  },
  {
    fn: 'subscribe-presence',
    path: 'when it subscribes the caller to itself and retries what DynamoDB left unprocessed',
    touches: ['dynamodb:BatchGetItem presence', 'dynamodb:BatchWriteItem presence-subscriptions'],
    run: async () => {
      const key = { userId: 'alice' };
      ddb
        .on(BatchGetCommand)
        .resolvesOnce({ Responses: {}, UnprocessedKeys: { [NAMES.presenceTable]: { Keys: [key] } } })
        .resolves({ Responses: { [NAMES.presenceTable]: [presenceRecord('alice')] } });
      ddb
        .on(BatchWriteCommand)
        .resolvesOnce({
          UnprocessedItems: {
            [NAMES.presenceSubscriptionsTable]: [{ PutRequest: { Item: { watchedUserId: 'alice' } } }],
          },
        })
        .resolves({});
      const { provider } = createTestDeps();
      const result = await route(handlerOf('subscribe-presence', provider), subscribeFrame(['alice']));
      expect(answerOf<PresenceFrame>(result).users).toEqual([
        { userId: 'alice', online: true, lastSeen: null },
      ]);
      expect(ddb.commandCalls(QueryCommand)).toHaveLength(0);
      expect(ddb.commandCalls(BatchGetCommand)).toHaveLength(2);
      expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(2);
    },
  },
  // ------------------------------------------------------------------- groups
  {
    fn: 'create-group',
    path: 'when it creates a group and publishes its event',
    touches: [
      CONVERSATIONS_QUERY,
      'dynamodb:GetItem conversations',
      'dynamodb:PutItem conversations',
      // The holders of everyone over the first members.
      'dynamodb:UpdateItem conversations',
      PUBLISH,
    ],
    run: async () => {
      const table = new FakeConversationsTable().install(ddb);
      ddb.on(TransactWriteCommand).callsFake((input: TransactWriteCommandInput) => {
        for (const { Put: put } of input.TransactItems ?? []) if (put?.Item) table.put(put.Item);
        return {};
      });
      const { provider } = createTestDeps();
      const result = await route(handlerOf('create-group', provider), {
        action: 'createGroup',
        requestId: 'r7',
        conversationId: GROUP,
        title: 'Lunch',
        members: ['bob'],
      });
      expect(answerOf(result)).toMatchObject({ type: 'groupChanged', seq: 1, duplicate: false });
    },
  },
  ...(['add-members', 'remove-member', 'set-title', 'set-admin'] as const).map((fn) => ({
    fn,
    path: 'when it changes a group and publishes the event',
    touches: [
      CONVERSATIONS_QUERY,
      'dynamodb:GetItem conversations',
      'dynamodb:PutItem conversations',
      'dynamodb:UpdateItem conversations',
      PUBLISH,
    ],
    run: async () => {
      groupOfAliceAndBob();
      ddb.on(TransactWriteCommand).resolves({});
      const { provider } = createTestDeps();
      const result = await route(handlerOf(fn, provider), GROUP_CHANGES[fn]);
      expect(answerOf(result)).toMatchObject({ type: 'groupChanged', seq: 2 });
    },
  })),
  {
    fn: 'group-info',
    path: "when it reads the group, its last seq and the members' receipts",
    touches: [CONVERSATIONS_QUERY, 'dynamodb:GetItem conversations'],
    run: async () => {
      groupOfAliceAndBob();
      const { provider } = createTestDeps();
      const result = await route(handlerOf('group-info', provider), {
        action: 'groupInfo',
        requestId: 'r12',
        conversationId: GROUP,
      });
      expect(answerOf(result)).toMatchObject({ type: 'group', memberCount: 2, lastSeq: 1 });
    },
  },
  // ------------------------------------------------------------------- blocking
  {
    fn: 'block',
    path: "when it blocks a user, ends its subscriptions to the caller and tells the caller's other devices",
    touches: [
      'dynamodb:PutItem user-conversations',
      'dynamodb:Query presence-subscriptions',
      'dynamodb:DeleteItem presence-subscriptions',
      'dynamodb:Query connections',
      POST,
    ],
    run: async () => {
      serveBlockerTables({ 'conn-mallory-phone': 'mallory', 'conn-bob-phone': 'bob' });
      const { provider } = createTestDeps();
      const result = await route(handlerOf('block', provider), {
        action: 'block',
        requestId: 'r1',
        userId: 'mallory',
      });
      expect(answerOf(result)).toEqual({ type: 'blocked', requestId: 'r1', userId: 'mallory' });
      expect(ddb.commandCalls(DeleteCommand).map((call) => call.args[0].input.Key)).toEqual([
        { watchedUserId: 'alice', connectionId: 'conn-mallory-phone' },
      ]);
      expect(postedTo().sort()).toEqual(['conn-alice-laptop', 'conn-alice-phone']);
    },
  },
  {
    fn: 'block',
    path: "when one of the caller's other devices is gone and it deletes it",
    touches: ['dynamodb:Query connections', POST, 'dynamodb:DeleteItem connections'],
    run: async () => {
      serveBlockerTables({});
      api.on(PostToConnectionCommand, { ConnectionId: 'conn-alice-laptop' }).rejects(gone());
      const { provider } = createTestDeps();
      const result = await route(handlerOf('block', provider), {
        action: 'block',
        requestId: 'r1',
        userId: 'mallory',
      });
      expect(answerOf(result)).toMatchObject({ type: 'blocked' });
      expect(ddb.commandCalls(DeleteCommand).map((call) => call.args[0].input.Key)).toContainEqual({
        userId: 'alice',
        connectionId: 'conn-alice-laptop',
      });
    },
  },
  {
    fn: 'unblock',
    path: "when it takes a block back and tells the caller's other devices, one of them gone",
    touches: [
      'dynamodb:DeleteItem user-conversations',
      'dynamodb:Query connections',
      POST,
      'dynamodb:DeleteItem connections',
    ],
    run: async () => {
      serveBlockerTables({});
      api.on(PostToConnectionCommand, { ConnectionId: 'conn-alice-laptop' }).rejects(gone());
      const { provider } = createTestDeps();
      const result = await route(handlerOf('unblock', provider), {
        action: 'unblock',
        requestId: 'r2',
        userId: 'mallory',
      });
      expect(answerOf(result)).toEqual({ type: 'unblocked', requestId: 'r2', userId: 'mallory' });
    },
  },
  {
    fn: 'blocks',
    path: "when it reads a page of the caller's blocks",
    touches: ['dynamodb:Query user-conversations'],
    run: async () => {
      ddb.on(QueryCommand).resolves({ Items: [{ blockedUserId: 'mallory' }] });
      const { provider } = createTestDeps();
      const result = await route(handlerOf('blocks', provider), { action: 'blocks', requestId: 'r3' });
      expect(answerOf(result)).toEqual({
        type: 'blocks',
        requestId: 'r3',
        userIds: ['mallory'],
        hasMore: false,
      });
    },
  },
  ...PUSH_REGISTRATION_SCENARIOS,
  // --------------------------------------------------------------------- fanout
  {
    fn: 'fanout',
    path: "when it delivers a message to every connection and writes both members' lists",
    touches: [
      'dynamodb:Query connections',
      POST,
      'dynamodb:BatchGetItem user-conversations',
      'dynamodb:PutItem user-conversations',
    ],
    run: async () => {
      const lists = new FakeUserConversationsTable().install(ddb);
      serveConnections();
      const result = await handlerOf('fanout', createTestDeps().provider)(
        kinesisEventOf([messageOf(1)]),
        lambdaContext,
      );
      expect(result).toEqual({ batchItemFailures: [] });
      expect(postedTo().sort()).toEqual(['conn-alice-laptop', 'conn-alice-phone', 'conn-bob-phone']);
      expect(lists.entry('bob', CONVERSATION)?.lastSeq).toBe(1);
    },
  },
  {
    fn: 'fanout',
    path: "when it delivers a receipt and merges it into the members' entries",
    touches: [
      'dynamodb:Query connections',
      POST,
      'dynamodb:BatchGetItem user-conversations',
      'dynamodb:PutItem user-conversations',
    ],
    run: async () => {
      const lists = new FakeUserConversationsTable().install(ddb);
      listsHoldingSeq1(lists);
      serveConnections();
      const result = await handlerOf('fanout', createTestDeps().provider)(
        kinesisEventOf([receiptOf('bob', 'read', 1)]),
        lambdaContext,
      );
      expect(result).toEqual({ batchItemFailures: [] });
      expect(lists.entry('alice', CONVERSATION)?.receipts).toContainEqual({
        userId: 'bob',
        deliveredSeq: 1,
        readSeq: 1,
      });
    },
  },
  {
    fn: 'fanout',
    path: 'when a receipt finds no entry, which it never creates',
    touches: ['dynamodb:Query connections', POST, 'dynamodb:BatchGetItem user-conversations'],
    run: async () => {
      new FakeUserConversationsTable().install(ddb);
      serveConnections();
      const result = await handlerOf('fanout', createTestDeps().provider)(
        kinesisEventOf([receiptOf('bob', 'delivered', 1)]),
        lambdaContext,
      );
      expect(result).toEqual({ batchItemFailures: [] });
      expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(0);
    },
  },
  {
    fn: 'fanout',
    path: 'when a connection is gone and it deletes it',
    touches: ['dynamodb:Query connections', POST, 'dynamodb:DeleteItem connections'],
    run: async () => {
      new FakeUserConversationsTable().install(ddb);
      serveConnections();
      api.on(PostToConnectionCommand, { ConnectionId: 'conn-bob-phone' }).rejects(gone());
      ddb.on(DeleteCommand).resolves({});
      const result = await handlerOf('fanout', createTestDeps().provider)(
        kinesisEventOf([messageOf(1)]),
        lambdaContext,
      );
      expect(result).toEqual({ batchItemFailures: [] });
      expect(ddb.commandCalls(DeleteCommand).map((call) => call.args[0].input.Key)).toEqual([
        { userId: 'bob', connectionId: 'conn-bob-phone' },
      ]);
    },
  },
  {
    fn: 'fanout',
    path: 'when it posts again to a connection that appeared while the lists were written',
    touches: ['dynamodb:Query connections', POST],
    run: async () => {
      new FakeUserConversationsTable().install(ddb);
      const late = connection('bob', 'late');
      ddb.on(QueryCommand, { ExpressionAttributeValues: { ':u': 'alice' } }).resolves({ Items: [] });
      ddb
        .on(QueryCommand, { ExpressionAttributeValues: { ':u': 'bob' } })
        .resolvesOnce({ Items: CONNECTIONS.bob })
        .resolves({ Items: [...(CONNECTIONS.bob ?? []), late] });
      const result = await handlerOf('fanout', createTestDeps().provider)(
        kinesisEventOf([messageOf(1)]),
        lambdaContext,
      );
      expect(result).toEqual({ batchItemFailures: [] });
      expect(postedTo()).toEqual(['conn-bob-phone', late.connectionId]);
    },
  },
  {
    fn: 'fanout',
    path: 'when a concurrent list write wins and it reads the list again',
    touches: ['dynamodb:BatchGetItem user-conversations', 'dynamodb:PutItem user-conversations'],
    run: async () => {
      const lists = new FakeUserConversationsTable().install(ddb);
      let conflicted = false;
      ddb.on(TransactWriteCommand).callsFake((input: TransactWriteCommandInput) => {
        if (conflicted) return lists.transactWrite(input);
        conflicted = true;
        throw new TransactionCanceledException({
          message: 'Transaction cancelled [ConditionalCheckFailed]',
          $metadata: { httpStatusCode: 400 },
          CancellationReasons: [{ Code: 'ConditionalCheckFailed' }],
        });
      });
      serveConnections();
      const result = await handlerOf('fanout', createTestDeps().provider)(
        kinesisEventOf([messageOf(1)]),
        lambdaContext,
      );
      expect(result).toEqual({ batchItemFailures: [] });
      expect(ddb.commandCalls(BatchGetCommand)).toHaveLength(3);
      expect(lists.entry('alice', CONVERSATION)?.lastSeq).toBe(1);
    },
  },
  {
    fn: 'fanout',
    path: "when it delivers a group's event through the group's index, and indexes the members it adds",
    touches: [
      'dynamodb:GetItem conversations',
      CONVERSATIONS_QUERY,
      'dynamodb:Query group-connections',
      'dynamodb:Query connections',
      'dynamodb:BatchWriteItem group-connections',
      POST,
    ],
    run: async () => {
      serveGroup([connection('alice', 'phone')]);
      new FakeUserConversationsTable().install(ddb);
      const result = await handlerOf('fanout', createTestDeps().provider)(
        kinesisEventOf([groupMessageOf(1, { kind: 'members-added', members: ['bob'] })]),
        lambdaContext,
      );
      expect(result).toEqual({ batchItemFailures: [] });
      expect(postedTo().sort()).toEqual(['conn-alice-phone', 'conn-bob-phone']);
    },
  },
  {
    fn: 'fanout',
    path: "when it hands a large group's posts to slices on the stream",
    touches: ['dynamodb:Query group-connections', PUBLISH],
    run: async () => {
      const members = Array.from({ length: 300 }, (_, n) => `u${n}`);
      serveGroup(
        members.map((userId) => connection(userId, 'phone')),
        members,
      );
      new FakeUserConversationsTable().install(ddb);
      const result = await handlerOf('fanout', createTestDeps().provider)(
        kinesisEventOf([groupMessageOf(2)]),
        lambdaContext,
      );
      expect(result).toEqual({ batchItemFailures: [] });
      expect(publishedRecords(kinesis).map((record) => record.PartitionKey)).toContain(`${GROUP}#0`);
    },
  },
  {
    fn: 'fanout',
    path: 'when it skips a record that is not a conversation event',
    touches: [],
    run: async () => {
      const result = await handlerOf('fanout', createTestDeps().provider)(
        kinesisEventOf([{ data: Buffer.from('not json').toString('base64'), partitionKey: CONVERSATION }]),
        lambdaContext,
      );
      expect(result).toEqual({ batchItemFailures: [] });
    },
  },
  // ---------------------------------------------------------- presence-notifier
  {
    fn: 'presence-notifier',
    path: "when it posts the changed users' presence to their subscribers",
    touches: ['dynamodb:BatchGetItem presence', 'dynamodb:Query presence-subscriptions', POST],
    run: async () => {
      serveSubscriptions({ bob: ['conn-alice-phone'], carol: ['conn-alice-phone'] });
      await handlerOf('presence-notifier', createTestDeps().provider)(presenceStreamEvent(), lambdaContext);
      expect(postedTo()).toEqual(['conn-alice-phone']);
    },
  },
  {
    fn: 'presence-notifier',
    path: 'when a subscriber is gone and it drops its subscriptions',
    touches: [
      'dynamodb:BatchGetItem presence',
      'dynamodb:Query presence-subscriptions',
      POST,
      'dynamodb:DeleteItem presence-subscriptions',
    ],
    run: async () => {
      serveSubscriptions({ bob: ['conn-alice-phone'], carol: ['conn-alice-phone'] });
      api.on(PostToConnectionCommand).rejects(gone());
      await handlerOf('presence-notifier', createTestDeps().provider)(presenceStreamEvent(), lambdaContext);
      expect(ddb.commandCalls(DeleteCommand).map((call) => call.args[0].input.Key)).toEqual([
        { watchedUserId: 'bob', connectionId: 'conn-alice-phone' },
        { watchedUserId: 'carol', connectionId: 'conn-alice-phone' },
      ]);
    },
  },
  {
    fn: 'presence-notifier',
    path: 'when nobody watches the users who changed',
    touches: ['dynamodb:BatchGetItem presence', 'dynamodb:Query presence-subscriptions'],
    run: async () => {
      serveSubscriptions({});
      await handlerOf('presence-notifier', createTestDeps().provider)(presenceStreamEvent(), lambdaContext);
      expect(api.calls()).toHaveLength(0);
    },
  },
  // ---------------------------------------------------------- push-notifier
  {
    fn: 'push-notifier',
    path: "when it pushes a group's message to a member's device that is not connected, whose address is gone",
    touches: [
      'dynamodb:GetItem conversations',
      CONVERSATIONS_QUERY,
      'dynamodb:Query push-devices',
      'dynamodb:Query connections',
      'dynamodb:BatchGetItem user-conversations',
      'dynamodb:PutItem push-devices',
      'dynamodb:DeleteItem push-devices',
    ],
    run: async () => {
      serveGroup([]);
      servePushDevices({ alice: 'tablet' });
      ddb.on(BatchGetCommand).resolves({ Responses: {} });
      const sent: string[] = [];
      const { deps } = createTestDeps();
      const provider = () => ({ ...deps, pushSenders: { webpush: goneSender(sent) } });
      const result = await handlerOf('push-notifier', provider)(
        kinesisEventOf([groupMessageOf(2)]),
        lambdaContext,
      );
      expect(result).toEqual({ batchItemFailures: [] });
      expect(sent).toEqual(['alice/tablet']);
    },
  },
  {
    fn: 'push-notifier',
    path: 'when the recipient of a one-to-one message has no registration',
    touches: ['dynamodb:Query push-devices'],
    run: async () => {
      servePushDevices({});
      const result = await handlerOf('push-notifier', createTestDeps().provider)(
        kinesisEventOf([messageOf(2)]),
        lambdaContext,
      );
      expect(result).toEqual({ batchItemFailures: [] });
    },
  },
];

/** APNs paths of the push notifier: bob's tablet is registered with APNs, `endpoint` its SNS endpoint when made. */
function pushToApnsScenario(path: string, touches: Access[], serve: () => void, endpoint?: string): Scenario {
  return {
    fn: 'push-notifier',
    path,
    touches: ['dynamodb:Query push-devices', 'dynamodb:PutItem push-devices', ...touches],
    run: async () => {
      serveConnections();
      ddb.on(QueryCommand, { TableName: NAMES.pushDevicesTable }).resolves({
        Items: [
          {
            userId: 'alice',
            itemKey: 'device#tablet',
            deviceId: 'tablet',
            address: { kind: 'apns', token: 'ab12' },
            registeredAt: NOW,
            ...(endpoint ? { platformEndpointArn: endpoint } : {}),
          },
        ],
      });
      ddb.on(GetCommand, { TableName: NAMES.conversationsTable }).resolves({});
      ddb.on(PutCommand, { TableName: NAMES.pushDevicesTable }).resolves({});
      ddb.on(UpdateCommand, { TableName: NAMES.pushDevicesTable }).resolves({});
      ddb.on(DeleteCommand, { TableName: NAMES.pushDevicesTable }).resolves({});
      serve();
      const { provider } = createTestDeps({ config: PUSH_CONFIG });
      const result = await handlerOf('push-notifier', provider)(
        kinesisEventOf([messageOf(2)]),
        lambdaContext,
      );
      expect(result).toEqual({ batchItemFailures: [] });
    },
  };
}

const APNS_PUSH_SCENARIOS: Scenario[] = [
  pushToApnsScenario(
    'when it makes the SNS endpoint of an APNs token, keeps it and publishes to it',
    [
      'sns:CreatePlatformEndpoint platform-application',
      'dynamodb:UpdateItem push-devices',
      'sns:Publish platform-endpoint',
    ],
    () => {
      sns.on(CreatePlatformEndpointCommand).resolves({ EndpointArn: ENDPOINT_ARN });
      sns.on(PublishCommand).resolves({ MessageId: 'm1' });
    },
  ),
  pushToApnsScenario(
    'when an endpoint of the same token exists disabled and it enables it again',
    [
      'sns:CreatePlatformEndpoint platform-application',
      'sns:GetEndpointAttributes platform-endpoint',
      'sns:SetEndpointAttributes platform-endpoint',
      'sns:Publish platform-endpoint',
    ],
    () => {
      sns
        .on(CreatePlatformEndpointCommand)
        .rejects(
          Object.assign(
            new Error(
              `Invalid parameter: Token Reason: Endpoint ${ENDPOINT_ARN} already exists with the same Token, but different attributes.`,
            ),
            { name: 'InvalidParameterException' },
          ),
        );
      sns.on(GetEndpointAttributesCommand).resolves({ Attributes: { Token: 'ab12', Enabled: 'false' } });
      sns.on(SetEndpointAttributesCommand).resolves({});
      sns.on(PublishCommand).resolves({ MessageId: 'm1' });
    },
  ),
  pushToApnsScenario(
    'when SNS finds the endpoint disabled: it deletes the endpoint and the registration',
    [
      'sns:Publish platform-endpoint',
      'sns:DeleteEndpoint platform-endpoint',
      'dynamodb:DeleteItem push-devices',
    ],
    () => {
      sns
        .on(PublishCommand)
        .rejects(Object.assign(new Error('Endpoint is disabled'), { name: 'EndpointDisabledException' }));
      sns.on(DeleteEndpointCommand).resolves({});
    },
    ENDPOINT_ARN,
  ),
];
SCENARIOS.push(...APNS_PUSH_SCENARIOS);

/** One Web Push registration per user (its device), as push-devices answers; the other tables as `serveGroup` does. */
function servePushDevices(devices: Record<string, string>) {
  ddb.on(QueryCommand, { TableName: NAMES.pushDevicesTable }).callsFake((input: QueryCommandInput) => {
    const userId = input.ExpressionAttributeValues?.[':u'] as string;
    const deviceId = devices[userId];
    return {
      Items: deviceId
        ? [
            {
              userId,
              itemKey: `device#${deviceId}`,
              deviceId,
              address: {
                kind: 'webpush',
                endpoint: `https://fcm.googleapis.com/fcm/send/${userId}`,
                keys: { p256dh: 'B'.repeat(87), auth: 'A'.repeat(22) },
              },
              registeredAt: NOW,
            },
          ]
        : [],
    };
  });
  ddb.on(PutCommand, { TableName: NAMES.pushDevicesTable }).resolves({});
  ddb.on(DeleteCommand, { TableName: NAMES.pushDevicesTable }).resolves({});
}

/** A Web Push sender whose every push finds the address gone. */
function goneSender(sent: string[]): PushSender {
  return {
    send: async (registration) => {
      sent.push(`${registration.userId}/${registration.deviceId}`);
      return 'gone';
    },
  };
}

function resetMocks() {
  for (const mock of [ddb, ddbBase, kinesis, api, secrets, sns]) mock.reset();
}

/**
 * Drives one path from clean mocks and returns the permissions its calls needed, and how
 * the path's own checks failed, if they did: a call outside the grant often breaks the
 * path too, and the test names the call before the broken path.
 */
async function accessesOf(
  scenario: Scenario,
): Promise<{ used: Access[]; failure?: unknown; built: FunctionId[] }> {
  resetMocks();
  builtFunctions.clear();
  try {
    await scenario.run();
  } catch (failure) {
    return { used: recordedAccesses(), failure, built: [...builtFunctions] };
  }
  return { used: recordedAccesses(), built: [...builtFunctions] };
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

describe('what each call needs from IAM', () => {
  it('names the action of each item of a transaction, on its own table', () => {
    const command = new TransactWriteCommand({
      TransactItems: [
        { Put: { TableName: NAMES.userConversationsTable, Item: {} } },
        { Update: { TableName: NAMES.presenceTable, Key: {}, UpdateExpression: 'SET a = :a' } },
        { Delete: { TableName: NAMES.connectionsTable, Key: {} } },
        { ConditionCheck: { TableName: NAMES.conversationsTable, Key: {}, ConditionExpression: 'x' } },
      ],
    });

    expect(dynamodbAccesses(command as unknown as SentCommand)).toEqual([
      'dynamodb:PutItem user-conversations',
      'dynamodb:UpdateItem presence',
      'dynamodb:DeleteItem connections',
      'dynamodb:ConditionCheckItem conversations',
    ]);
  });

  it('names a batch action once for every table the batch names', () => {
    const command = new BatchGetCommand({
      RequestItems: { [NAMES.presenceTable]: { Keys: [] }, [NAMES.connectionsTable]: { Keys: [] } },
    });

    expect(dynamodbAccesses(command as unknown as SentCommand)).toEqual([
      'dynamodb:BatchGetItem presence',
      'dynamodb:BatchGetItem connections',
    ]);
  });

  it('names the index a query reads, and the base client commands like the document ones', () => {
    const query = new QueryCommand({ TableName: NAMES.userConversationsTable, IndexName: 'byUpdatedAt' });
    const get = new GetItemCommand({ TableName: NAMES.presenceTable, Key: {} });

    expect(dynamodbAccesses(query as unknown as SentCommand)).toEqual([
      'dynamodb:Query user-conversations/index/byUpdatedAt',
    ]);
    expect(dynamodbAccesses(get as unknown as SentCommand)).toEqual(['dynamodb:GetItem presence']);
  });

  it('names a table this stack does not define as one no grant covers', () => {
    const command = new GetCommand({ TableName: 'other-stack-conversations', Key: {} });

    expect(dynamodbAccesses(command as unknown as SentCommand)).toEqual([
      'dynamodb:GetItem unknown-table:other-stack-conversations',
    ]);
  });

  it('names the HTTP method of each @connections call, which the ManageConnections resource holds', () => {
    const commands = [
      new PostToConnectionCommand({ ConnectionId: 'c', Data: Buffer.from('x') }),
      new DeleteConnectionCommand({ ConnectionId: 'c' }),
      new GetConnectionCommand({ ConnectionId: 'c' }),
    ];

    expect(commands.flatMap((command) => connectionAccesses(command as unknown as SentCommand))).toEqual([
      'execute-api:ManageConnections POST @connections',
      'execute-api:ManageConnections DELETE @connections',
      'execute-api:ManageConnections GET @connections',
    ]);
  });

  it('tells PutRecords from PutRecord, which alone is granted', () => {
    const single = new PutRecordCommand({
      StreamName: NAMES.eventsStream,
      PartitionKey: 'p',
      Data: new Uint8Array(),
    });
    const many = new PutRecordsCommand({ StreamName: NAMES.eventsStream, Records: [] });

    expect([single, many].flatMap((command) => kinesisAccesses(command as unknown as SentCommand))).toEqual([
      'kinesis:PutRecord events',
      'kinesis:PutRecords events',
    ]);
  });

  it('allows a query of an index only where the function names that index, and not of its table', () => {
    const conversations = allowedAccesses(definitionOf('conversations'));
    expect(conversations).toContain('dynamodb:Query user-conversations/index/byUpdatedAt');
    expect(conversations).not.toContain('dynamodb:Query user-conversations');
    expect(allowedAccesses(definitionOf('fanout'))).not.toContain(
      'dynamodb:Query user-conversations/index/byUpdatedAt',
    );
  });
});

describe('every handler calls AWS only within the grant of its function', () => {
  for (const scenario of SCENARIOS) {
    it(`the ${scenario.fn} function keeps to its grant ${scenario.path}`, async () => {
      const { used, failure, built } = await accessesOf(scenario);

      expect(built, 'the handlers the path ran').toEqual([scenario.fn]);
      const allowed = allowedAccesses(definitionOf(scenario.fn));
      expect(used.filter((access) => !allowed.has(access))).toEqual([]);
      if (failure) throw failure;
      expect(used).toEqual(expect.arrayContaining([...scenario.touches]));
    });
  }
});

describe('every grant is used by its function', () => {
  it.each(DEFINITIONS.map((definition) => definition.id))(
    'the %s function uses every permission it is granted on one of its paths',
    async (id) => {
      const scenarios = SCENARIOS.filter((scenario) => scenario.fn === id);
      expect(scenarios.length).toBeGreaterThan(0);
      const used = new Set<Access>();
      for (const scenario of scenarios) {
        const { used: accesses, failure } = await accessesOf(scenario);
        if (failure) throw failure;
        for (const access of accesses) used.add(access);
      }

      expect(grantEntries(definitionOf(id)).filter((entry) => !used.has(entry))).toEqual([]);
    },
  );
});
