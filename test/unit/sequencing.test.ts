/**
 * Sequencing, through the send handler on the in-memory ports: what the domain does with a
 * store's answers. What the DynamoDB store asks of DynamoDB is in
 * `dynamodb-message-store.test.ts`; one test here checks the wiring at the wire.
 */
import { ProvisionedThroughputExceededException, PutRecordCommand } from '@aws-sdk/client-kinesis';
import { QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { Message, SentFrame } from '@parley/protocol';
import { describe, expect, it, vi } from 'vitest';
import { backoffDelay } from '../../lambdas/domain/backoff.js';
import { INTERNAL_ERROR_MESSAGE } from '../../lambdas/domain/errors.js';
import { createLastSeqCache, DEFAULT_SEQUENCING, sendMessage } from '../../lambdas/domain/sequencing.js';
import { createSendHandler } from '../../lambdas/handlers/send.js';
import type { InMemoryPorts } from '../support/in-memory/index.js';
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

const { ddb, ddbBase, kinesis } = mockAwsClients();

const CONVERSATION = 'dm:alice:bob';
const CLIENT_MESSAGE_ID = '4f1c0e9a-6b1d-4c47-9a39-2b1a7d2f6c11';

const sendFrame = (overrides: Record<string, unknown> = {}) => ({
  action: 'send',
  requestId: 'r1',
  to: 'bob',
  clientMessageId: CLIENT_MESSAGE_ID,
  body: 'hello',
  ...overrides,
});

/** The first send of CLIENT_MESSAGE_ID, as stored: seq 7, an hour before NOW. */
const FIRST_SEND: Message = {
  conversationId: CONVERSATION,
  seq: 7,
  messageId: '01JDFIRSTSEND0000000000000',
  clientMessageId: CLIENT_MESSAGE_ID,
  senderId: 'alice',
  senderDeviceId: 'phone',
  body: 'hello',
  serverTs: NOW - 3_600_000,
};

/** The message the handler stores for `sendFrame()` at `seq`, with the nth message id. */
const sent = (seq: number, nth = 1): Message => ({
  conversationId: CONVERSATION,
  seq,
  messageId: `01MSG${String(nth).padStart(4, '0')}`,
  clientMessageId: CLIENT_MESSAGE_ID,
  senderId: 'alice',
  senderDeviceId: 'phone',
  kind: 'text',
  body: 'hello',
  serverTs: NOW,
});

/** Fills the conversation up to `lastSeq` with messages from bob. */
async function holding(ports: InMemoryPorts, lastSeq: number, keep?: Message): Promise<void> {
  for (let seq = 1; seq <= lastSeq; seq++) {
    await ports.messages.storeMessage(
      keep?.seq === seq
        ? keep
        : { ...FIRST_SEND, seq, messageId: `earlier-${seq}`, clientMessageId: `b${seq}`, senderId: 'bob' },
    );
  }
}

/** Watches the store's calls, which still reach the in-memory store unless a test says otherwise. */
function watch(ports: InMemoryPorts) {
  return {
    lastSeq: vi.spyOn(ports.messages, 'lastSeq'),
    storeMessage: vi.spyOn(ports.messages, 'storeMessage'),
    getMessage: vi.spyOn(ports.messages, 'getMessage'),
    publish: vi.spyOn(ports.publisher, 'publish'),
  };
}

const claimedSeqs = (calls: ReturnType<typeof watch>) =>
  calls.storeMessage.mock.calls.map(([message]) => message.seq);

describe('the send handler’s wiring', () => {
  it('sends through the configured conversations table and events stream, with the document client only', async () => {
    const { provider } = createTestDeps();
    ddb.on(QueryCommand).resolves({ Items: [{ seq: 6 }] });
    ddb.on(TransactWriteCommand).resolves({});

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(answerOf<SentFrame>(result)).toMatchObject({ type: 'sent', seq: 7, duplicate: false });
    expect(ddb.commandCalls(QueryCommand)[0]?.args[0].input.TableName).toBe('unit-conversations');
    const [message, key] = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect([message?.Put?.TableName, key?.Put?.TableName]).toEqual([
      'unit-conversations',
      'unit-conversations',
    ]);
    const records = kinesis.commandCalls(PutRecordCommand).map((call) => call.args[0].input);
    expect(records.map(({ StreamName, PartitionKey }) => ({ StreamName, PartitionKey }))).toEqual([
      { StreamName: 'unit-events', PartitionKey: CONVERSATION },
    ]);
    expect(
      ddb
        .commandCalls(TransactWriteCommand)[0]
        ?.calledBefore(kinesis.commandCalls(PutRecordCommand)[0] as never),
    ).toBe(true);
    expect(ddbBase.calls()).toHaveLength(0);
  });
});

describe('sequencing a send', () => {
  it('reads the last seq once, then stores the message at lastSeq + 1 with its idempotency key', async () => {
    const { provider, ports } = createInMemoryTestDeps();
    await holding(ports, 6);
    const calls = watch(ports);

    await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(calls.lastSeq.mock.calls).toEqual([[CONVERSATION]]);
    expect(calls.storeMessage.mock.calls).toEqual([[sent(7)]]);
    expect(ports.messages.messages(CONVERSATION).at(-1)).toEqual(sent(7));
    expect(ports.messages.keyCount(CONVERSATION)).toBe(7);
  });

  it('publishes the stored message after the commit, partitioned by conversationId', async () => {
    const { provider, ports } = createInMemoryTestDeps();
    await holding(ports, 6);
    const calls = watch(ports);

    await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(ports.publisher.records).toEqual([
      { partitionKey: CONVERSATION, event: { type: 'message', ...sent(7) } },
    ]);
    expect(calls.storeMessage.mock.invocationCallOrder[0]).toBeLessThan(
      calls.publish.mock.invocationCallOrder[0] as number,
    );
  });

  it('answers a fresh send with its seq, messageId and serverTs and duplicate false', async () => {
    const { provider, ports } = createInMemoryTestDeps();
    await holding(ports, 6);

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(result.statusCode).toBe(200);
    expect(answerOf<SentFrame>(result)).toEqual({
      type: 'sent',
      requestId: 'r1',
      conversationId: CONVERSATION,
      clientMessageId: CLIENT_MESSAGE_ID,
      seq: 7,
      messageId: '01MSG0001',
      serverTs: NOW,
      duplicate: false,
    });
  });

  it('gives the first message of a conversation seq 1', async () => {
    const { provider, ports } = createInMemoryTestDeps();

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(answerOf<SentFrame>(result)).toMatchObject({ type: 'sent', seq: 1, duplicate: false });
    expect(ports.messages.messages(CONVERSATION)).toEqual([sent(1)]);
  });

  it('answers a resend with the first seq, messageId and serverTs, and publishes the first message again', async () => {
    const { provider, ports, sleep } = createInMemoryTestDeps();
    await holding(ports, 9, FIRST_SEND);
    const calls = watch(ports);

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(answerOf<SentFrame>(result)).toEqual({
      type: 'sent',
      requestId: 'r1',
      conversationId: CONVERSATION,
      clientMessageId: CLIENT_MESSAGE_ID,
      seq: 7,
      messageId: FIRST_SEND.messageId,
      serverTs: FIRST_SEND.serverTs,
      duplicate: true,
    });
    expect(calls.storeMessage).toHaveBeenCalledTimes(1);
    expect(calls.getMessage.mock.calls).toEqual([[CONVERSATION, 7]]);
    expect(ports.publisher.records).toEqual([
      { partitionKey: CONVERSATION, event: { type: 'message', ...FIRST_SEND } },
    ]);
    expect(sleep).not.toHaveBeenCalled();
  });

  it('takes a failed key condition for a duplicate even when the seq was taken as well', async () => {
    const { provider, ports, sleep } = createInMemoryTestDeps();
    await holding(ports, 7, FIRST_SEND);
    const calls = watch(ports);
    // A last seq read before the first send committed: the claim lands on the first send's own seq.
    calls.lastSeq.mockResolvedValueOnce(6);

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(answerOf<SentFrame>(result)).toMatchObject({ seq: 7, duplicate: true });
    expect(claimedSeqs(calls)).toEqual([7]);
    expect(sleep).not.toHaveBeenCalled();
  });

  it('answers a resend whose message is gone past the retention period with the first seq, and publishes nothing', async () => {
    const { provider, ports } = createInMemoryTestDeps();
    await holding(ports, 9);
    const calls = watch(ports);
    calls.storeMessage.mockResolvedValue({
      status: 'duplicate',
      original: { seq: 12, messageId: FIRST_SEND.messageId, serverTs: FIRST_SEND.serverTs },
    });

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(answerOf<SentFrame>(result)).toMatchObject({
      seq: 12,
      messageId: FIRST_SEND.messageId,
      serverTs: FIRST_SEND.serverTs,
      duplicate: true,
    });
    expect(calls.publish).not.toHaveBeenCalled();
  });

  it('reads the last seq again and retries after a backoff when another sender took the seq', async () => {
    const { provider, ports, sleep } = createInMemoryTestDeps({ random: () => 0.5 });
    await holding(ports, 4);
    const store = ports.messages.storeMessage.bind(ports.messages);
    const calls = watch(ports);
    // Another sender stored seq 4 after this one read the last seq.
    calls.lastSeq.mockResolvedValueOnce(3);
    const sleepsBeforeEachTry: number[] = [];
    calls.storeMessage.mockImplementation(async (message) => {
      sleepsBeforeEachTry.push(sleep.mock.calls.length);
      return store(message);
    });

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(answerOf<SentFrame>(result)).toMatchObject({
      type: 'sent',
      seq: 5,
      messageId: '01MSG0002',
      duplicate: false,
    });
    expect(claimedSeqs(calls)).toEqual([4, 5]);
    expect(calls.lastSeq).toHaveBeenCalledTimes(2);
    expect(sleepsBeforeEachTry).toEqual([0, 1]);
    expect(sleep).toHaveBeenCalledWith(Math.floor(0.5 * DEFAULT_SEQUENCING.baseDelayMs));
    expect(ports.publisher.events).toEqual([{ type: 'message', ...sent(5, 2) }]);
  });

  it('retries like a taken seq when a concurrent transaction conflicts', async () => {
    const { provider, ports, sleep } = createInMemoryTestDeps();
    await holding(ports, 3);
    const calls = watch(ports);
    calls.storeMessage.mockResolvedValueOnce({ status: 'conflict' });

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(answerOf<SentFrame>(result)).toMatchObject({ type: 'sent', seq: 4, duplicate: false });
    expect(calls.storeMessage).toHaveBeenCalledTimes(2);
    expect(sleep).toHaveBeenCalledTimes(1);
    expect(ports.publisher.records).toHaveLength(1);
  });

  it('answers internal and publishes nothing when every attempt loses the race', async () => {
    const { provider, ports, sleep } = createInMemoryTestDeps({ random: () => 0.5 });
    await holding(ports, 3);
    const calls = watch(ports);
    calls.storeMessage.mockResolvedValue({ status: 'seq_taken' });

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'r1',
      code: 'internal',
      message: INTERNAL_ERROR_MESSAGE,
    });
    expect(calls.storeMessage).toHaveBeenCalledTimes(DEFAULT_SEQUENCING.maxAttempts);
    expect(calls.lastSeq).toHaveBeenCalledTimes(DEFAULT_SEQUENCING.maxAttempts);
    // A sleep between attempts, none after the last; the cap doubles from the base up to the maximum.
    const { maxAttempts, baseDelayMs, maxDelayMs } = DEFAULT_SEQUENCING;
    const halfOfEachCap = Array.from({ length: maxAttempts - 1 }, (_, attempt) =>
      Math.floor(0.5 * Math.min(maxDelayMs, baseDelayMs * 2 ** attempt)),
    );
    expect(sleep.mock.calls.map(([ms]) => ms)).toEqual(halfOfEachCap);
    expect(halfOfEachCap.at(-1)).toBe(Math.floor(maxDelayMs / 2));
    expect(calls.publish).not.toHaveBeenCalled();
  });

  it('answers internal without retrying when the store fails for another reason', async () => {
    const { provider, ports, sleep } = createInMemoryTestDeps();
    await holding(ports, 3);
    const calls = watch(ports);
    calls.storeMessage.mockRejectedValue(new Error('ThrottlingError'));

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(errorOf(result)).toMatchObject({
      code: 'internal',
      requestId: 'r1',
      message: INTERNAL_ERROR_MESSAGE,
    });
    expect(calls.storeMessage).toHaveBeenCalledTimes(1);
    expect(sleep).not.toHaveBeenCalled();
    expect(calls.publish).not.toHaveBeenCalled();
  });

  it('answers internal with no detail when the last-seq read fails', async () => {
    const { provider, ports } = createInMemoryTestDeps();
    const calls = watch(ports);
    calls.lastSeq.mockRejectedValue(new Error('socket hang up at 10.0.0.12'));

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'r1',
      code: 'internal',
      message: INTERNAL_ERROR_MESSAGE,
    });
    expect(calls.storeMessage).not.toHaveBeenCalled();
  });
});

