/**
 * Every function of the synthesized stack, loaded from its bundle exactly as Lambda loads
 * it (`index.handler`, CommonJS) with exactly the environment the template gives it, and
 * invoked once with an event of its kind. A setting a function needs and the template does
 * not give fails here, as it would fail every call after `cdk deploy`.
 */
import { readFileSync } from 'node:fs';
import type { APIGatewayAuthorizerResult, KinesisStreamBatchResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FUNCTIONS, type FunctionId } from '../../definitions/functions.js';
import { LOCAL_JWT_SECRET } from '../../lambdas/config.js';
import { mintToken } from '../../lambdas/domain/tokens.js';
import type { RunningDeployedStack } from '../../local/deployed/stack.js';
import { startDeployedStack } from '../../local/deployed/stack.js';
import { FunctionError } from '../../local/errors.js';
import { uniqueId } from '../support/stack.js';

const fixture = <T>(name: string): T =>
  JSON.parse(readFileSync(new URL(`../fixtures/${name}.json`, import.meta.url), 'utf8')) as T;

type Event = Record<string, unknown> & { requestContext: Record<string, unknown> };

let stack: RunningDeployedStack;
const alice = uniqueId('alice');
const bob = uniqueId('bob');

beforeAll(async () => {
  stack = await startDeployedStack({
    cloudAssemblyDir: inject('cloudAssemblyDir'),
    synthesize: false,
    wsPort: 0,
    dynamodbEndpoint: inject('dynamodbEndpoint'),
    kinesisEndpoint: inject('kinesisEndpoint'),
    resourcePrefix: uniqueId('b'),
    logLevel: 'SILENT',
  });
});

afterAll(async () => {
  await stack?.stop();
});

/** A WebSocket event of `routeKey` from alice's phone, as API Gateway sends it after her `$connect`. */
function routeEvent(routeKey: string, body?: Record<string, unknown>): Event {
  const template = fixture<Event>(
    routeKey === '$connect'
      ? 'websocket-connect-event'
      : routeKey === '$disconnect'
        ? 'websocket-disconnect-event'
        : 'websocket-message-event',
  );
  const authorizer = {
    ...(template.requestContext.authorizer as object),
    principalId: alice,
    userId: alice,
    deviceId: 'phone',
  };
  return {
    ...template,
    requestContext: { ...template.requestContext, routeKey, authorizer, connectionId: uniqueId('c') },
    ...(body ? { body: JSON.stringify(body) } : {}),
  };
}

/** The records of `events` as a Kinesis batch from the events stream. */
function kinesisBatch(events: object[]) {
  const [record] = fixture<{ Records: Array<{ kinesis: object }> }>('kinesis-stream-event').Records;
  return {
    Records: events.map((event, index) => ({
      ...record,
      kinesis: {
        ...record?.kinesis,
        data: Buffer.from(JSON.stringify(event)).toString('base64'),
        sequenceNumber: String(index + 1),
      },
    })),
  };
}

const conversationId = () => `dm:${[alice, bob].sort().join(':')}`;
const groupId = `grp:${uniqueId('g')}`;
const groupChanged = (result: unknown) => expect(answerOf(result)).toMatchObject({ type: 'groupChanged' });

