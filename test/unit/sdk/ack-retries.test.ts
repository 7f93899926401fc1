import { ParleyError, ParleyErrorCode } from '@parley/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { Backoff } from '../../../sdk/src/backoff.js';
import { Receipts } from '../../../sdk/src/receipts.js';
import { ALICE, settled, WITH_BOB } from './support/clients.js';
import { message } from './support/frames.js';
import { ManualTimers } from './support/manual-timers.js';
import { closeParts, conversationParts } from './support/parts.js';
import { ScriptedConnection } from './support/scripted-connection.js';

afterEach(closeParts);

/**
 * The receipts of alice's phone over a scripted connection, with timers the test fires:
 * with random() = 0.5 the gathering waits 50 ms and the n-th retry half of 100 × 2^n.
 */
function receiptsOf() {
  const connection = new ScriptedConnection();
  const timers = new ManualTimers();
  const parts = conversationParts({
    acks: () => receipts.unconfirmed(),
    onAdded: (timeline) => receipts.scheduleDelivered(timeline),
  });
  const { identity, conversations, persistence, report } = parts;
  const backoff = new Backoff({ initialDelayMs: 100, maxDelayMs: 1_000 }, () => 0.5, timers);
  const receipts: Receipts = new Receipts({
    identity,
    connection,
    conversations,
    persistence,
    backoff,
    timers,
    report,
  });
  return { ...parts, receipts, connection, timers };
}

const ack = (seq: number) => ({ action: 'ack', conversationId: WITH_BOB, seq, kind: 'delivered' });
const acked = (seq: number) => ({ type: 'acked', conversationId: WITH_BOB, kind: 'delivered', seq });

describe('the acks of one device', () => {
  it('gathers a burst into one delivered ack, sends it again after each backoff while the answer is internal, and forgets it once acked', async () => {
    const { receipts, connection, conversations, timers } = receiptsOf();
    conversations.receive(WITH_BOB, [message(1), message(2)]);
    expect(timers.waiting).toEqual([50]);

    timers.fireAll();
    const first = await connection.next();
    first.fail(new ParleyError(ParleyErrorCode.Internal, 'internal: try again'));
    await settled();
    expect(timers.waiting).toEqual([100]);
    timers.fireAll();
    const second = await connection.next();
    second.fail(new ParleyError(ParleyErrorCode.Internal, 'internal: try again'));
    await settled();
    expect(timers.waiting).toEqual([200]);
    expect(receipts.unconfirmed()).toEqual([[WITH_BOB, { delivered: 2 }]]);
    timers.fireAll();
    const third = await connection.next();
    third.answer(acked(2));
    await settled();

    expect([first.frame, second.frame, third.frame]).toEqual([ack(2), ack(2), ack(2)]);
    expect(receipts.unconfirmed()).toEqual([]);
    expect(conversations.get(WITH_BOB)?.receiptOf(ALICE).deliveredSeq).toBe(2);
    expect(timers.waiting).toEqual([]);
  });

  it('drops an ack the server refuses for good, and reports it', async () => {
    const { receipts, connection, conversations, timers, report } = receiptsOf();
    conversations.receive(WITH_BOB, [message(1)]);
    timers.fireAll();

    const refused = new ParleyError(ParleyErrorCode.Forbidden, 'conversationId: not one of yours');
    (await connection.next()).fail(refused);
    await settled();

    expect(report).toHaveBeenCalledExactlyOnceWith(refused);
    expect(receipts.unconfirmed()).toEqual([]);
    expect(timers.waiting).toEqual([]);
  });

  it('keeps an ack cut off by a lost connection, stored, and sends it again on resendUnconfirmed', async () => {
    const { receipts, connection, conversations, persistence, timers, storage } = receiptsOf();
    conversations.receive(WITH_BOB, [message(1)]);
    timers.fireAll();
    (await connection.next()).fail(new ParleyError(ParleyErrorCode.ConnectionLost, 'the connection closed'));
    await settled();
    expect(timers.waiting).toEqual([]);
    await persistence.flush();
    expect(await storage.load(`parley/${ALICE}/phone/acks`)).toEqual([[WITH_BOB, { delivered: 1 }]]);

    receipts.resendUnconfirmed();
    const again = await connection.next();
    again.answer(acked(1));
    await settled();

    expect(again.frame).toEqual(ack(1));
    expect(receipts.unconfirmed()).toEqual([]);
  });
});