describe('a send whose publish fails after the commit', () => {
  it('answers internal, and the client retry stores nothing new and publishes through the duplicate path', async () => {
    const { provider, ports } = createInMemoryTestDeps();
    const calls = watch(ports);
    calls.publish.mockRejectedValueOnce(
      new ProvisionedThroughputExceededException({
        message: 'Rate exceeded for shard shardId-000000000000',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const send = createSendHandler(provider);

    const first = await invoke(send, messageEvent(sendFrame({ requestId: 'r1' })));
    const retry = await invoke(send, messageEvent(sendFrame({ requestId: 'r1-retry' })));

    expect(errorOf(first)).toEqual({
      type: 'error',
      requestId: 'r1',
      code: 'internal',
      message: INTERNAL_ERROR_MESSAGE,
    });
    expect(answerOf<SentFrame>(retry)).toEqual({
      type: 'sent',
      requestId: 'r1-retry',
      conversationId: CONVERSATION,
      clientMessageId: CLIENT_MESSAGE_ID,
      seq: 1,
      messageId: '01MSG0001',
      serverTs: NOW,
      duplicate: true,
    });
    expect(ports.messages.messages(CONVERSATION)).toHaveLength(1);
    expect(ports.messages.keyCount(CONVERSATION)).toBe(1);
    expect(calls.publish).toHaveBeenCalledTimes(2);
    expect(ports.publisher.events).toEqual([{ type: 'message', ...sent(1) }]);
  });
});

describe('sequencing concurrent and repeated sends', () => {
  it('gives concurrent senders consecutive seqs with no gap and no repeat', async () => {
    const { provider, ports } = createInMemoryTestDeps();
    const calls = watch(ports);
    const send = createSendHandler(provider);

    const results = await Promise.all(
      Array.from({ length: 6 }, (_, index) =>
        invoke(send, messageEvent(sendFrame({ requestId: `r${index}`, clientMessageId: `m${index}` }))),
      ),
    );

    const seqs = results.map((result) => answerOf<SentFrame>(result).seq).sort((a, b) => a - b);
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6]);
    expect(ports.messages.messages(CONVERSATION).map((message) => message.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(ports.publisher.records).toHaveLength(6);
    // They all read lastSeq 0 at first: the race was real and lost attempts were retried.
    expect(calls.storeMessage.mock.calls.length).toBeGreaterThan(6);
  });

  it('claims the seq after the one it committed last in the conversation without reading first', async () => {
    const { provider, ports } = createInMemoryTestDeps();
    const calls = watch(ports);
    const send = createSendHandler(provider);

    await invoke(send, messageEvent(sendFrame({ requestId: 'r1', clientMessageId: 'm1' })));
    const second = await invoke(send, messageEvent(sendFrame({ requestId: 'r2', clientMessageId: 'm2' })));

    expect(answerOf<SentFrame>(second)).toMatchObject({ type: 'sent', seq: 2, duplicate: false });
    expect(ports.messages.messages(CONVERSATION).map((message) => message.seq)).toEqual([1, 2]);
    expect(calls.lastSeq).toHaveBeenCalledTimes(1);
    expect(calls.storeMessage).toHaveBeenCalledTimes(2);
  });

  it('reads the last seq and tries again at once when another instance sent since its own last commit', async () => {
    const { provider, ports, sleep } = createInMemoryTestDeps();
    const send = createSendHandler(provider);
    await invoke(send, messageEvent(sendFrame({ requestId: 'r1', clientMessageId: 'm1' })));
    // Another Lambda instance, which shares the tables and not this one's memory, stores seq 2 and 3.
    const { provider: elsewhere } = createInMemoryTestDeps({ ports });
    for (const id of ['m2', 'm3']) {
      await invoke(
        createSendHandler(elsewhere),
        messageEvent(sendFrame({ requestId: id, clientMessageId: id })),
      );
    }
    const calls = watch(ports);

    const result = await invoke(send, messageEvent(sendFrame({ requestId: 'r4', clientMessageId: 'm4' })));

    expect(answerOf<SentFrame>(result)).toMatchObject({ type: 'sent', seq: 4, duplicate: false });
    expect(ports.messages.messages(CONVERSATION).map((message) => message.seq)).toEqual([1, 2, 3, 4]);
    // Its guess, seq 2, was taken: one read, then seq 4, with no backoff.
    expect(claimedSeqs(calls)).toEqual([2, 4]);
    expect(calls.lastSeq).toHaveBeenCalledTimes(1);
    expect(sleep).not.toHaveBeenCalled();
  });

  it('reads the last seq rather than guess while another send of the instance in the conversation is under way', async () => {
    const lastSeq = vi.fn(async () => 1);
    let releaseFirst: () => void = () => {};
    const stored: Message[] = [];
    const deps = {
      ...DEFAULT_SEQUENCING,
      messages: {
        lastSeq,
        storeMessage: async (message: Message) => {
          stored.push(message);
          // The first send's transaction is still under way when the second begins.
          if (message.clientMessageId === 'm2')
            await new Promise<void>((resolve) => (releaseFirst = resolve));
          return { status: 'stored' as const };
        },
        getMessage: async () => undefined,
        listMessages: async () => ({ messages: [], lastSeq: 0 }),
      },
      publisher: { publish: async () => {} },
      newMessageId: () => 'id',
      now: () => NOW,
      sleep: async () => {},
      random: () => 0.5,
      lastSeqCache: createLastSeqCache(),
    };
    deps.lastSeqCache.remember(CONVERSATION, 1);
    const input = (clientMessageId: string) => ({
      conversationId: CONVERSATION,
      senderId: 'alice',
      senderDeviceId: 'phone',
      clientMessageId,
      body: 'hi',
    });

    const first = sendMessage(deps, input('m2'));
    const second = sendMessage(deps, input('m3'));
    await vi.waitFor(() => {
      expect(lastSeq).toHaveBeenCalledTimes(1);
      expect(stored.map((message) => message.clientMessageId)).toContain('m2');
    });
    releaseFirst();
    await Promise.all([first, second]);

    // The first guessed seq 2 without reading; the second read, rather than guess seq 2 as well.
    expect(stored.find((message) => message.clientMessageId === 'm2')?.seq).toBe(2);
    expect(lastSeq).toHaveBeenCalledTimes(1);
  });

  it('answers a resend from its idempotency key when it guesses the seq too', async () => {
    const { provider, ports } = createInMemoryTestDeps();
    const send = createSendHandler(provider);
    const first = await invoke(send, messageEvent(sendFrame({ requestId: 'r1', clientMessageId: 'm1' })));

    const resend = await invoke(send, messageEvent(sendFrame({ requestId: 'r2', clientMessageId: 'm1' })));

    expect(answerOf<SentFrame>(resend)).toMatchObject({
      seq: answerOf<SentFrame>(first).seq,
      duplicate: true,
    });
    expect(ports.messages.messages(CONVERSATION)).toHaveLength(1);
  });

  it('stores a resend from another device of the same user once, under the first seq', async () => {
    const { provider, ports } = createInMemoryTestDeps();
    const send = createSendHandler(provider);
    const fromLaptop = messageEvent(sendFrame({ requestId: 'r2', body: 'hello again' }));
    fromLaptop.requestContext.authorizer = { principalId: 'alice', userId: 'alice', deviceId: 'laptop' };

    const first = await invoke(send, messageEvent(sendFrame()));
    const resend = await invoke(send, fromLaptop);

    expect(answerOf<SentFrame>(first)).toMatchObject({ seq: 1, duplicate: false });
    expect(answerOf<SentFrame>(resend)).toMatchObject({
      requestId: 'r2',
      seq: 1,
      messageId: answerOf<SentFrame>(first).messageId,
      duplicate: true,
    });
    expect(ports.messages.messages(CONVERSATION)).toEqual([
      expect.objectContaining({ seq: 1, senderDeviceId: 'phone', body: 'hello' }),
    ]);
  });

  it('sequences the same clientMessageId into another conversation as a new message', async () => {
    const { provider, ports } = createInMemoryTestDeps();
    const send = createSendHandler(provider);

    await invoke(send, messageEvent(sendFrame({ to: 'bob' })));
    const other = await invoke(send, messageEvent(sendFrame({ to: 'carol' })));

    expect(answerOf<SentFrame>(other)).toMatchObject({
      conversationId: 'dm:alice:carol',
      seq: 1,
      duplicate: false,
    });
    expect(ports.messages.messages('dm:alice:carol')).toHaveLength(1);
  });

  it('lets another user use the same clientMessageId in the same conversation', async () => {
    const { provider, ports } = createInMemoryTestDeps();
    const send = createSendHandler(provider);
    const fromBob = messageEvent(sendFrame({ to: 'alice' }));
    fromBob.requestContext.authorizer = { principalId: 'bob', userId: 'bob', deviceId: 'phone' };

    await invoke(send, messageEvent(sendFrame()));
    const bobs = await invoke(send, fromBob);

    expect(answerOf<SentFrame>(bobs)).toMatchObject({
      conversationId: CONVERSATION,
      seq: 2,
      duplicate: false,
    });
    expect(ports.messages.messages(CONVERSATION).map((message) => message.senderId)).toEqual([
      'alice',
      'bob',
    ]);
  });
});

describe('the sequencing settings', () => {
  it('remembers the highest seq committed per conversation, and forgets the least recently used first', () => {
    const cache = createLastSeqCache(2);

    cache.remember('a', 5);
    cache.remember('a', 4);
    cache.remember('b', 1);
    cache.get('a');
    cache.remember('c', 1);

    expect(cache.get('a')).toBe(5);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('c')).toBe(1);
    cache.forget('a');
    expect(cache.get('a')).toBeUndefined();
    expect(cache.begin('c')).toBe(1);
    expect(cache.begin('c')).toBeUndefined();
    cache.end('c');
    cache.end('c');
    expect(cache.begin('c')).toBe(1);
  });

  it('stays below the default cap for the default settings', () => {
    const delays = Array.from({ length: DEFAULT_SEQUENCING.maxAttempts }, (_, attempt) =>
      backoffDelay(attempt, DEFAULT_SEQUENCING, () => 0.999_999),
    );

    expect(Math.max(...delays)).toBeLessThan(DEFAULT_SEQUENCING.maxDelayMs);
    expect(delays).toEqual([...delays].sort((a, b) => a - b));
  });
});

describe('the send handler’s metrics', () => {
  it('records nothing for a send that neither retried nor was a duplicate', async () => {
    const { provider, ports, metrics } = createInMemoryTestDeps();
    await holding(ports, 6);

    await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(metrics.values('DuplicatesSuppressed')).toEqual([]);
    expect(metrics.values('SequencingRetries')).toEqual([]);
  });

  it('counts a resend answered from its idempotency key as a suppressed duplicate', async () => {
    const { provider, ports, metrics } = createInMemoryTestDeps();
    await holding(ports, 9, FIRST_SEND);

    await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(metrics.values('DuplicatesSuppressed')).toEqual([1]);
    expect(metrics.values('SequencingRetries')).toEqual([]);
  });

  it('records how many times a send read the last seq again', async () => {
    const { provider, ports, metrics } = createInMemoryTestDeps();
    await holding(ports, 3);
    watch(ports)
      .storeMessage.mockResolvedValueOnce({ status: 'seq_taken' })
      .mockResolvedValueOnce({ status: 'conflict' });

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(answerOf<SentFrame>(result)).toMatchObject({ type: 'sent', duplicate: false });
    expect(metrics.values('SequencingRetries')).toEqual([2]);
    expect(metrics.values('DuplicatesSuppressed')).toEqual([]);
  });

  it('publishes the metrics once, also when the send answers internal', async () => {
    const { provider, ports, metrics } = createInMemoryTestDeps();
    const flush = vi.spyOn(metrics, 'flush');
    watch(ports).lastSeq.mockRejectedValue(new Error('ProvisionedThroughputExceededException'));

    const result = await invoke(createSendHandler(provider), messageEvent(sendFrame()));

    expect(errorOf(result)).toMatchObject({ code: 'internal' });
    expect(flush).toHaveBeenCalledTimes(1);
  });

  it('publishes the metrics once for a frame it refuses', async () => {
    const { provider, metrics } = createInMemoryTestDeps();
    const flush = vi.spyOn(metrics, 'flush');

    const result = await invoke(createSendHandler(provider), messageEvent('not json'));

    expect(errorOf(result)).toMatchObject({ code: 'bad_request' });
    expect(flush).toHaveBeenCalledTimes(1);
  });
});
