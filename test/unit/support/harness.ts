/**
 * What the unit tests share: a configuration pointing nowhere (every AWS client is mocked),
 * real deps from `createDeps` with a fixed clock, predictable message ids and a recorded
 * backoff sleep, the event fixtures (always cloned), and a stateful fake of the
 * conversations table behind the DynamoDB document client mock.
 */
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  type GetCommandInput,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { APIGatewayRequestAuthorizerEvent, Context, KinesisStreamEvent } from 'aws-lambda';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { type Mock, vi } from 'vitest';
import { DEFAULT_CONNECTION_TTL_SECONDS, type ParleyConfig } from '../../../lambdas/config.js';
import type { ErrorFrame, ServerFrame } from '../../../lambdas/domain/protocol.js';
import type { RouteResult, WebSocketEvent } from '../../../lambdas/middleware/websocket-route.js';
import { createDeps, type DepsProvider, type ParleyDeps } from '../../../lambdas/runtime.js';
import { resourceNames } from '../../../lib/tables.js';
import authorizerEventFixture from '../../fixtures/authorizer-request-event.json' with { type: 'json' };
import kinesisEventFixture from '../../fixtures/kinesis-stream-event.json' with { type: 'json' };
import connectEventFixture from '../../fixtures/websocket-connect-event.json' with { type: 'json' };
import disconnectEventFixture from '../../fixtures/websocket-disconnect-event.json' with { type: 'json' };
import messageEventFixture from '../../fixtures/websocket-message-event.json' with { type: 'json' };

export const TEST_SECRET = 'unit-test-secret';
/** The fixed clock of the deps: 2025-11-28T00:33:20.123Z. */
export const NOW = 1_764_290_000_123;

export function testConfig(overrides: Partial<ParleyConfig> = {}): ParleyConfig {
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
    ...overrides,
  };
}

export interface TestDeps {
  deps: ParleyDeps;
  provider: DepsProvider;
  /** The sequencing backoff sleep: resolves at once and records its delays. */
  sleep: Mock<(ms: number) => Promise<void>>;
}

/**
 * Real deps (real stores, publisher and pusher over the mocked clients) with a fixed clock,
 * message ids `01MSG0001`, `01MSG0002`, … and a sleep that does not wait.
 */
export function createTestDeps(options: { config?: ParleyConfig; random?: () => number } = {}): TestDeps {
  const sleep = vi.fn(async (_ms: number) => {});
  let ids = 0;
  const deps = createDeps(options.config ?? testConfig(), {
    wrap: (real) => ({
      ...real,
      now: () => NOW,
      sequencing: {
        ...real.sequencing,
        now: () => NOW,
        newMessageId: () => `01MSG${String(++ids).padStart(4, '0')}`,
        sleep,
        random: options.random ?? (() => 0.5),
      },
    }),
  });
  return { deps, provider: () => deps, sleep };
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
 * An in-memory conversations table that answers the three commands the message store
 * sends, with DynamoDB's semantics for them: strongly consistent queries on the sort key,
 * and all-or-nothing transactions whose `attribute_not_exists` conditions are checked
 * before anything is written.
 */
export class FakeConversationsTable {
  readonly #items = new Map<string, Item>();

  static #key(conversationId: unknown, itemKey: unknown) {
    return `${String(conversationId)}\u0000${String(itemKey)}`;
  }

  install(ddb: AwsClientStub<DynamoDBDocumentClient>): this {
    ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => this.#query(input));
    ddb.on(TransactWriteCommand).callsFake((input: TransactWriteCommandInput) => this.#transact(input));
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
}
