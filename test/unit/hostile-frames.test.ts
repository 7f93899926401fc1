/**
 * Hostile input, property-based: frames built from each action's schema and then mutated
 * (fields of the wrong type, missing or extra, strings at and past their limits, unicode of
 * every kind down to lone surrogates and NUL, deep nesting), or text that is not a JSON
 * object at all, fed to every route's handler over mocked AWS clients.
 *
 * Whatever arrives, the route answers 200 with a protocol frame: the action's answer
 * echoing the requestId, or an error whose code docs/protocol.md lists (never `internal`: a
 * frame must not make the server fail), whose message starts with the field it is about,
 * and which echoes the requestId when the frame had a readable one. A refused frame writes
 * nothing to DynamoDB, publishes nothing to Kinesis and posts to no connection.
 */
import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { PutRecordCommand } from '@aws-sdk/client-kinesis';
import {
  BatchGetCommand,
  BatchWriteCommand,
  QueryCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { ERROR_CODES, MAX_BODY_CHARS } from '@parley/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createAckHandler } from '../../lambdas/handlers/ack.js';
import { createConversationsHandler } from '../../lambdas/handlers/conversations.js';
import { createDefaultHandler } from '../../lambdas/handlers/default.js';
import { createSendHandler } from '../../lambdas/handlers/send.js';
import { createSubscribePresenceHandler } from '../../lambdas/handlers/subscribe-presence.js';
import { createSyncHandler } from '../../lambdas/handlers/sync.js';
import { createTypingHandler } from '../../lambdas/handlers/typing.js';
import type { RouteHandler } from '../../lambdas/middleware/websocket-route.js';
import type { DepsProvider } from '../../lambdas/runtime.js';
import {
  type ActionFrames,
  actionFrames,
  hostileFrameText,
  namesOneOf,
  readableRequestId,
  subjectsOf,
} from '../support/hostile-frames.js';
import { FakeConversationsTable, FakeUserConversationsTable } from './support/dynamodb-tables.js';
import {
  CALLER_CONNECTION_ID,
  createTestDeps,
  invoke,
  messageEvent,
  mockAwsClients,
  NOW,
} from './support/harness.js';

const mocks = mockAwsClients();
const { ddb, kinesis, api } = mocks;

/** Frames per route: a few seconds in all, with a new seed each run (PARLEY_PROPERTY_RUNS for a deeper hunt). */
const RUNS = Number(process.env.PARLEY_PROPERTY_RUNS ?? 200);
/** The caller of every frame: the message event fixture is alice's phone. */
const CALLER = 'alice';

// ---------------------------------------------------------------------------------------
// The routes and their answers
// ---------------------------------------------------------------------------------------

const message = z.strictObject({
  conversationId: z.string(),
  seq: z.int().min(1),
  messageId: z.string().min(1),
  clientMessageId: z.string().min(1),
  senderId: z.string().min(1),
  senderDeviceId: z.string().min(1),
  body: z.string().min(1).max(MAX_BODY_CHARS),
  serverTs: z.int(),
});
const receipt = z.strictObject({ userId: z.string(), deliveredSeq: z.int().min(0), readSeq: z.int().min(0) });
const answered = <Shape extends z.ZodRawShape>(type: string, shape: Shape) =>
  z.strictObject({ type: z.literal(type), requestId: z.string().min(1), ...shape });

const KINESIS_OK = { ShardId: 'shardId-000000000000', SequenceNumber: '1' };

/** dm:alice:bob holding seq 1 to 3, so that some acks and syncs find messages. */
function conversationsTable() {
  const table = new FakeConversationsTable().install(ddb);
  for (let seq = 1; seq <= 3; seq++) {
    table.put({
      conversationId: 'dm:alice:bob',
      itemKey: `msg#${String(seq).padStart(12, '0')}`,
      seq,
      messageId: `01JDMESSAGE${seq}`,
      clientMessageId: `cm-${seq}`,
      senderId: 'bob',
      senderDeviceId: 'phone',
      body: `message ${seq}`,
      serverTs: NOW + seq,
    });
  }
  kinesis.on(PutRecordCommand).resolves(KINESIS_OK);
}

const FRAMES = actionFrames(CALLER);

interface Route {
  name: string;
  handler: (provider: DepsProvider) => RouteHandler;
  frames: ActionFrames;
  /** The answer to a frame it serves; absent for typing, which answers nothing. */
  answer?: z.ZodType;
  /** Puts the tables and clients the route uses in place, fresh for each frame. */
  serve?: () => void;
}

const ROUTES: Route[] = [
  {
    name: 'send',
    handler: createSendHandler,
    frames: FRAMES.send,
    answer: answered('sent', {
      conversationId: z.string(),
      clientMessageId: z.string(),
      seq: z.int().min(1),
      messageId: z.string().min(1),
      serverTs: z.int(),
      duplicate: z.boolean(),
    }),
    serve: conversationsTable,
  },
  {
    name: 'ack',
    handler: createAckHandler,
    frames: FRAMES.ack,
    answer: answered('acked', {
      conversationId: z.string(),
      kind: z.enum(['delivered', 'read']),
      seq: z.int().min(0),
    }),
    serve: conversationsTable,
  },
  {
    name: 'sync',
    handler: createSyncHandler,
    frames: FRAMES.sync,
    answer: answered('history', {
      conversationId: z.string(),
      messages: z.array(message),
      lastSeq: z.int().min(0),
      hasMore: z.boolean(),
      receipts: z.array(receipt).length(2),
    }),
    serve: conversationsTable,
  },
  {
    name: 'conversations',
    handler: createConversationsHandler,
    frames: FRAMES.conversations,
    answer: answered('conversations', {
      conversations: z.array(z.unknown()),
      cursor: z.string().min(1),
      hasMore: z.boolean(),
    }),
    serve: () => {
      new FakeUserConversationsTable().install(ddb, { query: true });
    },
  },
  {
    name: 'typing',
    handler: createTypingHandler,
    frames: FRAMES.typing,
    serve: () => {
      // Every other member has one connected device.
      ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => ({
        Items: [
          {
            userId: input.ExpressionAttributeValues?.[':u'],
            connectionId: 'conn-other',
            deviceId: 'phone',
            connectedAt: NOW,
            expiresAt: Math.floor(Date.now() / 1000) + 3600,
          },
        ],
      }));
      api.on(PostToConnectionCommand).resolves({});
    },
  },
  {
    name: 'subscribePresence',
    handler: createSubscribePresenceHandler,
    frames: FRAMES.subscribePresence,
    answer: answered('presence', {
      users: z.array(
        z.strictObject({ userId: z.string(), online: z.boolean(), lastSeen: z.int().nullable() }),
      ),
    }),
    serve: () => {
      // Every other user shares a conversation with alice and has never been seen.
      ddb.on(QueryCommand).resolves({ Items: [{ seq: 1 }] });
      ddb.on(BatchGetCommand).resolves({ Responses: {} });
      ddb.on(BatchWriteCommand).resolves({});
    },
  },
  {
    // Frames that name no routed action: nothing but errors, whatever the frame.
    name: '$default',
    handler: createDefaultHandler,
    frames: {
      action: 'dance',
      valid: fc.record({
        action: fc.constantFrom('dance', 'Send', 'send ', '$connect', '', 'x'.repeat(5000)),
        requestId: fc.uuid(),
      }),
      fields: { requestId: fc.uuid() },
    },
  },
];

