import {
  ackFrameSchema,
  CONVERSATIONS_DEFAULT_LIMIT,
  CONVERSATIONS_MAX_LIMIT,
  conversationsFrameSchema,
  describeZodError,
  directConversationId,
  MAX_BODY_CHARS,
  MAX_FRAME_BYTES,
  membersOf,
  PRESENCE_MAX_USERS,
  pingFrameSchema,
  RECEIPT_KINDS,
  ROUTED_ACTIONS,
  readableRequestId,
  requestIdFromText,
  SYNC_DEFAULT_LIMIT,
  SYNC_MAX_LIMIT,
  sendFrameSchema,
  subscribePresenceFrameSchema,
  syncFrameSchema,
  TYPING_STATES,
  typingFrameSchema,
} from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { assertMember, resolveSendTarget } from '../../lambdas/domain/conversation.js';
import {
  BadRequestError,
  ConfigurationError,
  ConversationListContentionError,
  DeliveryFailedError,
  ForbiddenError,
  INTERNAL_ERROR_MESSAGE,
  InvalidTokenError,
  ParleyError,
  PostTimeoutError,
  ProtocolError,
  SequencingContentionError,
  TokenKeysUnavailableError,
  toErrorFrame,
} from '../../lambdas/domain/errors.js';

describe('direct conversation ids', () => {
  it('puts the smaller user id first, whoever sends', () => {
    expect(directConversationId('bob', 'alice')).toBe('dm:alice:bob');
    expect(directConversationId('alice', 'bob')).toBe('dm:alice:bob');
  });

  it('orders user ids by code unit, so capitals and digits sort before lower case', () => {
    expect(directConversationId('alice', 'Bob')).toBe('dm:Bob:alice');
    expect(directConversationId('alice', '42')).toBe('dm:42:alice');
    expect(directConversationId('a_1', 'a-1')).toBe('dm:a-1:a_1');
  });

  it('reads the two members back from an id', () => {
    expect(membersOf('dm:alice:bob')).toEqual(['alice', 'bob']);
    expect(membersOf(directConversationId('Zed', 'amy'))).toEqual(['Zed', 'amy']);
  });

  it.each([
    'dm:bob:alice',
    'dm:alice:alice',
    'dm:alice',
    'dm:alice:bob:carol',
    'group:alice:bob',
    'DM:alice:bob',
    'dm::bob',
    'dm:alice:',
    `dm:alice:${'b'.repeat(65)}`,
    'dm:al ice:bob',
    '',
  ])('finds no members in %j', (conversationId) => {
    expect(membersOf(conversationId)).toBeUndefined();
  });
});

describe('membership', () => {
  it('returns the members to a member', () => {
    expect(assertMember('dm:alice:bob', 'bob')).toEqual(['alice', 'bob']);
  });

  it('refuses a non-member as forbidden', () => {
    const refuse = () => assertMember('dm:bob:carol', 'alice');

    expect(refuse).toThrow(ForbiddenError);
    expect(refuse).toThrow('conversationId: you are not a member of dm:bob:carol');
  });

  it('refuses a malformed id as a bad request before looking at membership', () => {
    expect(() => assertMember('dm:bob:alice', 'alice')).toThrow(BadRequestError);
  });

  it('resolves a send to a user into the direct conversation with that user', () => {
    expect(resolveSendTarget('bob', { to: 'alice' })).toBe('dm:alice:bob');
  });

  it('refuses a send to oneself', () => {
    expect(() => resolveSendTarget('alice', { to: 'alice' })).toThrow(
      new BadRequestError('to: must be another user than the sender'),
    );
  });

  it('checks membership of a conversation a send names', () => {
    expect(resolveSendTarget('alice', { conversationId: 'dm:alice:bob' })).toBe('dm:alice:bob');
    expect(() => resolveSendTarget('carol', { conversationId: 'dm:alice:bob' })).toThrow(ForbiddenError);
  });
});

