/**
 * Receipts, through the ack handler on the in-memory ports. What the DynamoDB receipt store
 * asks of DynamoDB is in `dynamodb-receipt-store.test.ts`.
 */
import type { AckedFrame } from '@parley/protocol';
import { describe, expect, it, vi } from 'vitest';
import { INTERNAL_ERROR_MESSAGE } from '../../lambdas/domain/errors.js';
import { createAckHandler } from '../../lambdas/handlers/ack.js';
import { createInMemoryPorts, type InMemoryPorts } from '../support/in-memory/index.js';
import { answerOf, createInMemoryTestDeps, errorOf, invoke, messageEvent, NOW } from './support/harness.js';

const CONVERSATION = 'dm:alice:bob';

const ackFrame = (overrides: Record<string, unknown> = {}) => ({
  action: 'ack',
  requestId: 'r2',
  conversationId: CONVERSATION,
  seq: 5,
  kind: 'read',
  ...overrides,
});

/** dm:alice:bob holding seq 1 to `lastSeq`, and alice's watermarks when given. */
async function conversationWith(
  lastSeq: number,
  aliceWatermarks?: { deliveredSeq?: number; readSeq?: number },
): Promise<InMemoryPorts> {
  const ports = createInMemoryPorts({ now: () => NOW });
  for (let seq = 1; seq <= lastSeq; seq++) {
    await ports.messages.storeMessage({
      conversationId: CONVERSATION,
      seq,
      messageId: `01JDMESSAGE${seq}`,
      clientMessageId: `cm-${seq}`,
      senderId: 'bob',
      senderDeviceId: 'phone',
      body: `message ${seq}`,
      serverTs: NOW + seq,
    });
  }
  if (aliceWatermarks?.deliveredSeq !== undefined)
    await ports.receipts.raiseWatermark(CONVERSATION, 'alice', 'delivered', aliceWatermarks.deliveredSeq);
  if (aliceWatermarks?.readSeq !== undefined)
    await ports.receipts.raiseWatermark(CONVERSATION, 'alice', 'read', aliceWatermarks.readSeq);
  return ports;
}

const aliceReceipt = async (ports: InMemoryPorts) =>
  (await ports.receipts.listReceipts(CONVERSATION)).find((receipt) => receipt.userId === 'alice');

const receiptRecord = (kind: 'delivered' | 'read', seq: number) => ({
  partitionKey: CONVERSATION,
  event: { type: 'receipt', conversationId: CONVERSATION, userId: 'alice', kind, seq },
});

const acked = (kind: 'delivered' | 'read', seq: number): AckedFrame => ({
  type: 'acked',
  requestId: 'r2',
  conversationId: CONVERSATION,
  kind,
  seq,
});

async function ack(ports: InMemoryPorts, frame: Record<string, unknown>) {
  const { provider } = createInMemoryTestDeps({ ports });
  return invoke(createAckHandler(provider), messageEvent(ackFrame(frame)));
}

function watch(ports: InMemoryPorts) {
  return {
    lastSeq: vi.spyOn(ports.messages, 'lastSeq'),
    raiseWatermark: vi.spyOn(ports.receipts, 'raiseWatermark'),
    publish: vi.spyOn(ports.publisher, 'publish'),
  };
}

function expectUntouched(calls: ReturnType<typeof watch>) {
  expect(calls.lastSeq).not.toHaveBeenCalled();
  expect(calls.raiseWatermark).not.toHaveBeenCalled();
  expect(calls.publish).not.toHaveBeenCalled();
}