// ---------------------------------------------------------------------------------------
// What every answer must be
// ---------------------------------------------------------------------------------------

const errorFrame = z.strictObject({
  type: z.literal('error'),
  requestId: z.string().min(1).nullable(),
  code: z.enum(ERROR_CODES),
  message: z.string().min(1),
});

const WRITES = /^(Put|Update|Delete|TransactWrite|BatchWrite)/;

/** Every DynamoDB write, Kinesis put and connection post the route made. */
function sideEffects(): string[] {
  const names = (mock: { calls(): Array<{ args: unknown[] }> }) =>
    mock.calls().map((call) => (call.args[0] as object).constructor.name);
  return [
    ...names(mocks.ddb).filter((name) => WRITES.test(name)),
    ...names(mocks.ddbBase).filter((name) => WRITES.test(name)),
    ...names(mocks.kinesis).filter((name) => name.startsWith('Put')),
    // The answer of a one-way route is posted to the caller: not something it kept.
    ...mocks.api
      .calls()
      .filter(
        (call) =>
          (call.args[0] as { input: { ConnectionId?: string } }).input.ConnectionId !== CALLER_CONNECTION_ID,
      )
      .map((call) => (call.args[0] as object).constructor.name),
  ];
}

async function answerTo(route: Route, handler: RouteHandler, frameText: string) {
  for (const mock of Object.values(mocks)) mock.reset();
  route.serve?.();
  // API Gateway invokes the route's function with its own route key, whatever the frame says.
  const event = messageEvent(frameText);
  event.requestContext.routeKey = route.name;
  const result = await invoke(handler, event);
  expect(result.statusCode).toBe(200);
  if (result.body === undefined) {
    // Only a typing frame, or an ack without requestId, that was served answers nothing.
    const quietAck = route.name === 'ack' && readableRequestId(frameText) === null;
    expect(route.name === 'typing' || quietAck, `${route.name} answered nothing`).toBe(true);
    return;
  }
  const answer = JSON.parse(result.body) as { type: string; requestId?: unknown; message?: string };
  if (answer.type === 'error') {
    const error = errorFrame.parse(answer);
    expect(['bad_request', 'forbidden']).toContain(error.code);
    expect(error.requestId).toBe(readableRequestId(frameText));
    const subjects = subjectsOf(route.frames, frameText);
    expect(namesOneOf(error.message, subjects), `"${error.message}" names none of ${subjects}`).toBe(true);
    expect(sideEffects()).toEqual([]);
    return;
  }
  expect(route.answer, `${route.name} answered ${result.body}`).toBeDefined();
  route.answer?.parse(answer);
  expect(answer.requestId).toBe(readableRequestId(frameText));
}

describe('every route, fed arbitrary frames', () => {
  it.each(ROUTES.map((route) => [route.name, route] as const))(
    'answers each frame sent to %s with its answer or a clear error, and keeps nothing it refuses',
    async (_name, route) => {
      const handler = route.handler(createTestDeps().provider);

      await fc.assert(
        fc.asyncProperty(hostileFrameText(route.frames), (frameText) => answerTo(route, handler, frameText)),
        { numRuns: RUNS },
      );
    },
    60_000,
  );
});
