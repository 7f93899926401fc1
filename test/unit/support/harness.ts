/**
 * What the unit tests share: a configuration pointing nowhere (every AWS client is mocked),
 * real deps from `createDeps` with a fixed clock, predictable message ids and a recorded
 * backoff sleep, the event fixtures (always cloned), and stateful fakes of the
 * conversations table and the user-conversations table behind the DynamoDB document
 * client mock.
 */

import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import { KinesisClient, PutRecordCommand } from '@aws-sdk/client-kinesis';
import {
  BatchGetCommand,
  type BatchGetCommandInput,
  DynamoDBDocumentClient,
  GetCommand,
  type GetCommandInput,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { ErrorFrame, ServerFrame } from '@parley/protocol';
import type { APIGatewayRequestAuthorizerEvent, Context, KinesisStreamEvent } from 'aws-lambda';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { afterEach, type Mock, vi } from 'vitest';
import { resourceNames } from '../../../definitions/tables.js';
import { DynamoDbConversationListStore } from '../../../lambdas/adapters/dynamodb-conversation-list-store.js';
import { DynamoDbPresenceSubscriptionStore } from '../../../lambdas/adapters/dynamodb-presence-subscription-store.js';
import { InMemoryMetrics } from '../../../lambdas/adapters/in-memory-metrics.js';
import {
  type CompleteConfig,
  DEFAULT_CONNECTION_TTL_SECONDS,
  DEFAULT_SERVICE_NAME,
} from '../../../lambdas/config.js';
import { partitionKeyOf, type StreamEvent } from '../../../lambdas/domain/ports.js';
import type { RouteResult, WebSocketEvent } from '../../../lambdas/middleware/websocket-route.js';
import { createDeps, type DepsProvider, type ParleyDeps } from '../../../lambdas/runtime.js';
import authorizerEventFixture from '../../fixtures/authorizer-request-event.json' with { type: 'json' };
import presenceEventFixture from '../../fixtures/kinesis-presence-event.json' with { type: 'json' };
import kinesisEventFixture from '../../fixtures/kinesis-stream-event.json' with { type: 'json' };
import connectEventFixture from '../../fixtures/websocket-connect-event.json' with { type: 'json' };
import disconnectEventFixture from '../../fixtures/websocket-disconnect-event.json' with { type: 'json' };
import messageEventFixture from '../../fixtures/websocket-message-event.json' with { type: 'json' };
import { createInMemoryPorts, type InMemoryPorts } from '../../support/in-memory/index.js';

export const TEST_SECRET = 'unit-test-secret';
/** The fixed clock of the deps: 2025-11-28T00:33:20.123Z. */
export const NOW = 1_764_290_000_123;

export function testConfig(overrides: Partial<CompleteConfig> = {}): CompleteConfig {
  return {
    names: resourceNames('unit'),
    endpoints: {
      region: 'us-east-1',
      local: true,
      dynamodb: 'http://127.0.0.1:1',
      kinesis: 'http://127.0.0.1:1',
      connections: 'http://127.0.0.1:1',
    },
    tokens: { secret: TEST_SECRET },
    connectionTtlSeconds: DEFAULT_CONNECTION_TTL_SECONDS,
    postConcurrency: 4,
    logLevel: 'SILENT',
    serviceName: DEFAULT_SERVICE_NAME,
    ...overrides,
  };
}

export interface TestDeps {
  deps: ParleyDeps;
  provider: DepsProvider;
  /** The sequencing backoff sleep: resolves at once and records its delays. */
  sleep: Mock<(ms: number) => Promise<void>>;
  /** What the handlers recorded. */
  metrics: InMemoryMetrics;
}

/**
 * Real deps (real stores, publisher and pusher over the mocked clients) with a fixed clock,
 * message ids `01MSG0001`, `01MSG0002`, … and a sleep that does not wait. The stores that
 * read the clock themselves (conversation list, presence subscriptions) are rebuilt on the
 * fixed clock too; the connection store keeps the real one, as in AWS. Metrics are kept in
 * memory, whatever the configuration.
 */
export function createTestDeps(
  options: { config?: CompleteConfig; random?: () => number; ports?: Partial<InMemoryPorts> } = {},
): TestDeps {
  const sleep = vi.fn(async (_ms: number) => {});
  const metrics = new InMemoryMetrics();
  let ids = 0;
  const config = options.config ?? testConfig();
  const deps = createDeps(config, {
    wrap: (real) => ({
      ...real,
      metrics,
      now: () => NOW,
      conversationList: new DynamoDbConversationListStore({
        client: real.clients.dynamodb,
        tableName: config.names.userConversationsTable,
        now: () => NOW,
      }),
      presenceSubscriptions: new DynamoDbPresenceSubscriptionStore({
        client: real.clients.dynamodb,
        tableName: config.names.presenceSubscriptionsTable,
        now: () => NOW,
      }),
      sequencing: {
        ...real.sequencing,
        now: () => NOW,
        newMessageId: () => `01MSG${String(++ids).padStart(4, '0')}`,
        sleep,
        random: options.random ?? (() => 0.5),
      },
      ...options.ports,
    }),
  });
  return { deps, provider: () => deps, sleep, metrics };
}

/**
 * `createTestDeps` on the in-memory ports (on the fixed clock), for the tests of what the
 * domain does: no AWS client is reached. Two deps given the same `ports` are two Lambda
 * instances sharing the tables.
 */
export function createInMemoryTestDeps(
  options: { config?: CompleteConfig; random?: () => number; ports?: InMemoryPorts } = {},
): TestDeps & { ports: InMemoryPorts } {
  const ports = options.ports ?? createInMemoryPorts({ now: () => NOW });
  return { ...createTestDeps({ ...options, ports }), ports };
}

// ---------------------------------------------------------------------------------------
// Fixtures, cloned on every use so that no test sees another's changes
// ---------------------------------------------------------------------------------------

/** A `MESSAGE` event from alice's phone with `frame` as its body (a string is sent as is). */
export function messageEvent(frame?: unknown): WebSocketEvent {
  const event = structuredClone(messageEventFixture) as unknown as WebSocketEvent;
  if (frame !== undefined) event.body = typeof frame === 'string' ? frame : JSON.stringify(frame);
  return event;
}

export function connectEvent(): WebSocketEvent {
  return structuredClone(connectEventFixture) as unknown as WebSocketEvent;
}

export function disconnectEvent(): WebSocketEvent {
  return structuredClone(disconnectEventFixture) as unknown as WebSocketEvent;
}

export function authorizerEvent(token?: string): APIGatewayRequestAuthorizerEvent {
  const event = structuredClone(authorizerEventFixture) as unknown as APIGatewayRequestAuthorizerEvent;
  if (token !== undefined && event.queryStringParameters) event.queryStringParameters.token = token;
  return event;
}

export function kinesisEvent(): KinesisStreamEvent {
  return structuredClone(kinesisEventFixture) as unknown as KinesisStreamEvent;
}

/** The fixture's `presence-changed` records: bob, carol, then bob again. */
export function presenceStreamEvent(): KinesisStreamEvent {
  return structuredClone(presenceEventFixture) as unknown as KinesisStreamEvent;
}

/**
 * A Kinesis batch holding `events` in this order, one record each, shaped like the
 * fixture's records (partition key as the publisher sets it, sequence numbers 1, 2, …).
 */
export function kinesisEventOf(
  events: Array<StreamEvent | { data: string; partitionKey: string }>,
): KinesisStreamEvent {
  const template = kinesisEvent().Records[0];
  if (!template) throw new Error('the Kinesis fixture has no record');
  return {
    Records: events.map((event, index) => {
      const sequenceNumber = `4966346781282913870398374917208718573400000000000000${String(index + 1).padStart(4, '0')}`;
      const raw = 'data' in event;
      return {
        ...structuredClone(template),
        eventID: `shardId-000000000000:${sequenceNumber}`,
        kinesis: {
          ...structuredClone(template.kinesis),
          sequenceNumber,
          partitionKey: raw ? event.partitionKey : partitionKeyOf(event),
          data: raw ? event.data : Buffer.from(JSON.stringify(event), 'utf8').toString('base64'),
        },
      };
    }),
  };
}

export const lambdaContext = {
  functionName: 'parley-unit',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
} as Context;

type AnyRouteHandler = (event: never, context: Context) => Promise<unknown>;

/** Invokes a WebSocket route handler the way Lambda does, and returns its route response. */
export async function invoke(handler: AnyRouteHandler, event: WebSocketEvent): Promise<RouteResult> {
  return (await (handler as (event: WebSocketEvent, context: Context) => Promise<unknown>)(
    event,
    lambdaContext,
  )) as RouteResult;
}

/** The frame a route answered with. */
export function answerOf<Frame extends ServerFrame = ServerFrame>(result: RouteResult): Frame {
  if (result.body === undefined) throw new Error(`the route answered no frame (status ${result.statusCode})`);
  return JSON.parse(result.body) as Frame;
}

export function errorOf(result: RouteResult): ErrorFrame {
  return answerOf<ErrorFrame>(result);
}

/** What the deps published on the stream, in order: stream, partition key and the decoded event. */
export function publishedRecords(kinesis: AwsClientStub<KinesisClient>) {
  return kinesis.commandCalls(PutRecordCommand).map((call) => ({
    StreamName: call.args[0].input.StreamName,
    PartitionKey: call.args[0].input.PartitionKey,
    event: JSON.parse(Buffer.from(call.args[0].input.Data as Uint8Array).toString('utf8')) as unknown,
  }));
}

// ---------------------------------------------------------------------------------------
// DynamoDB
// ---------------------------------------------------------------------------------------

type Reason = 'None' | 'ConditionalCheckFailed' | 'TransactionConflict' | 'ThrottlingError';

/**
 * The error DynamoDB answers a cancelled TransactWriteItems with; `item` is the idempotency
 * item DynamoDB returns for ReturnValuesOnConditionCheckFailure ALL_OLD (in wire format,
 * since the document client does not unmarshall errors).
 */
export function transactionCanceled(
  messageReason: Reason,
  keyReason: Reason,
  item?: Record<string, unknown>,
): TransactionCanceledException {
  const reason = (code: Reason, withItem?: Record<string, unknown>) => ({
    Code: code,
    ...(code === 'None'
      ? {}
      : { Message: code === 'ConditionalCheckFailed' ? 'The conditional request failed' : code }),
    ...(withItem ? { Item: marshall(withItem) } : {}),
  });
  return new TransactionCanceledException({
    message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${messageReason}, ${keyReason}]`,
    $metadata: { httpStatusCode: 400 },
    CancellationReasons: [reason(messageReason), reason(keyReason, item)],
  });
}

type Item = Record<string, unknown>;

/**
 * An in-memory conversations table that answers the commands the message and receipt
 * stores send, with DynamoDB's semantics for them: strongly consistent queries on the sort
 * key, all-or-nothing transactions whose `attribute_not_exists` conditions are checked
 * before anything is written, and conditional watermark updates that fail with the old item
 * (ReturnValuesOnConditionCheckFailure ALL_OLD, in wire format) when they would not raise it.
 */
export class FakeConversationsTable {
  readonly #items = new Map<string, Item>();

  static #key(conversationId: unknown, itemKey: unknown) {
    return `${String(conversationId)}\u0000${String(itemKey)}`;
  }

  install(ddb: AwsClientStub<DynamoDBDocumentClient>): this {
    ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => this.#query(input));
    ddb.on(TransactWriteCommand).callsFake((input: TransactWriteCommandInput) => this.#transact(input));
    ddb.on(UpdateCommand).callsFake((input: UpdateCommandInput) => this.#raiseWatermark(input));
    ddb.on(GetCommand).callsFake((input: GetCommandInput) => ({
      Item: this.#items.get(FakeConversationsTable.#key(input.Key?.conversationId, input.Key?.itemKey)),
    }));
    return this;
  }

  put(item: Item): void {
    this.#items.set(FakeConversationsTable.#key(item.conversationId, item.itemKey), structuredClone(item));
  }

  /** The items of a conversation whose sort key starts with `prefix`, in sort key order. */
  items(conversationId: string, prefix = ''): Item[] {
    return [...this.#items.values()]
      .filter((item) => item.conversationId === conversationId && String(item.itemKey).startsWith(prefix))
      .sort((a, b) => (String(a.itemKey) < String(b.itemKey) ? -1 : 1));
  }

  #query(input: QueryCommandInput) {
    const values = input.ExpressionAttributeValues ?? {};
    const conversationId = values[':c'] as string;
    let items = this.items(conversationId);
    if (input.KeyConditionExpression?.includes('begins_with')) {
      items = items.filter((item) => String(item.itemKey).startsWith(values[':p'] as string));
    } else if (input.KeyConditionExpression?.includes('BETWEEN')) {
      const [from, to] = [values[':from'] as string, values[':to'] as string];
      if (from > to) throw new Error('ValidationException: BETWEEN needs the lower bound first');
      items = items.filter((item) => String(item.itemKey) >= from && String(item.itemKey) <= to);
    } else {
      throw new Error(`the fake cannot answer ${input.KeyConditionExpression}`);
    }
    if (input.ScanIndexForward === false) items.reverse();
    if (input.Limit !== undefined) items = items.slice(0, input.Limit);
    if (input.ProjectionExpression === 'seq') items = items.map((item) => ({ seq: item.seq }));
    return { Items: items.map((item) => structuredClone(item)), Count: items.length };
  }

  #transact(input: TransactWriteCommandInput) {
    const puts = (input.TransactItems ?? []).map(({ Put: put }) => {
      if (put?.ConditionExpression !== 'attribute_not_exists(itemKey)') {
        throw new Error('the fake answers only conditional puts');
      }
      return put;
    });
    const existing = puts.map((put) =>
      this.#items.get(FakeConversationsTable.#key(put.Item?.conversationId, put.Item?.itemKey)),
    );
    if (existing.some((item) => item !== undefined)) {
      const codes = existing.map((item) => (item ? 'ConditionalCheckFailed' : 'None')) as Reason[];
      const keyPut = puts[1];
      const keyItem = keyPut?.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' ? existing[1] : undefined;
      throw transactionCanceled(codes[0] ?? 'None', codes[1] ?? 'None', keyItem);
    }
    for (const put of puts) this.put(put.Item as Item);
    return {};
  }

  #raiseWatermark(input: UpdateCommandInput) {
    if (
      input.UpdateExpression !== 'SET #field = :seq, userId = :userId' ||
      input.ConditionExpression !== 'attribute_not_exists(#field) OR #field < :seq'
    ) {
      throw new Error(`the fake cannot answer ${input.UpdateExpression} IF ${input.ConditionExpression}`);
    }
    const field = input.ExpressionAttributeNames?.['#field'] as string;
    const seq = input.ExpressionAttributeValues?.[':seq'] as number;
    const key = FakeConversationsTable.#key(input.Key?.conversationId, input.Key?.itemKey);
    const existing = this.#items.get(key);
    const current = existing?.[field] as number | undefined;
    if (current !== undefined && !(current < seq)) {
      throw new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: { httpStatusCode: 400 },
        ...(existing && input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD'
          ? { Item: marshall(existing) }
          : {}),
      });
    }
    this.put({
      ...existing,
      conversationId: input.Key?.conversationId,
      itemKey: input.Key?.itemKey,
      [field]: seq,
      userId: input.ExpressionAttributeValues?.[':userId'],
    });
    return {};
  }
}

/**
 * An in-memory user-conversations table answering the conversation-list store: consistent
 * BatchGetItem of the clock and the entry, all-or-nothing transactions of puts whose
 * conditions (`attribute_not_exists(itemKey)` or `{attribute} = :previous`) are all checked
 * before anything is written, and queries of the `byUpdatedAt` index (a sparse index: the
 * clock item has no `updatedAt`). Its handlers are public so that a test can wrap one, e.g.
 * to let a competing writer in just before a transaction.
 */
export class FakeUserConversationsTable {
  readonly #items = new Map<string, Item>();
  readonly tableName: string;

  constructor(tableName = testConfig().names.userConversationsTable) {
    this.tableName = tableName;
  }

  static #key(userId: unknown, itemKey: unknown) {
    return `${String(userId)}\u0000${String(itemKey)}`;
  }

  install(ddb: AwsClientStub<DynamoDBDocumentClient>, options: { query?: boolean } = {}): this {
    ddb.on(BatchGetCommand).callsFake((input: BatchGetCommandInput) => this.batchGet(input));
    ddb.on(TransactWriteCommand).callsFake((input: TransactWriteCommandInput) => this.transactWrite(input));
    if (options.query) ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => this.query(input));
    return this;
  }

  put(item: Item): void {
    this.#items.set(FakeUserConversationsTable.#key(item.userId, item.itemKey), structuredClone(item));
  }

  get(userId: string, itemKey: string): Item | undefined {
    return structuredClone(this.#items.get(FakeUserConversationsTable.#key(userId, itemKey)));
  }

  /** The user's entry of the conversation, as stored. */
  entry(userId: string, conversationId: string): Item | undefined {
    return this.get(userId, `conv#${conversationId}`);
  }

  /** The user's clock: the last `updatedAt` given to one of its entries. */
  clock(userId: string): number | undefined {
    return this.get(userId, 'clock')?.lastUpdatedAt as number | undefined;
  }

  batchGet(input: BatchGetCommandInput) {
    const request = input.RequestItems?.[this.tableName];
    if (!request) throw new Error(`the fake holds only ${this.tableName}`);
    const found = (request.Keys ?? [])
      .map((key) => this.get(key.userId as string, key.itemKey as string))
      .filter((item): item is Item => item !== undefined);
    return { Responses: { [this.tableName]: found }, UnprocessedKeys: {} };
  }

  transactWrite(input: TransactWriteCommandInput) {
    const puts = (input.TransactItems ?? []).map(({ Put: put }) => {
      if (!put || put.TableName !== this.tableName)
        throw new Error('the fake answers only puts into its table');
      return put;
    });
    const holds = puts.map((put) => this.#holds(put));
    if (!holds.every(Boolean)) {
      const codes = holds.map((held) => (held ? 'None' : 'ConditionalCheckFailed'));
      throw new TransactionCanceledException({
        message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}]`,
        $metadata: { httpStatusCode: 400 },
        CancellationReasons: codes.map((code) =>
          code === 'None' ? { Code: code } : { Code: code, Message: 'The conditional request failed' },
        ),
      });
    }
    for (const put of puts) this.put(put.Item as Item);
    return {};
  }

  query(input: QueryCommandInput) {
    if (
      input.IndexName !== 'byUpdatedAt' ||
      input.KeyConditionExpression !== 'userId = :u AND updatedAt > :after'
    ) {
      throw new Error(`the fake cannot answer ${input.IndexName} ${input.KeyConditionExpression}`);
    }
    const userId = input.ExpressionAttributeValues?.[':u'];
    const after = input.ExpressionAttributeValues?.[':after'] as number;
    const matching = [...this.#items.values()]
      .filter(
        (item) => item.userId === userId && typeof item.updatedAt === 'number' && item.updatedAt > after,
      )
      .sort((a, b) => (a.updatedAt as number) - (b.updatedAt as number));
    const page = input.Limit === undefined ? matching : matching.slice(0, input.Limit);
    const last = page.at(-1);
    return {
      Items: page.map((item) => structuredClone(item)),
      Count: page.length,
      ...(last && page.length < matching.length
        ? { LastEvaluatedKey: { userId: last.userId, itemKey: last.itemKey, updatedAt: last.updatedAt } }
        : {}),
    };
  }

  #holds(put: NonNullable<NonNullable<TransactWriteCommandInput['TransactItems']>[number]['Put']>): boolean {
    const existing = this.#items.get(FakeUserConversationsTable.#key(put.Item?.userId, put.Item?.itemKey));
    if (put.ConditionExpression === 'attribute_not_exists(itemKey)') return existing === undefined;
    const equals = /^(\w+) = :previous$/.exec(put.ConditionExpression ?? '');
    if (!equals?.[1]) throw new Error(`the fake cannot answer the condition ${put.ConditionExpression}`);
    return existing !== undefined && existing[equals[1]] === put.ExpressionAttributeValues?.[':previous'];
  }
}

/**
 * Mocks every AWS SDK client the handlers use, for the whole test file, and resets the
 * mocks after each test (as STYLE.md asks): call it once at the top of a file.
 */
export function mockAwsClients() {
  const mocks = {
    ddb: mockClient(DynamoDBDocumentClient),
    ddbBase: mockClient(DynamoDBClient),
    kinesis: mockClient(KinesisClient),
    api: mockClient(ApiGatewayManagementApiClient),
  };
  afterEach(() => {
    for (const mock of Object.values(mocks)) mock.reset();
  });
  return mocks;
}

// ---------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------

/**
 * Captures what is written to stdout and stderr, where Powertools prints its log lines
 * and EMF (through its own `Console`, past vitest's console capture), until `restore`.
 */
export function captureOutput() {
  const lines: string[] = [];
  const write = (chunk: unknown) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  };
  const spies = [
    vi.spyOn(process.stdout, 'write').mockImplementation(write),
    vi.spyOn(process.stderr, 'write').mockImplementation(write),
  ];
  return {
    lines,
    /** The lines, parsed: every Powertools line is one JSON object. */
    json: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
    restore: () => {
      for (const spy of spies) spy.mockRestore();
    },
  };
}
