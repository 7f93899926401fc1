/**
 * What the unit tests share: a configuration pointing nowhere, real deps from `createDeps`
 * with a fixed clock, predictable message ids and a recorded backoff sleep, either on the
 * in-memory ports (`createInMemoryTestDeps`, for what the domain does) or on the AWS
 * adapters over mocked clients (`createTestDeps` and `mockAwsClients`, for the wiring),
 * and the event fixtures (always cloned). DynamoDB at the wire is in `dynamodb-tables.ts`.
 */

import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient, PutRecordCommand } from '@aws-sdk/client-kinesis';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ErrorFrame, ServerFrame } from '@parley/protocol';
import type { APIGatewayRequestAuthorizerEvent, Context, KinesisStreamEvent } from 'aws-lambda';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, type Mock, vi } from 'vitest';
import { isOneWayRoute, ROUTES } from '../../../definitions/functions.js';
import { resourceNames } from '../../../definitions/tables.js';
import { DynamoDbConversationListStore } from '../../../lambdas/adapters/dynamodb-conversation-list-store.js';
import { DynamoDbPresenceSubscriptionStore } from '../../../lambdas/adapters/dynamodb-presence-subscription-store.js';
import { InMemoryMetrics } from '../../../lambdas/adapters/in-memory-metrics.js';
import {
  type CompleteConfig,
  DEFAULT_CONNECTION_TTL_SECONDS,
  DEFAULT_MAX_CONNECTIONS_PER_USER,
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
    maxConnectionsPerUser: DEFAULT_MAX_CONNECTIONS_PER_USER,
    postConcurrency: 4,
    // Off unless a test turns it on: the send tests that count posts and records predate it.
    fastPathMaxConnections: 0,
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
    wrap: (real) =>
      withPostsRecorded({
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
/** The connection a frame of `messageEvent` comes from: a one-way route posts its answer there. */
export const CALLER_CONNECTION_ID = messageEventFixture.requestContext.connectionId;

/**
 * A frame's WebSocket event. Its `routeKey` is the frame's `action` when that names a route,
 * as API Gateway selects it (`$request.body.action`); otherwise the fixture's (`send`).
 */
export function messageEvent(frame?: unknown): WebSocketEvent {
  const event = structuredClone(messageEventFixture) as unknown as WebSocketEvent;
  if (frame !== undefined) event.body = typeof frame === 'string' ? frame : JSON.stringify(frame);
  const action = actionOf(event.body);
  if (action !== undefined && Object.hasOwn(ROUTES, action)) event.requestContext.routeKey = action;
  return event;
}

function actionOf(body: string | undefined): string | undefined {
  try {
    const parsed = JSON.parse(body ?? '') as { action?: unknown } | null;
    return typeof parsed?.action === 'string' ? parsed.action : undefined;
  } catch {
    return undefined;
  }
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
/**
 * Invokes a route as API Gateway does and gives what the caller gets back: the route
 * response's body, or on a one-way route (`ack`, `typing`: no route response) the frame the
 * function posted to the caller's connection. A one-way route that returns a body fails
 * the test: API Gateway would drop it.
 */
export async function invoke(handler: AnyRouteHandler, event: WebSocketEvent): Promise<RouteResult> {
  const postedBefore = postedFrames.length;
  const result = (await (handler as (event: WebSocketEvent, context: Context) => Promise<unknown>)(
    event,
    lambdaContext,
  )) as RouteResult;
  const { routeKey, connectionId } = event.requestContext;
  // The connection lifecycle answers the handshake with its status alone.
  if (!isOneWayRoute(routeKey) || routeKey.startsWith('$')) return result;
  if (result.body !== undefined) {
    throw new Error(`the one-way route ${routeKey} returned a body, which API Gateway drops: ${result.body}`);
  }
  const toCaller = postedFrames.slice(postedBefore).filter((post) => post.connectionId === connectionId);
  const answer = toCaller.at(-1)?.frame;
  return answer === undefined ? result : { ...result, body: answer };
}

/** Every frame the deps posted and API Gateway took, in order, by any test's deps. */
const postedFrames: Array<{ connectionId: string; frame: string }> = [];

/** The deps with their pusher recording what it delivered, for `invoke` to find a one-way route's answer. */
function withPostsRecorded(deps: ParleyDeps): ParleyDeps {
  const { pusher } = deps;
  return {
    ...deps,
    pusher: {
      post: async (connectionId, frame) => {
        const outcome = await pusher.post(connectionId, frame);
        if (outcome === 'delivered') postedFrames.push({ connectionId, frame });
        return outcome;
      },
      disconnect: (connectionId) => pusher.disconnect(connectionId),
    },
  };
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

/**
 * Mocks every AWS SDK client the handlers use, for the whole test file, and resets the
 * mocks after each test (as STYLE.md asks): call it once at the top of a file. They are restored after the file.
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
  // The unit files share one module graph per worker: the next file gets the real clients.
  afterAll(() => {
    for (const mock of Object.values(mocks)) mock.restore();
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
