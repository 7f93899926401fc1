/** The contracts of the message store, the receipt store and the event publisher. */

import { expect, it } from 'vitest';
import type { StreamEvent } from '../../../lambdas/domain/ports.js';
import { message, type PortFactories, uniqueId } from './common.js';

export function describeMessageStore(factories: PortFactories): void {
  it('knows no message of a conversation never written to', async () => {
    const messages = factories.messages();
    const conversationId = uniqueId('dm:a:b');

    expect(await messages.lastSeq(conversationId)).toBe(0);
    expect(await messages.getMessage(conversationId, 1)).toBeUndefined();
    expect(await messages.listMessages(conversationId, 0, 10)).toEqual({ messages: [], lastSeq: 0 });
  });

  it('stores a message with its key, and refuses the same key and the same seq by their conditions', async () => {
    const messages = factories.messages();
    const conversationId = uniqueId('dm:a:b');
    const first = message(conversationId, 1, 'k1');

    const stored = await messages.storeMessage(first);
    const sameKey = await messages.storeMessage(message(conversationId, 2, 'k1'));
    const sameSeq = await messages.storeMessage(message(conversationId, 1, 'k2'));

    expect(stored).toEqual({ status: 'stored' });
    expect(sameKey).toEqual({
      status: 'duplicate',
      original: { seq: 1, messageId: first.messageId, serverTs: first.serverTs },
    });
    expect(sameSeq).toEqual({ status: 'seq_taken' });
    expect(await messages.getMessage(conversationId, 1)).toEqual(first);
    expect(await messages.lastSeq(conversationId)).toBe(1);
    // The refused writes stored nothing: seq 2 does not exist, k2 is free.
    expect(await messages.getMessage(conversationId, 2)).toBeUndefined();
    expect(await messages.storeMessage(message(conversationId, 2, 'k2'))).toEqual({ status: 'stored' });
  });

  it('answers a taken key as a duplicate even when the seq is taken as well', async () => {
    const messages = factories.messages();
    const conversationId = uniqueId('dm:a:b');
    const first = message(conversationId, 1, 'k1');
    await messages.storeMessage(first);

    const again = await messages.storeMessage({ ...first, messageId: 'another', serverTs: 1 });

    expect(again).toEqual({
      status: 'duplicate',
      original: { seq: 1, messageId: first.messageId, serverTs: first.serverTs },
    });
    expect(await messages.getMessage(conversationId, 1)).toEqual(first);
  });

  it('keys idempotency by sender and conversation: the same clientMessageId elsewhere is a new message', async () => {
    const messages = factories.messages();
    const conversationId = uniqueId('dm:a:b');
    const otherConversation = uniqueId('dm:a:c');
    await messages.storeMessage(message(conversationId, 1, 'k1', 'alice'));

    expect(await messages.storeMessage(message(conversationId, 2, 'k1', 'bob'))).toEqual({
      status: 'stored',
    });
    expect(await messages.storeMessage(message(otherConversation, 1, 'k1', 'alice'))).toEqual({
      status: 'stored',
    });
    expect(await messages.lastSeq(conversationId)).toBe(2);
    expect(await messages.lastSeq(otherConversation)).toBe(1);
  });

  it('reads the last seq and pages of messages in seq order, past the tenth message', async () => {
    const messages = factories.messages();
    const conversationId = uniqueId('dm:a:c');
    for (let seq = 1; seq <= 12; seq++) await messages.storeMessage(message(conversationId, seq, `k${seq}`));

    const page = await messages.listMessages(conversationId, 8, 3);
    const tail = await messages.listMessages(conversationId, 11, 100);
    const past = await messages.listMessages(conversationId, 12, 100);

    expect(await messages.lastSeq(conversationId)).toBe(12);
    expect(page.messages.map((m) => m.seq)).toEqual([9, 10, 11]);
    expect(page.lastSeq).toBe(12);
    expect(tail).toEqual({ messages: [message(conversationId, 12, 'k12')], lastSeq: 12 });
    expect(past).toEqual({ messages: [], lastSeq: 12 });
  });

  it('answers an empty page after the largest seq a sort key holds, and after anything larger', async () => {
    const messages = factories.messages();
    const conversationId = uniqueId('dm:a:c');
    await messages.storeMessage(message(conversationId, 1, 'k1'));

    expect(await messages.listMessages(conversationId, 10 ** 12 - 1, 10)).toEqual({
      messages: [],
      lastSeq: 1,
    });
    expect(await messages.listMessages(conversationId, 10 ** 15, 10)).toEqual({ messages: [], lastSeq: 1 });
  });

  it('counts messages only: the receipts beside them are not messages', async () => {
    const messages = factories.messages();
    const receipts = factories.receipts();
    const conversationId = uniqueId('dm:a:b');
    await messages.storeMessage(message(conversationId, 1, 'k1'));
    await receipts.raiseWatermark(conversationId, 'bob', 'read', 1);

    expect(await messages.lastSeq(conversationId)).toBe(1);
    expect((await messages.listMessages(conversationId, 0, 10)).messages).toEqual([
      message(conversationId, 1, 'k1'),
    ]);
  });
}

