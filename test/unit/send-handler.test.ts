/**
 * What the send handler accepts and refuses, on the in-memory ports; sequencing itself is
 * in `sequencing.test.ts`.
 */
import { ID_RULE_MESSAGE, type Message, type SentFrame } from '@parley/protocol';
import { describe, expect, it, vi } from 'vitest';
import type { LimitedRoute } from '../../definitions/rate-limits.js';
import { INTERNAL_ERROR_MESSAGE } from '../../lambdas/domain/errors.js';
import type { RateDecision } from '../../lambdas/domain/rate-limits.js';
import { createSendHandler } from '../../lambdas/handlers/send.js';
import { answerOf, createInMemoryTestDeps, errorOf, invoke, messageEvent, NOW } from './support/harness.js';

const CLIENT_MESSAGE_ID = '4f1c0e9a-6b1d-4c47-9a39-2b1a7d2f6c11';

const sendFrame = (overrides: Record<string, unknown> = {}) => ({
  action: 'send',
  requestId: 'r1',
  to: 'bob',
  clientMessageId: CLIENT_MESSAGE_ID,
  body: 'hello',
  ...overrides,
});

const BODY_RULE = 'body: must be 1 to 4096 characters';
const CONVERSATION_RULE =
  'conversationId: must be dm:{x}:{y} with x and y two user ids and x sorting before y';

/**
 * Deps whose conversations hold seq 1 and 2 (so that a send gets seq 3), and spies on the
 * message store and the publisher, which still reach them.
 */
async function acceptSends() {
  const test = createInMemoryTestDeps();
  const { messages, publisher } = test.ports;
  for (const conversationId of ['dm:alice:bob', 'dm:Zed:alice']) {
    for (const seq of [1, 2]) {
      await messages.storeMessage({
        conversationId,
        seq,
        messageId: `m${seq}`,
        clientMessageId: `c${seq}`,
        senderId: 'bob',
        senderDeviceId: 'phone',
        body: 'earlier',
        serverTs: 1,
      });
    }
  }
  const calls = {
    lastSeq: vi.spyOn(messages, 'lastSeq'),
    storeMessage: vi.spyOn(messages, 'storeMessage'),
    publish: vi.spyOn(publisher, 'publish'),
  };
  const stored = (): Message | undefined => calls.storeMessage.mock.calls[0]?.[0];
  return { ...test, calls, stored };
}

function expectNothingCalled(calls: Awaited<ReturnType<typeof acceptSends>>['calls']) {
  expect(calls.lastSeq).not.toHaveBeenCalled();
  expect(calls.storeMessage).not.toHaveBeenCalled();
  expect(calls.publish).not.toHaveBeenCalled();
}