describe('frame schemas', () => {
  it('accept the examples of docs/protocol.md', () => {
    const send = {
      action: 'send',
      requestId: 'r1',
      to: 'bob',
      clientMessageId: '4f1c0e9a-6b1d-4c47-9a39-2b1a7d2f6c11',
      body: 'hello',
    };
    const sync = { action: 'sync', requestId: 'r3', conversationId: 'dm:alice:bob', afterSeq: 4, limit: 100 };
    const ping = { action: 'ping', requestId: 'r6' };

    expect(sendFrameSchema.parse(send)).toEqual(send);
    expect(syncFrameSchema.parse(sync)).toEqual(sync);
    expect(pingFrameSchema.parse(ping)).toEqual(ping);
  });

  it('accept the examples of docs/protocol.md for ack, conversations, typing and subscribePresence', () => {
    const ack = { action: 'ack', requestId: 'r2', conversationId: 'dm:alice:bob', seq: 7, kind: 'read' };
    const conversations = {
      action: 'conversations',
      requestId: 'r4',
      since: 'c1.MTc2NDI5MDAwMDEyMw',
      limit: 50,
    };
    const typing = { action: 'typing', conversationId: 'dm:alice:bob', state: 'start' };
    const subscribe = { action: 'subscribePresence', requestId: 'r5', userIds: ['bob', 'carol'] };

    expect(ackFrameSchema.parse(ack)).toEqual(ack);
    expect(conversationsFrameSchema.parse(conversations)).toEqual(conversations);
    expect(typingFrameSchema.parse(typing)).toEqual(typing);
    expect(subscribePresenceFrameSchema.parse(subscribe)).toEqual(subscribe);
  });

  it('default the conversations limit to 50 and leave since out when absent', () => {
    expect(conversationsFrameSchema.parse({ action: 'conversations', requestId: 'r4' })).toEqual({
      action: 'conversations',
      requestId: 'r4',
      limit: 50,
    });
  });

  it.each([
    [
      'send',
      sendFrameSchema,
      { action: 'send', requestId: 'r1', to: 'bob', clientMessageId: 'c1', body: 'hi' },
    ],
    [
      'sync',
      syncFrameSchema,
      { action: 'sync', requestId: 'r3', conversationId: 'dm:alice:bob', afterSeq: 0 },
    ],
    ['ping', pingFrameSchema, { action: 'ping', requestId: 'r6' }],
    [
      'ack',
      ackFrameSchema,
      { action: 'ack', requestId: 'r2', conversationId: 'dm:alice:bob', seq: 1, kind: 'read' },
    ],
    ['conversations', conversationsFrameSchema, { action: 'conversations', requestId: 'r4' }],
    ['typing', typingFrameSchema, { action: 'typing', conversationId: 'dm:alice:bob', state: 'stop' }],
    [
      'subscribePresence',
      subscribePresenceFrameSchema,
      { action: 'subscribePresence', requestId: 'r5', userIds: ['bob'] },
    ],
  ] as const)('refuse an unknown field of %s by its name', (_action, schema, frame) => {
    const parsed = (schema as z.ZodType).safeParse({ ...frame, extra: 1 });

    expect(parsed.success || describeZodError(parsed.error)).toBe('extra: is not a field of this action');
  });

  it('route every action of docs/protocol.md', () => {
    expect([...ROUTED_ACTIONS].sort()).toEqual(
      [
        'ack',
        'conversations',
        'ping',
        'keepalive',
        'send',
        'subscribePresence',
        'sync',
        'typing',
        'createGroup',
        'addMembers',
        'removeMember',
        'setTitle',
        'setAdmin',
        'groupInfo',
        'block',
        'unblock',
        'blocks',
        'registerPush',
        'unregisterPush',
      ].sort(),
    );
  });

  it('match the limits of docs/protocol.md', () => {
    expect(MAX_FRAME_BYTES).toBe(32 * 1024);
    expect(MAX_BODY_CHARS).toBe(4096);
    expect(SYNC_DEFAULT_LIMIT).toBe(100);
    expect(SYNC_MAX_LIMIT).toBe(200);
    expect(CONVERSATIONS_DEFAULT_LIMIT).toBe(50);
    expect(CONVERSATIONS_MAX_LIMIT).toBe(100);
    expect(PRESENCE_MAX_USERS).toBe(100);
    expect(RECEIPT_KINDS).toEqual(['delivered', 'read']);
    expect(TYPING_STATES).toEqual(['start', 'stop']);
  });
});

