import { type HistoryFrame, MAX_FRAME_BYTES, type Message } from '@parley/protocol';
import { describe, expect, it, vi } from 'vitest';
import { createDefaultHandler } from '../../lambdas/handlers/default.js';
import { createSyncHandler } from '../../lambdas/handlers/sync.js';
import {
  answerOf,
  createInMemoryTestDeps,
  createTestDeps,
  errorOf,
  invoke,
  messageEvent,
  mockAwsClients,
  NOW,
} from './support/harness.js';

mockAwsClients();

const CONVERSATION = 'dm:alice:bob';

const syncFrame = (overrides: Record<string, unknown> = {}) => ({
  action: 'sync',
  requestId: 'r3',
  conversationId: CONVERSATION,
  afterSeq: 0,
  ...overrides,
});

const storedMessage = (seq: number): Message => ({
  conversationId: CONVERSATION,
  seq,
  messageId: `01JDMESSAGE${String(seq).padStart(4, '0')}`,
  clientMessageId: `cm-${seq}`,
  senderId: seq % 2 === 0 ? 'bob' : 'alice',
  senderDeviceId: 'phone',
  body: `message ${seq}`,
  serverTs: NOW + seq,
});

/**
 * Deps on in-memory ports holding seq 1 to `count` of dm:alice:bob, and the store's calls
 * (which still reach the store unless a test says otherwise).
 */
async function syncWith(count: number) {
  const { provider, ports } = createInMemoryTestDeps();
  for (let seq = 1; seq <= count; seq++) await ports.messages.storeMessage(storedMessage(seq));
  const calls = {
    lastSeq: vi.spyOn(ports.messages, 'lastSeq'),
    listMessages: vi.spyOn(ports.messages, 'listMessages'),
    listReceipts: vi.spyOn(ports.receipts, 'listReceipts'),
  };
  return { provider, ports, calls };
}

function expectNothingRead(calls: Awaited<ReturnType<typeof syncWith>>['calls']) {
  expect(calls.lastSeq).not.toHaveBeenCalled();
  expect(calls.listMessages).not.toHaveBeenCalled();
  expect(calls.listReceipts).not.toHaveBeenCalled();
}

const NO_RECEIPTS = [
  { userId: 'alice', deliveredSeq: 0, readSeq: 0 },
  { userId: 'bob', deliveredSeq: 0, readSeq: 0 },
];

