import { afterEach, describe, expect, it } from 'vitest';
import { Receipts } from '../../../sdk/src/receipts.js';
import { ALICE, BOB, WITH_BOB } from './support/clients.js';
import { message, receipt } from './support/frames.js';
import { ManualTimers } from './support/manual-timers.js';
import { closeParts, conversationParts } from './support/parts.js';
import { ScriptedConnection } from './support/scripted-connection.js';

afterEach(closeParts);

const WINDOW_MS = 250;
const CONFIRM_MS = 1_000;

/** The receipts of alice's phone over a scripted connection, with timers the test fires. */
function receiptsOf() {
  const connection = new ScriptedConnection();
  const timers = new ManualTimers();
  const parts = conversationParts({
    acks: () => receipts.unconfirmed(),
    onAdded: (timeline) => receipts.scheduleDelivered(timeline),
  });
  const { identity, conversations, persistence } = parts;
  const receipts: Receipts = new Receipts({
    ...{ identity, connection, conversations, persistence, timers },
    windowMs: WINDOW_MS,
    confirmTimeoutMs: CONFIRM_MS,
  });
  return { ...parts, receipts, connection, timers };
}

const ack = (kind: 'delivered' | 'read', seq: number) => ({
  action: 'ack',
  conversationId: WITH_BOB,
  seq,
  kind,
});

describe('the acks of one device', () => {
  it('gathers a burst into one delivered ack of the highest seq, sent without a requestId when the window ends', async () => {
    const { connection, conversations, timers } = receiptsOf();

    conversations.receive(WITH_BOB, [message(1), message(2)]);
    conversations.receive(WITH_BOB, [message(3)]);
    expect(timers.waiting).toEqual([WINDOW_MS]);
    expect(connection.sent).toEqual([]);
    timers.fireAll();

    expect(connection.sent).toEqual([ack('delivered', 3)]);
  });

  it.each([
    { name: 'one read ack when the read covers delivered', after: [], sent: [ack('read', 2)] },
    {
      name: 'both kinds when a message arrives after the read',
      after: [message(3)],
      sent: [ack('read', 2), ack('delivered', 3)],
    },
  ])('sends $name, within one window', async ({ after, sent }) => {
    const { receipts, connection, conversations, timers } = receiptsOf();

    conversations.receive(WITH_BOB, [message(1), message(2)]);
    await receipts.markRead(WITH_BOB);
    if (after.length > 0) conversations.receive(WITH_BOB, after);
    timers.fireAll();

    expect(connection.sent).toEqual(sent);
  });

  it('forgets an ack once a receipt event of its user reports it, and stops waiting for it', async () => {
    const { receipts, connection, conversations, timers, persistence, storage } = receiptsOf();
    conversations.receive(WITH_BOB, [message(1), message(2)]);
    await receipts.markRead(WITH_BOB);
    timers.fireAll();
    expect(receipts.unconfirmed()).toEqual([[WITH_BOB, { read: 2 }]]);
    expect(timers.waiting).toEqual([CONFIRM_MS]);

    receipts.learnEvent(WITH_BOB, BOB, 'read', 2);
    expect(receipts.unconfirmed()).toEqual([[WITH_BOB, { read: 2 }]]);
    receipts.learnEvent(WITH_BOB, ALICE, 'read', 2);

    expect(receipts.unconfirmed()).toEqual([]);
    expect(timers.waiting).toEqual([]);
    await persistence.flush();
    expect(await storage.load(`parley/${ALICE}/phone/acks`)).toEqual([]);
    expect(connection.sent).toEqual([ack('read', 2)]);
  });

  it('sends an ack again when no confirmation comes, waiting twice as long each time', async () => {
    const { receipts, connection, conversations, timers } = receiptsOf();
    conversations.receive(WITH_BOB, [message(1)]);
    timers.fireAll();

    timers.fireAll();
    expect(timers.waiting).toEqual([2 * CONFIRM_MS]);
    timers.fireAll();
    expect(timers.waiting).toEqual([4 * CONFIRM_MS]);
    receipts.learnEvent(WITH_BOB, ALICE, 'delivered', 1);

    expect(connection.sent).toEqual([ack('delivered', 1), ack('delivered', 1), ack('delivered', 1)]);
    expect(timers.waiting).toEqual([]);
  });

  it('keeps the acks made while the connection is closed, stored, and sends on reconnect only what the server has not reported', async () => {
    const { receipts, connection, conversations, timers, persistence, storage } = receiptsOf();
    conversations.receive(WITH_BOB, [message(1), message(2), message(3)]);
    connection.isOpen = false;
    timers.fireAll();
    await receipts.markRead(WITH_BOB);
    timers.fireAll();
    expect(connection.sent).toEqual([]);
    await persistence.flush();
    expect(await storage.load(`parley/${ALICE}/phone/acks`)).toEqual([[WITH_BOB, { delivered: 3, read: 3 }]]);

    // The catch-up reports delivered up to 3 (another device acked it), read up to 1.
    connection.isOpen = true;
    receipts.learn(WITH_BOB, [receipt(BOB, 0, 0), receipt(ALICE, 3, 1)]);
    receipts.resendUnconfirmed();

    expect(connection.sent).toEqual([ack('read', 3)]);
    expect(receipts.unconfirmed()).toEqual([[WITH_BOB, { read: 3 }]]);
  });

  it('sends nothing on reconnect when the server already reports every ack', async () => {
    const { receipts, connection, conversations, timers } = receiptsOf();
    conversations.receive(WITH_BOB, [message(1), message(2)]);
    connection.isOpen = false;
    timers.fireAll();

    connection.isOpen = true;
    receipts.learn(WITH_BOB, [receipt(ALICE, 2, 2)]);
    receipts.resendUnconfirmed();

    expect(connection.sent).toEqual([]);
    expect(receipts.unconfirmed()).toEqual([]);
    expect(timers.waiting).toEqual([]);
  });

  it('takes a read the server reports as delivered up to the same seq', async () => {
    const { receipts, connection, conversations, timers } = receiptsOf();
    conversations.receive(WITH_BOB, [message(1), message(2)]);
    timers.fireAll();
    expect(connection.sent).toEqual([ack('delivered', 2)]);

    receipts.learnEvent(WITH_BOB, ALICE, 'read', 2);

    expect(receipts.unconfirmed()).toEqual([]);
    expect(timers.waiting).toEqual([]);
  });

  it('stops its timers on close', async () => {
    const { receipts, conversations, timers } = receiptsOf();
    conversations.receive(WITH_BOB, [message(1)]);
    timers.fireAll();
    conversations.receive(WITH_BOB, [message(2)]);
    expect(timers.waiting).toEqual([CONFIRM_MS, WINDOW_MS]);

    receipts.close();

    expect(timers.waiting).toEqual([]);
  });
});