describe('reading a requestId to echo', () => {
  it('reads a valid requestId from a frame that is otherwise invalid', () => {
    expect(readableRequestId({ action: 'nope', requestId: 'r1', body: 5 })).toBe('r1');
  });

  it.each([
    ['an array', ['r1']],
    ['null', null],
    ['a string', 'r1'],
    ['a frame without requestId', { action: 'ping' }],
    ['a numeric requestId', { requestId: 1 }],
    ['an empty requestId', { requestId: '' }],
    ['a requestId of 65 characters', { requestId: 'r'.repeat(65) }],
  ])('reads none from %s', (_case, frame) => {
    expect(readableRequestId(frame)).toBeNull();
  });

  it('reads it from text that is JSON, and best effort from text that is cut off', () => {
    expect(requestIdFromText('{"action":"ping","requestId":"r6"}')).toBe('r6');
    expect(requestIdFromText('{"action":"send","requestId" : "r7","body":"unterminated')).toBe('r7');
    expect(requestIdFromText('not json at all')).toBeNull();
    expect(requestIdFromText('[{"requestId":"r8"}]')).toBeNull();
  });
});

describe('error frames', () => {
  it.each([
    [new BadRequestError('body: must be a string'), 'bad_request'],
    [new ForbiddenError('conversationId: you are not a member of dm:bob:carol'), 'forbidden'],
  ] as const)('keeps the code and message of %s', (error, code) => {
    expect(toErrorFrame(error, 'r1')).toEqual({
      type: 'error',
      requestId: 'r1',
      code,
      message: error.message,
    });
  });

  it.each([
    ['a sequencing contention', new SequencingContentionError('could not claim a seq in dm:alice:bob')],
    ['a server error with no protocol code', new ConfigurationError('PARLEY_EVENTS_STREAM is not set')],
    ['an unexpected error', new Error('connect ECONNREFUSED 10.0.0.12:443')],
    ['a thrown string', 'boom'],
    ['undefined', undefined],
  ])('answers %s as internal without leaking its detail', (_case, error) => {
    expect(toErrorFrame(error, null)).toEqual({
      type: 'error',
      requestId: null,
      code: 'internal',
      message: INTERNAL_ERROR_MESSAGE,
    });
  });

  it('names each error after its class', () => {
    expect(new BadRequestError('x').name).toBe('BadRequestError');
    expect(new SequencingContentionError('x').name).toBe('SequencingContentionError');
  });

  it.each([
    ['ConfigurationError', new ConfigurationError('x', { cause: 'the cause' })],
    ['DeliveryFailedError', new DeliveryFailedError('x', { cause: 'the cause' })],
    ['InvalidTokenError', new InvalidTokenError('x', { cause: 'the cause' })],
    ['TokenKeysUnavailableError', new TokenKeysUnavailableError('x', { cause: 'the cause' })],
    ['ConversationListContentionError', new ConversationListContentionError('x', { cause: 'the cause' })],
    ['ForbiddenError', new ForbiddenError('x', { cause: 'the cause' })],
  ])('makes %s a ParleyError named after its class that keeps its cause', (name, error) => {
    expect(error).toBeInstanceOf(ParleyError);
    expect(error).toMatchObject({ name, message: 'x', cause: 'the cause' });
  });

  it('gives a protocol code to the errors a client is answered with, and only to those', () => {
    for (const error of [
      new BadRequestError('x'),
      new ForbiddenError('x'),
      new SequencingContentionError('x'),
    ]) {
      expect(error).toBeInstanceOf(ProtocolError);
    }
    for (const error of [
      new ConfigurationError('x'),
      new DeliveryFailedError('x'),
      new PostTimeoutError('c', 1),
    ]) {
      expect(error).not.toBeInstanceOf(ProtocolError);
      expect(error).not.toHaveProperty('code');
    }
  });

  it('words a post timeout from its connection and timeout, and keeps its cause', () => {
    const error = new PostTimeoutError('conn-1', 3000, { cause: 'aborted' });

    expect(error).toBeInstanceOf(ParleyError);
    expect(error).toMatchObject({
      name: 'PostTimeoutError',
      message: 'post to conn-1 took more than 3000 ms',
      cause: 'aborted',
    });
  });

  it('describes the first issue of a validation error as field: what is wrong', () => {
    const schema = z.object({ outer: z.object({ inner: z.number({ error: 'must be a number' }) }) });
    const nested = schema.safeParse({ outer: { inner: 'x' } });
    const topLevel = z.string({ error: 'must be a string' }).safeParse(5);

    expect(nested.success || describeZodError(nested.error)).toBe('outer.inner: must be a number');
    expect(topLevel.success || describeZodError(topLevel.error)).toBe('must be a string');
  });
});