describe('the send handler refuses an invalid frame with bad_request and stores nothing', () => {
  const cases: { name: string; frame: unknown; message: string; requestId: string | null }[] = [
    {
      name: 'both to and conversationId',
      frame: sendFrame({ conversationId: 'dm:alice:bob' }),
      message: 'to: exactly one of to or conversationId is required',
      requestId: 'r1',
    },
    {
      name: 'neither to nor conversationId',
      frame: sendFrame({ to: undefined }),
      message: 'to: exactly one of to or conversationId is required',
      requestId: 'r1',
    },
    {
      name: 'to naming the sender',
      frame: sendFrame({ to: 'alice' }),
      message: 'to: must be another user than the sender',
      requestId: 'r1',
    },
    {
      name: 'to that is not a user id',
      frame: sendFrame({ to: 'bob smith' }),
      message: `to: ${ID_RULE_MESSAGE}`,
      requestId: 'r1',
    },
    {
      name: 'to that is not a string',
      frame: sendFrame({ to: 42 }),
      message: 'to: must be a string',
      requestId: 'r1',
    },
    { name: 'an empty body', frame: sendFrame({ body: '' }), message: BODY_RULE, requestId: 'r1' },
    {
      name: 'a body of 4097 characters',
      frame: sendFrame({ body: 'x'.repeat(4097) }),
      message: BODY_RULE,
      requestId: 'r1',
    },
    {
      name: 'a body that is not a string',
      frame: sendFrame({ body: 5 }),
      message: 'body: must be a string',
      requestId: 'r1',
    },
    {
      name: 'a missing body',
      frame: sendFrame({ body: undefined }),
      message: 'body: is required',
      requestId: 'r1',
    },
    {
      name: 'a clientMessageId with a space',
      frame: sendFrame({ clientMessageId: 'not an id' }),
      message: `clientMessageId: ${ID_RULE_MESSAGE}`,
      requestId: 'r1',
    },
    {
      name: 'a clientMessageId of 65 characters',
      frame: sendFrame({ clientMessageId: 'a'.repeat(65) }),
      message: `clientMessageId: ${ID_RULE_MESSAGE}`,
      requestId: 'r1',
    },
    {
      name: 'an empty clientMessageId',
      frame: sendFrame({ clientMessageId: '' }),
      message: `clientMessageId: ${ID_RULE_MESSAGE}`,
      requestId: 'r1',
    },
    {
      name: 'a missing clientMessageId',
      frame: sendFrame({ clientMessageId: undefined }),
      message: 'clientMessageId: is required',
      requestId: 'r1',
    },
    {
      name: 'a missing requestId',
      frame: sendFrame({ requestId: undefined }),
      message: 'requestId: is required',
      requestId: null,
    },
    {
      name: 'an empty requestId',
      frame: sendFrame({ requestId: '' }),
      message: 'requestId: must be 1 to 64 characters',
      requestId: null,
    },
    {
      name: 'a requestId of 65 characters',
      frame: sendFrame({ requestId: 'r'.repeat(65) }),
      message: 'requestId: must be 1 to 64 characters',
      requestId: null,
    },
    {
      name: 'a requestId that is not a string',
      frame: sendFrame({ requestId: 7 }),
      message: 'requestId: must be a string',
      requestId: null,
    },
    {
      name: 'an unknown field',
      frame: sendFrame({ priority: 'high' }),
      message: 'priority: is not a field of this action',
      requestId: 'r1',
    },
    {
      name: 'a conversationId that is not a string',
      frame: sendFrame({ to: undefined, conversationId: 12 }),
      message: 'conversationId: must be a string',
      requestId: 'r1',
    },
    {
      name: 'an empty conversationId',
      frame: sendFrame({ to: undefined, conversationId: '' }),
      message: 'conversationId: must be a conversation id',
      requestId: 'r1',
    },
    {
      name: 'a text that is not JSON',
      frame: '{"action":"send","requestId":"r1",',
      message: 'frame: must be a JSON object (the text is not JSON)',
      requestId: null,
    },
    {
      name: 'a JSON array',
      frame: '[{"action":"send","requestId":"r1"}]',
      message: 'frame: must be a JSON object',
      requestId: null,
    },
    { name: 'a JSON string', frame: '"send"', message: 'frame: must be a JSON object', requestId: null },
    { name: 'JSON null', frame: 'null', message: 'frame: must be a JSON object', requestId: null },
  ];

  it.each(cases)('refuses $name', async ({ frame, message, requestId }) => {
    const { provider, calls } = await acceptSends();

    const result = await invoke(createSendHandler(provider), messageEvent(frame));

    expect(result.statusCode).toBe(200);
    expect(errorOf(result)).toEqual({ type: 'error', requestId, code: 'bad_request', message });
    expectNothingCalled(calls);
  });

  it.each([
    ['the two ids are in the wrong order', 'dm:bob:alice'],
    ['both ids are the same user', 'dm:alice:alice'],
    ['it has one id only', 'dm:alice'],
    ['it has three ids', 'dm:alice:bob:carol'],
    ['it is not a direct conversation', 'group:alice:bob'],
    ['an id is not a user id', 'dm:alice:b%20b'],
  ])('refuses a conversationId where %s as bad_request', async (_reason, conversationId) => {
    const { provider, calls } = await acceptSends();

    const result = await invoke(
      createSendHandler(provider),
      messageEvent(sendFrame({ to: undefined, conversationId })),
    );

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'r1',
      code: 'bad_request',
      message: CONVERSATION_RULE,
    });
    expectNothingCalled(calls);
  });

  it('refuses a conversationId of which the caller is not a member as forbidden', async () => {
    const { provider, calls } = await acceptSends();

    const result = await invoke(
      createSendHandler(provider),
      messageEvent(sendFrame({ to: undefined, conversationId: 'dm:bob:carol' })),
    );

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'r1',
      code: 'forbidden',
      message: 'conversationId: you are not a member of dm:bob:carol',
    });
    expectNothingCalled(calls);
  });

  it('answers internal without detail when the connection has no authorizer context', async () => {
    const { provider, calls } = await acceptSends();
    const event = messageEvent(sendFrame());
    event.requestContext.authorizer = null;

    const result = await invoke(createSendHandler(provider), event);

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'r1',
      code: 'internal',
      message: INTERNAL_ERROR_MESSAGE,
    });
    expectNothingCalled(calls);
  });
});