describe('the sync handler', () => {
  it('answers the messages after afterSeq in ascending order, at most limit, and says more follow', async () => {
    const { provider } = await syncWith(5);

    const result = await invoke(
      createSyncHandler(provider),
      messageEvent(syncFrame({ afterSeq: 1, limit: 2 })),
    );

    expect(answerOf<HistoryFrame>(result)).toEqual({
      type: 'history',
      requestId: 'r3',
      conversationId: CONVERSATION,
      messages: [storedMessage(2), storedMessage(3)],
      lastSeq: 5,
      hasMore: true,
      receipts: NO_RECEIPTS,
    });
  });

  it('says no more follow on the last page', async () => {
    const { provider } = await syncWith(5);

    const result = await invoke(
      createSyncHandler(provider),
      messageEvent(syncFrame({ afterSeq: 3, limit: 2 })),
    );

    const history = answerOf<HistoryFrame>(result);
    expect(history.messages.map((message) => message.seq)).toEqual([4, 5]);
    expect(history).toMatchObject({ lastSeq: 5, hasMore: false });
  });

  it('answers seqs gone past the retention period with goneThrough, and more to follow after it', async () => {
    const { provider, calls } = await syncWith(5);
    calls.listMessages.mockResolvedValueOnce({ messages: [], lastSeq: 5, goneThrough: 3 });

    const result = await invoke(createSyncHandler(provider), messageEvent(syncFrame({ afterSeq: 0 })));

    expect(answerOf<HistoryFrame>(result)).toMatchObject({ messages: [], goneThrough: 3, hasMore: true });
  });

  it('says no more follow when every seq up to the last is gone', async () => {
    const { provider, calls } = await syncWith(5);
    calls.listMessages.mockResolvedValueOnce({ messages: [], lastSeq: 5, goneThrough: 5 });

    const result = await invoke(createSyncHandler(provider), messageEvent(syncFrame({ afterSeq: 0 })));

    expect(answerOf<HistoryFrame>(result)).toMatchObject({ goneThrough: 5, hasMore: false });
  });

  it('answers a client that is up to date with no messages and no more to follow', async () => {
    const { provider } = await syncWith(5);

    const result = await invoke(createSyncHandler(provider), messageEvent(syncFrame({ afterSeq: 5 })));

    expect(answerOf<HistoryFrame>(result)).toMatchObject({ messages: [], lastSeq: 5, hasMore: false });
  });

  it('reads one page of the messages after afterSeq, of the limit asked for and no more than a frame holds', async () => {
    const { provider, calls } = await syncWith(5);

    await invoke(createSyncHandler(provider), messageEvent(syncFrame({ afterSeq: 4, limit: 50 })));

    expect(calls.listMessages.mock.calls).toEqual([[CONVERSATION, 4, 50, MAX_FRAME_BYTES]]);
  });

  it('pages 100 messages when the frame gives no limit', async () => {
    const { provider, calls } = await syncWith(150);

    const result = await invoke(createSyncHandler(provider), messageEvent(syncFrame()));

    const history = answerOf<HistoryFrame>(result);
    expect(calls.listMessages.mock.calls[0]?.[2]).toBe(100);
    expect(history.messages).toHaveLength(100);
    expect(history.messages.at(-1)?.seq).toBe(100);
    expect(history).toMatchObject({ lastSeq: 150, hasMore: true });
  });

  it.each([1, 200])('accepts a limit of %i', async (limit) => {
    const { provider, calls } = await syncWith(3);

    const result = await invoke(createSyncHandler(provider), messageEvent(syncFrame({ limit })));

    expect(answerOf<HistoryFrame>(result).type).toBe('history');
    expect(calls.listMessages.mock.calls[0]?.[2]).toBe(limit);
  });

  it('answers a conversation nobody has written in yet with no messages and lastSeq 0', async () => {
    const { provider } = await syncWith(0);

    const result = await invoke(createSyncHandler(provider), messageEvent(syncFrame()));

    expect(answerOf<HistoryFrame>(result)).toEqual({
      type: 'history',
      requestId: 'r3',
      conversationId: CONVERSATION,
      messages: [],
      lastSeq: 0,
      hasMore: false,
      receipts: NO_RECEIPTS,
    });
  });

  it('answers one receipt per member, whichever member asks', async () => {
    const { provider } = await syncWith(2);
    const event = messageEvent(syncFrame());
    event.requestContext.authorizer = { principalId: 'bob', userId: 'bob', deviceId: 'tablet' };

    const result = await invoke(createSyncHandler(provider), event);

    expect(answerOf<HistoryFrame>(result).receipts).toEqual(NO_RECEIPTS);
  });

  it('answers the watermarks stored for the members, a member who never acked at 0', async () => {
    const { provider, ports } = await syncWith(5);
    await ports.receipts.raiseWatermark(CONVERSATION, 'bob', 'delivered', 5);
    await ports.receipts.raiseWatermark(CONVERSATION, 'bob', 'read', 3);

    const result = await invoke(createSyncHandler(provider), messageEvent(syncFrame()));

    expect(answerOf<HistoryFrame>(result).receipts).toEqual([
      { userId: 'alice', deliveredSeq: 0, readSeq: 0 },
      { userId: 'bob', deliveredSeq: 5, readSeq: 3 },
    ]);
  });

  it('answers the watermarks written by acks', async () => {
    const { provider } = await syncWith(5);
    await provider().receipts.raiseWatermark(CONVERSATION, 'alice', 'delivered', 5);
    await provider().receipts.raiseWatermark(CONVERSATION, 'alice', 'read', 4);
    await provider().receipts.raiseWatermark(CONVERSATION, 'alice', 'read', 2);

    const result = await invoke(createSyncHandler(provider), messageEvent(syncFrame({ afterSeq: 5 })));

    expect(answerOf<HistoryFrame>(result).receipts).toEqual([
      { userId: 'alice', deliveredSeq: 5, readSeq: 4 },
      { userId: 'bob', deliveredSeq: 0, readSeq: 0 },
    ]);
  });

  it('reads the receipts of the conversation once', async () => {
    const { provider, calls } = await syncWith(5);

    await invoke(createSyncHandler(provider), messageEvent(syncFrame()));

    expect(calls.listReceipts.mock.calls).toEqual([[CONVERSATION]]);
  });

  it('answers internal when the receipts cannot be read', async () => {
    const { provider, calls } = await syncWith(5);
    calls.listReceipts.mockRejectedValue(new Error('InternalServerError'));

    const result = await invoke(createSyncHandler(provider), messageEvent(syncFrame()));

    expect(errorOf(result)).toMatchObject({ type: 'error', requestId: 'r3', code: 'internal' });
  });

  it('answers an afterSeq far beyond any stored seq with no messages instead of failing', async () => {
    const { provider } = await syncWith(5);

    const result = await invoke(
      createSyncHandler(provider),
      messageEvent(syncFrame({ afterSeq: 9_999_999_999_998 })),
    );

    expect(answerOf<HistoryFrame>(result)).toMatchObject({
      type: 'history',
      messages: [],
      lastSeq: 5,
      hasMore: false,
    });
  });

  it.each([
    { name: 'a limit of 0', frame: syncFrame({ limit: 0 }), message: 'limit: must be 1 to 200' },
    { name: 'a limit of 201', frame: syncFrame({ limit: 201 }), message: 'limit: must be 1 to 200' },
    { name: 'a fractional limit', frame: syncFrame({ limit: 1.5 }), message: 'limit: must be an integer' },
    {
      name: 'a limit that is a string',
      frame: syncFrame({ limit: '5' }),
      message: 'limit: must be a number',
    },
    {
      name: 'a negative afterSeq',
      frame: syncFrame({ afterSeq: -1 }),
      message: 'afterSeq: must be 0 or more',
    },
    {
      name: 'a fractional afterSeq',
      frame: syncFrame({ afterSeq: 1.5 }),
      message: 'afterSeq: must be an integer',
    },
    {
      name: 'an afterSeq that is a string',
      frame: syncFrame({ afterSeq: '1' }),
      message: 'afterSeq: must be a number',
    },
    {
      name: 'a missing afterSeq',
      frame: syncFrame({ afterSeq: undefined }),
      message: 'afterSeq: is required',
    },
    {
      name: 'a missing conversationId',
      frame: syncFrame({ conversationId: undefined }),
      message: 'conversationId: is required',
    },
    {
      name: 'an unknown field',
      frame: syncFrame({ beforeSeq: 3 }),
      message: 'beforeSeq: is not a field of this action',
    },
    {
      name: 'a malformed conversationId',
      frame: syncFrame({ conversationId: 'dm:bob:alice' }),
      message: 'conversationId: must be dm:{x}:{y} with x and y two user ids and x sorting before y',
    },
  ])('refuses $name with bad_request and reads nothing', async ({ frame, message }) => {
    const { provider, calls } = await syncWith(5);

    const result = await invoke(createSyncHandler(provider), messageEvent(frame));

    expect(errorOf(result)).toEqual({ type: 'error', requestId: 'r3', code: 'bad_request', message });
    expectNothingRead(calls);
  });

  it('refuses a conversation of which the caller is not a member as forbidden and reads nothing', async () => {
    const { provider, calls } = await syncWith(5);

    const result = await invoke(
      createSyncHandler(provider),
      messageEvent(syncFrame({ conversationId: 'dm:bob:carol' })),
    );

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'r3',
      code: 'forbidden',
      message: 'conversationId: you are not a member of dm:bob:carol',
    });
    expectNothingRead(calls);
  });
});