/** One invocation of each function, and what its answer must look like when it is configured. */
const INVOCATIONS: Record<FunctionId, () => Promise<(result: unknown) => void>> = {
  authorizer: async () => {
    const event = fixture<Event & { queryStringParameters: Record<string, string> }>(
      'authorizer-request-event',
    );
    event.queryStringParameters = { token: await mintToken(alice, LOCAL_JWT_SECRET), deviceId: 'phone' };
    return (result) =>
      expect((result as APIGatewayAuthorizerResult).policyDocument.Statement[0]).toMatchObject({
        Effect: 'Allow',
      });
  },
  connect: async () => (result) => expect(result).toMatchObject({ statusCode: 200 }),
  disconnect: async () => (result) => expect(result).toMatchObject({ statusCode: 200 }),
  default: async () => (result) =>
    expect(answerOf(result)).toMatchObject({ type: 'error', code: 'bad_request' }),
  send: async () => (result) =>
    expect(answerOf(result)).toMatchObject({ type: 'sent', seq: expect.any(Number) }),
  // One-way: its answer is posted (to the fixture's connection, gone here), never returned;
  // a bundle without the @connections endpoint would fail on that post.
  ack: async () => (result) => expect(result).toEqual({ statusCode: 200 }),
  sync: async () => (result) => expect(answerOf(result)).toMatchObject({ type: 'history' }),
  conversations: async () => (result) => expect(answerOf(result)).toMatchObject({ type: 'conversations' }),
  typing: async () => (result) => expect(result).toEqual({ statusCode: 200 }),
  'subscribe-presence': async () => (result) => expect(answerOf(result)).toMatchObject({ type: 'presence' }),
  'create-group': async () => groupChanged,
  'add-members': async () => groupChanged,
  'remove-member': async () => groupChanged,
  'set-title': async () => groupChanged,
  'set-admin': async () => groupChanged,
  'group-info': async () => (result) => expect(answerOf(result)).toMatchObject({ type: 'group' }),
  block: async () => (result) => expect(answerOf(result)).toMatchObject({ type: 'blocked', userId: 'carol' }),
  unblock: async () => (result) =>
    expect(answerOf(result)).toMatchObject({ type: 'unblocked', userId: 'carol' }),
  blocks: async () => (result) => expect(answerOf(result)).toMatchObject({ type: 'blocks', hasMore: false }),
  // The deployed mode synthesizes the template with a local VAPID key pair (local/deployed/push.ts):
  // Web Push is on, and a subscription on a browser's push service is stored.
  'register-push': async () => (result) =>
    expect(answerOf(result)).toEqual({ type: 'pushRegistered', requestId: 'r16' }),
  'unregister-push': async () => (result) =>
    expect(answerOf(result)).toEqual({ type: 'pushUnregistered', requestId: 'r17' }),
  fanout: async () => (result) =>
    expect((result as KinesisStreamBatchResponse).batchItemFailures).toEqual([]),
  'presence-notifier': async () => (result) => expect(result ?? {}).not.toHaveProperty('batchItemFailures.0'),
  'push-notifier': async () => (result) =>
    expect((result as KinesisStreamBatchResponse).batchItemFailures).toEqual([]),
};

