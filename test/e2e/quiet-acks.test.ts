/**
 * Acks without a `requestId` (protocol 1.2) on the local stack: the server applies them and
 * answers nothing, since the `receipt` event tells the devices; a `read` ack puts one record
 * on the stream, not a second `delivered` one.
 */
import { randomUUID } from 'node:crypto';
import { directConversationId } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../lambdas/domain/ports.js';
import { servedInvocations } from '../support/served-invocations.js';
import { uniqueId, useTestStack } from '../support/stack.js';
import type { Frame, TestClient } from '../support/ws-client.js';

/** The receipts the functions published, in order. */
const publishedReceipts: Array<Extract<StreamEvent, { type: 'receipt' }>> = [];
/**
 * The acks the ack function has served. The gateway sends a route's answer as soon as its
 * function returns, before it reads another frame, so a frame sent after a count is reached
 * is answered after any answer of those acks.
 */
const acks = servedInvocations('ack');

/** Frames that answer a request (every server frame but the events). */
const isAnswer = (frame: Frame) => !['message', 'receipt', 'groupReceipt', 'typing'].includes(frame.type);

describe('acks without a requestId over a real WebSocket', () => {
  const { connect } = useTestStack({
    wrapFunction: acks.wrapFunction,
    deps: {
      wrap: (deps) => ({
        ...deps,
        publisher: {
          publish: async (event) => {
            await deps.publisher.publish(event);
            if (event.type === 'receipt') publishedReceipts.push(event);
          },
        },
      }),
    },
  });

  async function conversationWithTwoMessages() {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const conversationId = directConversationId(alice, bob);
    const devices = {
      alicePhone: await connect(alice, 'phone'),
      aliceDesktop: await connect(alice, 'desktop'),
      bobPhone: await connect(bob, 'phone'),
      bobDesktop: await connect(bob, 'desktop'),
    };
    for (const body of ['one', 'two']) {
      await devices.alicePhone.request({ action: 'send', to: bob, clientMessageId: randomUUID(), body });
    }
    await devices.bobPhone.messagesOf(conversationId, 2);
    return { alice, bob, conversationId, ...devices };
  }

  /** Sends an ack with no requestId and waits until the ack function has served it. */
  async function quietAck(device: TestClient, frame: Record<string, unknown>): Promise<void> {
    const served = acks.count() + 1;
    device.sendRaw(JSON.stringify({ action: 'ack', ...frame }));
    await acks.until(served);
  }

  /** Every frame the device got up to the answer of a ping sent now. */
  async function framesUpToPing(device: TestClient): Promise<Frame[]> {
    const pong = await device.request({ action: 'ping' });
    return device.received.slice(0, device.received.indexOf(pong) + 1);
  }

  it('answers nothing to an ack without requestId, while the sender’s devices and the reader’s other devices get the receipt', async () => {
    const { bob, conversationId, alicePhone, aliceDesktop, bobPhone, bobDesktop } =
      await conversationWithTwoMessages();

    await quietAck(bobPhone, { conversationId, seq: 2, kind: 'delivered' });

    const answers = (await framesUpToPing(bobPhone)).filter(isAnswer);
    expect(answers.map((frame) => frame.type)).toEqual(['pong']);
    for (const device of [alicePhone, aliceDesktop, bobPhone, bobDesktop]) {
      await device.waitFor(
        (f) => f.type === 'receipt' && f.userId === bob && f.kind === 'delivered' && f.seq === 2,
      );
    }
    const history = await alicePhone.request({ action: 'sync', conversationId, afterSeq: 2 });
    expect(history.receipts).toContainEqual({ userId: bob, deliveredSeq: 2, readSeq: 0 });
  });

  it('puts one record on the stream for a read ack, not a second delivered one', async () => {
    const { bob, conversationId, alicePhone, bobPhone, bobDesktop } = await conversationWithTwoMessages();

    await quietAck(bobPhone, { conversationId, seq: 2, kind: 'read' });

    expect(publishedReceipts.filter((event) => event.conversationId === conversationId)).toEqual([
      { type: 'receipt', conversationId, userId: bob, kind: 'read', seq: 2 },
    ]);
    for (const device of [alicePhone, bobDesktop]) {
      await device.waitFor(
        (f) => f.type === 'receipt' && f.userId === bob && f.kind === 'read' && f.seq === 2,
      );
    }
    // The reader's watermarks hold delivered lifted with read, as catch-up tells a device.
    const history = await alicePhone.request({ action: 'sync', conversationId, afterSeq: 2 });
    expect(history.receipts).toContainEqual({ userId: bob, deliveredSeq: 2, readSeq: 2 });
  });

  it('still answers an error to an ack without requestId, with a null requestId, and publishes nothing', async () => {
    const { conversationId, bobPhone } = await conversationWithTwoMessages();

    await quietAck(bobPhone, { conversationId, seq: 3, kind: 'read' });

    const answers = (await framesUpToPing(bobPhone)).filter(isAnswer);
    expect(answers).toEqual([
      {
        type: 'error',
        requestId: null,
        code: 'bad_request',
        message: "seq: must be at most the conversation's last seq, 2",
      },
      expect.objectContaining({ type: 'pong' }),
    ]);
    expect(publishedReceipts.filter((event) => event.conversationId === conversationId)).toEqual([]);
  });
});