describe('the send handler accepts a valid frame', () => {
  it.each([
    ['of 1 character', 'x'],
    ['of 4096 characters', 'x'.repeat(4096)],
  ])('stores a body %s', async (_length, body) => {
    const { provider, stored } = await acceptSends();

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame({ body })));

    expect(answerOf<SentFrame>(result)).toMatchObject({ type: 'sent', seq: 3, duplicate: false });
    expect(stored()?.body).toBe(body);
  });

  it('sends into a conversation named by its id when the caller is a member', async () => {
    const { provider, ports } = await acceptSends();

    const result = await invoke(
      createSendHandler(provider),
      messageEvent(sendFrame({ to: undefined, conversationId: 'dm:alice:bob' })),
    );

    expect(answerOf<SentFrame>(result)).toMatchObject({
      type: 'sent',
      conversationId: 'dm:alice:bob',
      seq: 3,
    });
    expect(ports.publisher.records[0]?.partitionKey).toBe('dm:alice:bob');
  });

  it('names the conversation with the smaller user id first, in code-unit order', async () => {
    const { provider, calls } = await acceptSends();

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame({ to: 'Zed' })));

    expect(answerOf<SentFrame>(result).conversationId).toBe('dm:Zed:alice');
    expect(calls.lastSeq.mock.calls).toEqual([['dm:Zed:alice']]);
  });

  it('records the sending device from the authorizer context', async () => {
    const { provider, stored } = await acceptSends();
    const event = messageEvent(sendFrame());
    event.requestContext.authorizer = { principalId: 'alice', userId: 'alice', deviceId: 'laptop' };

    await invoke(createSendHandler(provider), event);

    expect(stored()).toMatchObject({ senderId: 'alice', senderDeviceId: 'laptop' });
  });
});

describe('the send handler reads while the rate limit is taken, and writes only once it admits', () => {
  /** A limiter whose `take` answers only when the test says, and counts what it was asked. */
  function heldLimiter() {
    let answer: (decision: RateDecision) => void = () => {};
    const take = vi.fn(
      (_userId: string, _route: LimitedRoute) =>
        new Promise<RateDecision>((resolve) => {
          answer = resolve;
        }),
    );
    return { limiter: { take }, take, answer: (decision: RateDecision) => answer(decision) };
  }
  const REFUSAL: RateDecision = { admitted: false, message: 'rate limit: at most 10 send frames a second' };

  it('reads the last seq and the blocks before the limit answers, and stores once it admits', async () => {
    const test = await acceptSends();
    const held = heldLimiter();
    test.deps.rateLimiter = held.limiter;
    const findBlocks = vi.spyOn(test.ports.privacy, 'findBlocks');

    const answering = invoke(createSendHandler(test.provider), messageEvent(sendFrame()));
    await vi.waitFor(() => {
      expect(test.calls.lastSeq).toHaveBeenCalled();
      expect(findBlocks).toHaveBeenCalled();
    });
    expect(test.calls.storeMessage).not.toHaveBeenCalled();
    held.answer({ admitted: true });

    expect(answerOf<SentFrame>(await answering)).toMatchObject({ type: 'sent', seq: 3 });
    expect(held.take).toHaveBeenCalledWith('alice', 'send');
  });

  it('answers rate_limited and stores nothing when the limit refuses after the reads', async () => {
    const test = await acceptSends();
    const held = heldLimiter();
    test.deps.rateLimiter = held.limiter;

    const answering = invoke(createSendHandler(test.provider), messageEvent(sendFrame()));
    await vi.waitFor(() => expect(test.calls.lastSeq).toHaveBeenCalled());
    held.answer(REFUSAL);

    expect(errorOf(await answering)).toMatchObject({ code: 'rate_limited', message: REFUSAL.message });
    expect(test.calls.storeMessage).not.toHaveBeenCalled();
    expect(test.calls.publish).not.toHaveBeenCalled();
  });

  it('answers rate_limited, not blocked, when both refuse the send', async () => {
    const test = await acceptSends();
    await test.ports.privacy.block({ blockerId: 'bob', blockedId: 'alice' }, NOW);
    const held = heldLimiter();
    test.deps.rateLimiter = held.limiter;

    const answering = invoke(createSendHandler(test.provider), messageEvent(sendFrame()));
    await vi.waitFor(() => expect(held.take).toHaveBeenCalled());
    held.answer(REFUSAL);

    expect(errorOf(await answering).code).toBe('rate_limited');
    expect(test.calls.storeMessage).not.toHaveBeenCalled();
  });

  it('reads nothing for a refusal the instance already knows of', async () => {
    const test = await acceptSends();
    const take = vi.fn(async () => REFUSAL);
    test.deps.rateLimiter = { take, knownRefusal: () => REFUSAL };
    const findBlocks = vi.spyOn(test.ports.privacy, 'findBlocks');

    const result = await invoke(createSendHandler(test.provider), messageEvent(sendFrame()));

    expect(errorOf(result).code).toBe('rate_limited');
    expect(take).not.toHaveBeenCalled();
    expect(findBlocks).not.toHaveBeenCalled();
    expectNothingCalled(test.calls);
  });
});