describe('the $default handler', () => {
  it('refuses an unknown action with bad_request naming the actions it knows, echoing the requestId', async () => {
    const { provider } = createTestDeps();

    const result = await invoke(
      createDefaultHandler(provider),
      messageEvent({ action: 'dance', requestId: 'r9' }),
    );

    expect(result.statusCode).toBe(200);
    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'r9',
      code: 'bad_request',
      message:
        'action: unknown action "dance"; expected one of send, ack, sync, conversations, typing, subscribePresence, ping, keepalive, createGroup, addMembers, removeMember, setTitle, setAdmin, groupInfo, block, unblock, blocks, registerPush, unregisterPush',
    });
  });

  it('quotes at most 64 characters of an unknown action', async () => {
    const { provider } = createTestDeps();

    const result = await invoke(createDefaultHandler(provider), messageEvent({ action: 'x'.repeat(5000) }));

    expect(errorOf(result).message).toBe(
      `action: unknown action "${'x'.repeat(64)}"; expected one of send, ack, sync, conversations, typing, subscribePresence, ping, keepalive, createGroup, addMembers, removeMember, setTitle, setAdmin, groupInfo, block, unblock, blocks, registerPush, unregisterPush`,
    );
  });

  it.each([
    {
      name: 'a frame without action',
      body: '{"requestId":"r9"}',
      message: 'action: is required',
      requestId: 'r9',
    },
    {
      name: 'an action that is not a string',
      body: '{"action":5,"requestId":"r9"}',
      message: 'action: must be a string',
      requestId: 'r9',
    },
    {
      name: 'a text that is not JSON',
      body: 'hello?',
      message: 'frame: must be a JSON object (the text is not JSON)',
      requestId: null,
    },
    { name: 'a JSON array', body: '["ping"]', message: 'frame: must be a JSON object', requestId: null },
    {
      name: 'an empty frame',
      body: '',
      message: 'frame: must be a JSON object (the text is not JSON)',
      requestId: null,
    },
  ])('refuses $name with bad_request', async ({ body, message, requestId }) => {
    const { provider } = createTestDeps();

    const result = await invoke(createDefaultHandler(provider), messageEvent(body));

    expect(errorOf(result)).toEqual({ type: 'error', requestId, code: 'bad_request', message });
  });

  it('refuses a binary frame with bad_request', async () => {
    const { provider } = createTestDeps();
    const event = messageEvent();
    event.body = Buffer.from('{"action":"ping","requestId":"r6"}').toString('base64');
    event.isBase64Encoded = true;

    const result = await invoke(createDefaultHandler(provider), event);

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: null,
      code: 'bad_request',
      message: 'frame: must be a UTF-8 JSON text frame, not binary',
    });
  });
});