const EVENTS: Record<FunctionId, () => Promise<unknown>> = {
  authorizer: async () => {
    const event = fixture<Event>('authorizer-request-event');
    return {
      ...event,
      queryStringParameters: { token: await mintToken(alice, LOCAL_JWT_SECRET), deviceId: 'phone' },
    };
  },
  connect: async () => routeEvent('$connect'),
  disconnect: async () => routeEvent('$disconnect'),
  default: async () => routeEvent('$default', { action: 'fly' }),
  send: async () =>
    routeEvent('send', {
      action: 'send',
      requestId: 'r1',
      to: bob,
      clientMessageId: uniqueId('m'),
      body: 'hello',
    }),
  ack: async () =>
    routeEvent('ack', {
      action: 'ack',
      requestId: 'r2',
      conversationId: conversationId(),
      seq: 1,
      kind: 'read',
    }),
  sync: async () =>
    routeEvent('sync', { action: 'sync', requestId: 'r3', conversationId: conversationId(), afterSeq: 0 }),
  conversations: async () => routeEvent('conversations', { action: 'conversations', requestId: 'r4' }),
  typing: async () =>
    routeEvent('typing', { action: 'typing', conversationId: conversationId(), state: 'start' }),
  'subscribe-presence': async () =>
    routeEvent('subscribePresence', { action: 'subscribePresence', requestId: 'r5', userIds: [bob] }),
  'create-group': async () =>
    routeEvent('createGroup', {
      action: 'createGroup',
      requestId: 'r7',
      conversationId: groupId,
      title: 'Lunch',
      members: [bob],
    }),
  'add-members': async () =>
    routeEvent('addMembers', {
      action: 'addMembers',
      requestId: 'r8',
      conversationId: groupId,
      members: ['carol'],
    }),
  'remove-member': async () =>
    routeEvent('removeMember', {
      action: 'removeMember',
      requestId: 'r9',
      conversationId: groupId,
      userId: 'carol',
    }),
  'set-title': async () =>
    routeEvent('setTitle', {
      action: 'setTitle',
      requestId: 'r10',
      conversationId: groupId,
      title: 'Dinner',
    }),
  'set-admin': async () =>
    routeEvent('setAdmin', {
      action: 'setAdmin',
      requestId: 'r11',
      conversationId: groupId,
      userId: bob,
      admin: true,
    }),
  'group-info': async () =>
    routeEvent('groupInfo', { action: 'groupInfo', requestId: 'r12', conversationId: groupId }),
  block: async () => routeEvent('block', { action: 'block', requestId: 'r13', userId: 'carol' }),
  unblock: async () => routeEvent('unblock', { action: 'unblock', requestId: 'r14', userId: 'carol' }),
  blocks: async () => routeEvent('blocks', { action: 'blocks', requestId: 'r15' }),
  // A browser's subscription on a push service every deployment with Web Push allows.
  'register-push': async () =>
    routeEvent('registerPush', {
      action: 'registerPush',
      requestId: 'r16',
      push: {
        kind: 'webpush',
        endpoint: 'https://fcm.googleapis.com/fcm/send/bundles-test',
        keys: { p256dh: `B${'A'.repeat(86)}`, auth: 'A'.repeat(22) },
      },
    }),
  'unregister-push': async () => routeEvent('unregisterPush', { action: 'unregisterPush', requestId: 'r17' }),
  fanout: async () =>
    kinesisBatch([
      {
        type: 'message',
        conversationId: conversationId(),
        seq: 1,
        messageId: '01JDMSG0000000000000000001',
        clientMessageId: 'm1',
        senderId: alice,
        senderDeviceId: 'phone',
        body: 'hello',
        serverTs: Date.now(),
      },
    ]),
  'presence-notifier': async () => kinesisBatch([{ type: 'presence-changed', userId: bob }]),
  // bob has no registration: the push work reads its tables and pushes nothing.
  'push-notifier': async () =>
    kinesisBatch([
      {
        type: 'message',
        conversationId: conversationId(),
        seq: 2,
        messageId: '01JDMSG0000000000000000002',
        clientMessageId: 'm2',
        senderId: alice,
        senderDeviceId: 'phone',
        body: 'are you there?',
        serverTs: Date.now(),
      },
    ]),
};

function answerOf(result: unknown): Record<string, unknown> {
  const body = (result as { body?: unknown } | undefined)?.body;
  expect(typeof body, 'the route answers a frame').toBe('string');
  return JSON.parse(body as string) as Record<string, unknown>;
}

describe('the synthesized bundles with the template’s environment', () => {
  it('are one per function of definitions/functions.ts', () => {
    expect([...stack.functionNames.keys()].sort()).toEqual(FUNCTIONS.map(({ id }) => id).sort());
  });

  // In the order a conversation happens: the message exists before it is acked or synced.
  it.each(FUNCTIONS.map(({ id }) => id).sort((a, b) => order(a) - order(b)))(
    '%s answers its first invocation as configured',
    async (functionId) => {
      const check = await INVOCATIONS[functionId]();
      const event = await EVENTS[functionId]();

      const result = await stack.invoke(functionId, event).catch((error: unknown) => {
        if (error instanceof FunctionError) {
          throw new Error(
            `${functionId} failed: ${error.name}: ${error.message}\n${error.remoteStack ?? ''}`,
          );
        }
        throw error;
      });

      check(result);
    },
  );

  it('refuses a bad token with Unauthorized, as API Gateway needs for a 401', async () => {
    const event = fixture<Event>('authorizer-request-event');

    await expect(
      stack.invoke('authorizer', {
        ...event,
        queryStringParameters: { token: 'not.a.token', deviceId: 'phone' },
      }),
    ).rejects.toMatchObject({ message: 'Unauthorized' });
  });
});

function order(functionId: FunctionId): number {
  const sequence: FunctionId[] = [
    'authorizer',
    'connect',
    'send',
    'fanout',
    'ack',
    'sync',
    'conversations',
    // A group is created before it is changed or described.
    'create-group',
    'add-members',
    'remove-member',
    'set-title',
    'set-admin',
    'group-info',
    // Registered before it is unregistered.
    'register-push',
    'unregister-push',
  ];
  const index = sequence.indexOf(functionId);
  return index === -1 ? sequence.length : index;
}
