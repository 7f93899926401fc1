import {
  ForbiddenException,
  GoneException,
  LimitExceededException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { BatchGetCommand, DeleteCommand, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { INTERNAL_ERROR_MESSAGE } from '../../lambdas/domain/errors.js';
import type { Connection } from '../../lambdas/domain/ports.js';
import { createTypingHandler } from '../../lambdas/handlers/typing.js';
import {
  CALLER_CONNECTION_ID,
  createTestDeps,
  errorOf,
  invoke,
  messageEvent,
  mockAwsClients,
  NOW,
} from './support/harness.js';

const { ddb, kinesis, api } = mockAwsClients();

const EXPIRES_AT = Math.floor(Date.now() / 1000) + 3600;
const connection = (userId: string, deviceId: string): Connection => ({
  userId,
  connectionId: `conn-${userId}-${deviceId}`,
  deviceId,
  connectedAt: NOW - 60 * 60 * 1000,
  expiresAt: EXPIRES_AT,
});
const CONNECTIONS: Record<string, Connection[]> = {
  alice: [connection('alice', 'phone'), connection('alice', 'laptop')],
  bob: [connection('bob', 'phone'), connection('bob', 'laptop')],
};

function serveConnections(connections: Record<string, Connection[]> = CONNECTIONS) {
  ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => ({
    Items: connections[input.ExpressionAttributeValues?.[':u'] as string] ?? [],
  }));
}

const typingFrame = (overrides: Record<string, unknown> = {}) => ({
  action: 'typing',
  conversationId: 'dm:alice:bob',
  state: 'start',
  ...overrides,
});

const posted = () =>
  api.commandCalls(PostToConnectionCommand).map((call) => ({
    connectionId: call.args[0].input.ConnectionId,
    frame: JSON.parse(Buffer.from(call.args[0].input.Data as Uint8Array).toString('utf8')),
  }));

async function type(frame: Record<string, unknown>) {
  const { provider } = createTestDeps();
  return invoke(createTypingHandler(provider), messageEvent(typingFrame(frame)));
}

describe('the typing handler', () => {
  it.each(['start', 'stop'])(
    'posts %s to every connection of the other member, and answers nothing',
    async (state) => {
      serveConnections();

      const result = await type({ state });

      expect(result).toEqual({ statusCode: 200 });
      const frame = { type: 'typing', conversationId: 'dm:alice:bob', userId: 'alice', state };
      expect(posted().sort((a, b) => String(a.connectionId).localeCompare(String(b.connectionId)))).toEqual([
        { connectionId: 'conn-bob-laptop', frame },
        { connectionId: 'conn-bob-phone', frame },
      ]);
    },
  );

  it('reads the two members’ blocks, looks up only the other member’s connections and stores nothing', async () => {
    serveConnections();

    await type({});

    expect(ddb.calls()).toHaveLength(2);
    expect(
      ddb.commandCalls(BatchGetCommand)[0]?.args[0].input.RequestItems?.['unit-user-conversations']?.Keys,
    ).toEqual([
      { userId: 'bob', itemKey: 'block#alice' },
      { userId: 'alice', itemKey: 'block#bob' },
    ]);
    expect(ddb.commandCalls(QueryCommand)[0]?.args[0].input).toMatchObject({
      TableName: 'unit-connections',
      ExpressionAttributeValues: { ':u': 'bob' },
    });
    expect(kinesis.calls()).toHaveLength(0);
  });

  it('accepts a requestId and still answers nothing', async () => {
    serveConnections();

    const result = await type({ requestId: 't1' });

    expect(result).toEqual({ statusCode: 200 });
    expect(posted()).toHaveLength(2);
  });

  it('posts nothing when the other member has no connection', async () => {
    serveConnections({ alice: CONNECTIONS.alice ?? [] });

    const result = await type({});

    expect(result).toEqual({ statusCode: 200 });
    expect(api.calls()).toHaveLength(0);
  });

  it('deletes a connection that answers 410 Gone and still answers nothing', async () => {
    serveConnections();
    api
      .on(PostToConnectionCommand, { ConnectionId: 'conn-bob-laptop' })
      .rejects(new GoneException({ message: 'Gone', $metadata: { httpStatusCode: 410 } }));

    const result = await type({});

    expect(result).toEqual({ statusCode: 200 });
    expect(ddb.commandCalls(DeleteCommand).map((call) => call.args[0].input)).toEqual([
      { TableName: 'unit-connections', Key: { userId: 'bob', connectionId: 'conn-bob-laptop' } },
    ]);
  });

  it('counts each connection that answered 410 Gone', async () => {
    serveConnections();
    api
      .on(PostToConnectionCommand)
      .rejects(new GoneException({ message: 'Gone', $metadata: { httpStatusCode: 410 } }));
    const { provider, metrics } = createTestDeps();

    await invoke(createTypingHandler(provider), messageEvent(typingFrame()));

    expect(metrics.values('GoneConnections')).toEqual([1, 1]);
    expect(metrics.values('EventsDelivered')).toEqual([]);
  });

  it('lets a throttled post go at once: no retry, no error, the connection kept', async () => {
    serveConnections();
    api
      .on(PostToConnectionCommand, { ConnectionId: 'conn-bob-phone' })
      .rejects(new LimitExceededException({ message: 'Limit exceeded', $metadata: { httpStatusCode: 429 } }));

    const result = await type({ requestId: 't1' });

    expect(result).toEqual({ statusCode: 200 });
    expect(posted().filter((post) => post.connectionId === 'conn-bob-phone')).toHaveLength(1);
    expect(ddb.commandCalls(DeleteCommand)).toHaveLength(0);
  });

  it('answers internal, echoing the requestId, when a post fails otherwise', async () => {
    serveConnections();
    api
      .on(PostToConnectionCommand, { ConnectionId: 'conn-bob-phone' })
      .rejects(new ForbiddenException({ message: 'Forbidden', $metadata: { httpStatusCode: 403 } }));

    const result = await type({ requestId: 't1' });

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 't1',
      code: 'internal',
      message: INTERNAL_ERROR_MESSAGE,
    });
  });

  it('refuses a conversation of which the caller is not a member as forbidden and posts nothing but the answer', async () => {
    serveConnections();

    const result = await type({ conversationId: 'dm:bob:carol', requestId: 't1' });

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 't1',
      code: 'forbidden',
      message: 'conversationId: you are not a member of dm:bob:carol',
    });
    expect(ddb.calls()).toHaveLength(0);
    expect(posted()).toEqual([{ connectionId: CALLER_CONNECTION_ID, frame: errorOf(result) }]);
  });

  it.each([
    {
      name: 'a state that is neither start nor stop',
      frame: { state: 'typing' },
      message: 'state: must be start or stop',
    },
    { name: 'a missing state', frame: { state: undefined }, message: 'state: must be start or stop' },
    {
      name: 'a missing conversationId',
      frame: { conversationId: undefined },
      message: 'conversationId: is required',
    },
    {
      name: 'a malformed conversationId',
      frame: { conversationId: 'dm:bob:alice' },
      message: 'conversationId: must be dm:{x}:{y} with x and y two user ids and x sorting before y',
    },
    {
      name: 'an unknown field',
      frame: { userId: 'alice' },
      message: 'userId: is not a field of this action',
    },
  ])('refuses $name with bad_request and posts nothing but the answer', async ({ frame, message }) => {
    const result = await type({ requestId: 't1', ...frame });

    expect(errorOf(result)).toEqual({ type: 'error', requestId: 't1', code: 'bad_request', message });
    expect(ddb.calls()).toHaveLength(0);
    expect(posted()).toEqual([{ connectionId: CALLER_CONNECTION_ID, frame: errorOf(result) }]);
  });

  it('answers a refusal of a frame without requestId with a null requestId', async () => {
    const result = await type({ state: 'paused' });

    expect(errorOf(result)).toMatchObject({ requestId: null, code: 'bad_request' });
  });
});