export function describeReceiptStore(factories: PortFactories): void {
  it('raises a watermark only forward, answers the one it holds when asked to lower it, and the one before each call', async () => {
    const receipts = factories.receipts();
    const conversationId = uniqueId('dm:a:b');

    const outcomes = [];
    for (const seq of [3, 2, 3, 5]) {
      outcomes.push(await receipts.raiseWatermark(conversationId, 'alice', 'delivered', seq));
    }

    expect(outcomes).toEqual([
      { seq: 3, moved: true, previous: 0 },
      { seq: 3, moved: false, previous: 3 },
      { seq: 3, moved: false, previous: 3 },
      { seq: 5, moved: true, previous: 3 },
    ]);
  });

  it('sets a first watermark whatever its value, 0 included', async () => {
    const receipts = factories.receipts();
    const conversationId = uniqueId('dm:a:b');

    expect(await receipts.raiseWatermark(conversationId, 'alice', 'read', 0)).toEqual({
      seq: 0,
      moved: true,
      previous: 0,
    });
    expect(await receipts.raiseWatermark(conversationId, 'alice', 'read', 0)).toEqual({
      seq: 0,
      moved: false,
      previous: 0,
    });
  });

  it('reads one member’s watermarks, 0 for a kind never acked and for a member who never acked', async () => {
    const receipts = factories.receipts();
    const conversationId = uniqueId('grp:');
    await receipts.raiseWatermark(conversationId, 'bob', 'delivered', 4);
    await receipts.raiseWatermark(conversationId, 'alice', 'read', 2);

    expect(await receipts.getReceipt(conversationId, 'bob')).toEqual({
      userId: 'bob',
      deliveredSeq: 4,
      readSeq: 0,
    });
    expect(await receipts.getReceipt(conversationId, 'carol')).toEqual({
      userId: 'carol',
      deliveredSeq: 0,
      readSeq: 0,
    });
  });

  it('keeps each kind and each member apart, and lists the members in user id order with 0 for a kind never acked', async () => {
    const receipts = factories.receipts();
    const conversationId = uniqueId('dm:a:b');
    const empty = await receipts.listReceipts(conversationId);
    await receipts.raiseWatermark(conversationId, 'bob', 'read', 2);
    await receipts.raiseWatermark(conversationId, 'alice', 'delivered', 4);
    await receipts.raiseWatermark(conversationId, 'bob', 'delivered', 1);

    expect(empty).toEqual([]);
    expect(await receipts.listReceipts(conversationId)).toEqual([
      { userId: 'alice', deliveredSeq: 4, readSeq: 0 },
      { userId: 'bob', deliveredSeq: 1, readSeq: 2 },
    ]);
    expect(await receipts.listReceipts(uniqueId('dm:a:b'))).toEqual([]);
  });
}

export function describeEventPublisher(factories: PortFactories): void {
  it('hands each event to the stream as it is, under its partition key, in order within a partition key', async () => {
    const { publisher, published } = factories.publisher();
    const [conversationId, other, userId] = [uniqueId('dm:a:b'), uniqueId('dm:a:c'), uniqueId('u')];
    const events: StreamEvent[] = [
      { type: 'message', ...message(conversationId, 1, 'k1') },
      { type: 'message', ...message(other, 1, 'k1') },
      { type: 'receipt', conversationId, userId: 'bob', kind: 'read', seq: 1 },
      { type: 'presence-changed', userId },
      { type: 'message', ...message(conversationId, 2, 'k2') },
    ];

    for (const event of events) await publisher.publish(event);
    const ours = (await published()).filter(({ partitionKey }) =>
      [conversationId, other, `presence:${userId}`].includes(partitionKey),
    );

    const inPartition = (key: string) => ours.filter(({ partitionKey }) => partitionKey === key);
    expect(inPartition(conversationId).map(({ event }) => event)).toEqual([events[0], events[2], events[4]]);
    expect(inPartition(other).map(({ event }) => event)).toEqual([events[1]]);
    expect(inPartition(`presence:${userId}`).map(({ event }) => event)).toEqual([events[3]]);
    expect(ours).toHaveLength(5);
  });
}