describe('the ack handler', () => {
  it('raises the read watermark, lifts delivered with it, and publishes the read receipt alone', async () => {
    const ports = await conversationWith(7);

    const result = await ack(ports, { kind: 'read', seq: 5 });

    expect(result.statusCode).toBe(200);
    expect(answerOf<AckedFrame>(result)).toEqual(acked('read', 5));
    expect(await aliceReceipt(ports)).toEqual({ userId: 'alice', readSeq: 5, deliveredSeq: 5 });
    expect(ports.publisher.records).toEqual([receiptRecord('read', 5)]);
  });

  it('raises only the delivered watermark on a delivered ack', async () => {
    const ports = await conversationWith(7);
    const calls = watch(ports);

    const result = await ack(ports, { kind: 'delivered', seq: 4 });

    expect(answerOf<AckedFrame>(result)).toEqual(acked('delivered', 4));
    expect(calls.raiseWatermark.mock.calls).toEqual([[CONVERSATION, 'alice', 'delivered', 4]]);
    expect(await aliceReceipt(ports)).toEqual({ userId: 'alice', deliveredSeq: 4, readSeq: 0 });
    expect(ports.publisher.records).toEqual([receiptRecord('delivered', 4)]);
  });

  it('raises read, then delivered, to the acked seq', async () => {
    const ports = await conversationWith(7);
    const calls = watch(ports);

    await ack(ports, { kind: 'read', seq: 5 });

    expect(calls.raiseWatermark.mock.calls).toEqual([
      [CONVERSATION, 'alice', 'read', 5],
      [CONVERSATION, 'alice', 'delivered', 5],
    ]);
  });

  it('checks the seq against the conversation’s last seq', async () => {
    const ports = await conversationWith(7);
    const calls = watch(ports);

    const result = await ack(ports, { seq: 7 });

    expect(answerOf<AckedFrame>(result)).toEqual(acked('read', 7));
    expect(calls.lastSeq.mock.calls).toEqual([[CONVERSATION]]);
  });

  it('changes nothing for a read ack below the watermark and answers the current one', async () => {
    const ports = await conversationWith(7, { deliveredSeq: 6, readSeq: 6 });

    const result = await ack(ports, { kind: 'read', seq: 3 });

    expect(answerOf<AckedFrame>(result)).toEqual(acked('read', 6));
    expect(await aliceReceipt(ports)).toMatchObject({ deliveredSeq: 6, readSeq: 6 });
    expect(ports.publisher.records).toHaveLength(0);
  });

  it('changes nothing for a delivered ack below the watermark and answers the current one', async () => {
    const ports = await conversationWith(7, { deliveredSeq: 6, readSeq: 2 });

    const result = await ack(ports, { kind: 'delivered', seq: 4 });

    expect(answerOf<AckedFrame>(result)).toEqual(acked('delivered', 6));
    expect(await aliceReceipt(ports)).toMatchObject({ deliveredSeq: 6, readSeq: 2 });
    expect(ports.publisher.records).toHaveLength(0);
  });

  it('raises read alone when delivered is already past it, and publishes only the read receipt', async () => {
    const ports = await conversationWith(7, { deliveredSeq: 6, readSeq: 2 });

    const result = await ack(ports, { kind: 'read', seq: 4 });

    expect(answerOf<AckedFrame>(result)).toEqual(acked('read', 4));
    expect(await aliceReceipt(ports)).toMatchObject({ deliveredSeq: 6, readSeq: 4 });
    expect(ports.publisher.records).toEqual([receiptRecord('read', 4)]);
  });

  it('publishes again when an ack repeats the watermark exactly, repairing a retry whose publish failed', async () => {
    const ports = await conversationWith(7, { deliveredSeq: 5, readSeq: 5 });

    const result = await ack(ports, { kind: 'read', seq: 5 });

    expect(answerOf<AckedFrame>(result)).toEqual(acked('read', 5));
    expect(await aliceReceipt(ports)).toMatchObject({ deliveredSeq: 5, readSeq: 5 });
    expect(ports.publisher.records).toEqual([receiptRecord('read', 5)]);
  });

  it('answers internal when the receipt cannot be published, and publishes it on the retry', async () => {
    const ports = await conversationWith(7);
    const calls = watch(ports);
    calls.publish.mockRejectedValueOnce(new Error('ProvisionedThroughputExceededException'));

    const first = await ack(ports, { kind: 'delivered', seq: 3 });
    const retry = await ack(ports, { kind: 'delivered', seq: 3 });

    expect(errorOf(first)).toEqual({
      type: 'error',
      requestId: 'r2',
      code: 'internal',
      message: INTERNAL_ERROR_MESSAGE,
    });
    expect(answerOf<AckedFrame>(retry)).toEqual(acked('delivered', 3));
    expect(await aliceReceipt(ports)).toMatchObject({ deliveredSeq: 3 });
    expect(calls.publish).toHaveBeenCalledTimes(2);
    expect(ports.publisher.records).toEqual([receiptRecord('delivered', 3)]);
  });

  it('answers internal and publishes nothing when the watermark update fails', async () => {
    const ports = await conversationWith(7);
    const calls = watch(ports);
    calls.raiseWatermark.mockRejectedValue(new Error('InternalServerError'));

    const result = await ack(ports, { kind: 'read', seq: 3 });

    expect(errorOf(result)).toMatchObject({
      requestId: 'r2',
      code: 'internal',
      message: INTERNAL_ERROR_MESSAGE,
    });
    expect(calls.publish).not.toHaveBeenCalled();
  });

  it('answers the watermark the store holds when the store says it did not move', async () => {
    const ports = await conversationWith(7);
    const calls = watch(ports);
    calls.raiseWatermark.mockResolvedValue({ seq: 6, moved: false, previous: 6 });

    const result = await ack(ports, { kind: 'read', seq: 3 });

    expect(answerOf<AckedFrame>(result)).toEqual(acked('read', 6));
    expect(calls.publish).not.toHaveBeenCalled();
  });

  it.each([
    ['delivered', 'a conversation with messages', 7],
    ['read', 'a conversation nobody has written in yet', 0],
  ] as const)('accepts a %s ack of seq 0 on %s and publishes nothing', async (kind, _case, lastSeq) => {
    const ports = await conversationWith(lastSeq);

    const result = await ack(ports, { kind, seq: 0 });

    expect(answerOf<AckedFrame>(result)).toEqual(acked(kind, 0));
    expect(ports.publisher.records).toHaveLength(0);
  });

  it('refuses a seq above the conversation’s last one as bad_request and writes nothing', async () => {
    const ports = await conversationWith(7);
    const calls = watch(ports);

    const result = await ack(ports, { seq: 8 });

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'r2',
      code: 'bad_request',
      message: "seq: must be at most the conversation's last seq, 7",
    });
    expect(calls.raiseWatermark).not.toHaveBeenCalled();
    expect(calls.publish).not.toHaveBeenCalled();
  });

  it('refuses a conversation of which the caller is not a member as forbidden and reads nothing', async () => {
    const ports = await conversationWith(7);
    const calls = watch(ports);

    const result = await ack(ports, { conversationId: 'dm:bob:carol' });

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'r2',
      code: 'forbidden',
      message: 'conversationId: you are not a member of dm:bob:carol',
    });
    expectUntouched(calls);
  });

  it.each([
    {
      name: 'a kind that is neither delivered nor read',
      frame: { kind: 'seen' },
      message: 'kind: must be delivered or read',
    },
    { name: 'a missing kind', frame: { kind: undefined }, message: 'kind: must be delivered or read' },
    { name: 'a negative seq', frame: { seq: -1 }, message: 'seq: must be 0 or more' },
    { name: 'a fractional seq', frame: { seq: 2.5 }, message: 'seq: must be an integer' },
    { name: 'a seq that is a string', frame: { seq: '5' }, message: 'seq: must be a number' },
    { name: 'a missing seq', frame: { seq: undefined }, message: 'seq: is required' },
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
      frame: { device: 'phone' },
      message: 'device: is not a field of this action',
    },
  ])('refuses $name with bad_request and touches nothing', async ({ frame, message }) => {
    const ports = await conversationWith(7);
    const calls = watch(ports);

    const result = await ack(ports, frame);

    expect(errorOf(result)).toEqual({ type: 'error', requestId: 'r2', code: 'bad_request', message });
    expectUntouched(calls);
  });

  it('applies an ack without requestId and answers nothing: the receipt event tells the devices', async () => {
    const ports = await conversationWith(7);

    const result = await ack(ports, { requestId: undefined, kind: 'read', seq: 5 });

    expect(result).toEqual({ statusCode: 200 });
    expect(await aliceReceipt(ports)).toEqual({ userId: 'alice', readSeq: 5, deliveredSeq: 5 });
    expect(ports.publisher.records).toEqual([receiptRecord('read', 5)]);
  });

  it('still answers an error to an ack without requestId, with a null requestId', async () => {
    const ports = await conversationWith(2);

    const result = await ack(ports, { requestId: undefined, seq: 3 });

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: null,
      code: 'bad_request',
      message: "seq: must be at most the conversation's last seq, 2",
    });
    expect(ports.publisher.records).toHaveLength(0);
  });

  it('answers internal to an ack without requestId whose receipt cannot be published, and publishes on the retry', async () => {
    const ports = await conversationWith(7);
    vi.spyOn(ports.publisher, 'publish').mockRejectedValueOnce(
      new Error('ProvisionedThroughputExceededException'),
    );

    const first = await ack(ports, { requestId: undefined, kind: 'read', seq: 4 });
    const retry = await ack(ports, { requestId: undefined, kind: 'read', seq: 4 });

    expect(errorOf(first)).toMatchObject({ requestId: null, code: 'internal' });
    expect(retry).toEqual({ statusCode: 200 });
    expect(ports.publisher.records).toEqual([receiptRecord('read', 4)]);
  });
});
