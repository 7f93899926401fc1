/**
 * `ack` and `typing` are one-way routes (no route response): API Gateway sends the caller
 * nothing back, whatever the function returns, so what they do answer (`acked` to an ack
 * with `requestId`, error frames) is posted to the caller's connection, and the function
 * returns no body. The handlers are called here as Lambda calls them, not through the
 * harness's `invoke`, which reads the posted answer back as the caller would.
 */
import type { AckedFrame, ErrorFrame } from '@parley/protocol';
import type { Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { ConfigurationError } from '../../lambdas/domain/errors.js';
import { createAckHandler } from '../../lambdas/handlers/ack.js';
import { createSyncHandler } from '../../lambdas/handlers/sync.js';
import { createTypingHandler } from '../../lambdas/handlers/typing.js';
import type { RouteHandler, RouteResult, WebSocketEvent } from '../../lambdas/middleware/websocket-route.js';
import {
  CALLER_CONNECTION_ID,
  createInMemoryTestDeps,
  lambdaContext,
  messageEvent,
} from './support/harness.js';

const ALICE_AND_BOB = 'dm:alice:bob';

/** The handler as Lambda calls it: its own return value, before API Gateway. */
async function call(handler: RouteHandler, event: WebSocketEvent): Promise<RouteResult> {
  return (await (handler as (event: WebSocketEvent, context: Context) => Promise<unknown>)(
    event,
    lambdaContext,
  )) as RouteResult;
}

const framesToCaller = (test: ReturnType<typeof createInMemoryTestDeps>) =>
  test.ports.pusher.framesTo(CALLER_CONNECTION_ID);

describe('a one-way route', () => {
  it('posts the acked answer of an ack with requestId to the caller and returns no body', async () => {
    const test = createInMemoryTestDeps();

    const result = await call(
      createAckHandler(test.provider),
      messageEvent({ action: 'ack', requestId: 'a1', conversationId: ALICE_AND_BOB, kind: 'read', seq: 0 }),
    );

    expect(result).toEqual({ statusCode: 200 });
    expect(framesToCaller(test)).toEqual([
      {
        type: 'acked',
        requestId: 'a1',
        conversationId: ALICE_AND_BOB,
        kind: 'read',
        seq: 0,
      } satisfies AckedFrame,
    ]);
  });

  it('answers an ack without requestId with nothing at all: no body, no post', async () => {
    const test = createInMemoryTestDeps();

    const result = await call(
      createAckHandler(test.provider),
      messageEvent({ action: 'ack', conversationId: ALICE_AND_BOB, kind: 'read', seq: 0 }),
    );

    expect(result).toEqual({ statusCode: 200 });
    expect(test.ports.pusher.posts).toEqual([]);
  });

  it('posts a refusal to the caller as an error frame naming the problem', async () => {
    const test = createInMemoryTestDeps();

    const result = await call(
      createTypingHandler(test.provider),
      messageEvent({ action: 'typing', requestId: 't1', conversationId: 'dm:bob:carol', state: 'start' }),
    );

    expect(result).toEqual({ statusCode: 200 });
    expect(framesToCaller(test)).toEqual([
      {
        type: 'error',
        requestId: 't1',
        code: 'forbidden',
        message: 'conversationId: you are not a member of dm:bob:carol',
      } satisfies ErrorFrame,
    ]);
  });

  it('still succeeds when the caller left before its answer could be posted', async () => {
    const test = createInMemoryTestDeps();
    test.ports.pusher.close(CALLER_CONNECTION_ID);

    const result = await call(
      createTypingHandler(test.provider),
      messageEvent({ action: 'typing', requestId: 't2', conversationId: 'dm:bob:carol', state: 'start' }),
    );

    expect(result).toEqual({ statusCode: 200 });
    expect(test.ports.pusher.posts).toEqual([]);
  });

  it('still succeeds, logging it, when posting the answer fails', async () => {
    const test = createInMemoryTestDeps();
    const logged = vi.spyOn(test.deps.logger, 'error');
    test.deps.pusher = {
      post: async () => {
        throw new Error('the @connections endpoint is unreachable');
      },
      disconnect: async () => 'gone',
    };

    const result = await call(
      createTypingHandler(test.provider),
      messageEvent({ action: 'typing', requestId: 't3', conversationId: 'dm:bob:carol', state: 'start' }),
    );

    expect(result).toEqual({ statusCode: 200 });
    expect(logged).toHaveBeenCalledWith(
      'could not post the answer',
      expect.objectContaining({ connectionId: CALLER_CONNECTION_ID, requestId: 't3' }),
    );
  });
});

describe('a one-way route deployed without the @connections endpoint', () => {
  it('fails the invocation, so that the misconfiguration shows, instead of dropping the answer', async () => {
    const test = createInMemoryTestDeps();
    test.deps.pusher = {
      post: async () => {
        throw new ConfigurationError('PARLEY_CONNECTIONS_ENDPOINT is not set for this function');
      },
      disconnect: async () => 'gone',
    };

    await expect(
      call(
        createAckHandler(test.provider),
        messageEvent({ action: 'ack', requestId: 'a2', conversationId: ALICE_AND_BOB, kind: 'read', seq: 0 }),
      ),
    ).rejects.toThrow('PARLEY_CONNECTIONS_ENDPOINT is not set for this function');
  });
});

describe("a one-way route over the caller's limit", () => {
  it.each([
    ['ack', { action: 'ack', requestId: 'a9', conversationId: ALICE_AND_BOB, kind: 'read', seq: 0 }],
    ['typing', { action: 'typing', requestId: 't9', conversationId: ALICE_AND_BOB, state: 'start' }],
  ] as const)(
    'answers a refused %s with nothing: a post per refused frame would spend the throttle everyone shares',
    async (route, frame) => {
      const test = createInMemoryTestDeps();
      test.deps.rateLimiter = {
        take: async () => ({
          admitted: false,
          message: `rate limit: at most 1 ${route} frames a second per user; retry in 1 s`,
        }),
      };
      const handler = route === 'ack' ? createAckHandler(test.provider) : createTypingHandler(test.provider);

      const result = await call(handler, messageEvent(frame));

      expect(result).toEqual({ statusCode: 200 });
      expect(test.ports.pusher.posts).toEqual([]);
    },
  );
});

describe('a route with a route response', () => {
  it('answers in its body and posts nothing', async () => {
    const test = createInMemoryTestDeps();

    const result = await call(
      createSyncHandler(test.provider),
      messageEvent({ action: 'sync', requestId: 's1', conversationId: ALICE_AND_BOB, afterSeq: 0 }),
    );

    expect(JSON.parse(result.body ?? '{}')).toMatchObject({ type: 'history', requestId: 's1' });
    expect(test.ports.pusher.posts).toEqual([]);
  });
});
