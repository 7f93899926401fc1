/**
 * What members may do in a group, over a real WebSocket against the local stack: `send`,
 * `sync`, `ack` and `typing` answers, the membership windows and `everyone`. Delivering
 * events to devices is the fanout's, tested with it.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { uniqueId, useTestStack } from '../support/stack.js';
import type { Frame, TestClient } from '../support/ws-client.js';

describe('send, sync, ack and typing in a group over a real WebSocket', () => {
  const { connect } = useTestStack();

  /** alice's group of alice, bob and carol, made at seq 1, and a phone for each and for dave, who is not in it. */
  async function lunchGroup() {
    const [alice, bob, carol, dave] = ['alice', 'bob', 'carol', 'dave'].map((name) => uniqueId(name)) as [
      string,
      string,
      string,
      string,
    ];
    const phones = {
      alice: await connect(alice, 'phone'),
      bob: await connect(bob, 'phone'),
      carol: await connect(carol, 'phone'),
      dave: await connect(dave, 'phone'),
    };
    const conversationId = `grp:${randomUUID()}`;
    const created = await phones.alice.request({
      action: 'createGroup',
      conversationId,
      title: 'Lunch',
      members: [bob, carol],
    });
    expect(created).toMatchObject({ type: 'groupChanged', seq: 1 });
    const send = (phone: TestClient, body: string) =>
      phone.request({ action: 'send', conversationId, clientMessageId: randomUUID(), body });
    const sync = (phone: TestClient, afterSeq = 0) =>
      phone.request({ action: 'sync', conversationId, afterSeq });
    const ack = (phone: TestClient, kind: 'delivered' | 'read', seq: number) =>
      phone.request({ action: 'ack', conversationId, kind, seq });
    const typing = (phone: TestClient) => phone.request({ action: 'typing', conversationId, state: 'start' });
    return { alice, bob, carol, dave, phones, conversationId, send, sync, ack, typing };
  }

  const seqsOf = (history: Frame) =>
    (history.messages as Array<{ seq: number }>).map((message) => message.seq);

  it('sends a member’s text into the group and syncs it, with the caller’s own receipt and everyone', async () => {
    const { bob, carol, phones, conversationId, send, sync } = await lunchGroup();

    const sent = await send(phones.bob, 'hello');
    const carolSees = await sync(phones.carol);
    const bobSees = await sync(phones.bob);

    expect(sent).toMatchObject({ type: 'sent', conversationId, seq: 2, duplicate: false });
    expect(carolSees).toMatchObject({
      type: 'history',
      lastSeq: 2,
      hasMore: false,
      everyone: { deliveredSeq: 0, readSeq: 0 },
    });
    expect(carolSees.messages).toEqual([
      expect.objectContaining({ seq: 1, kind: 'group-created', title: 'Lunch' }),
      expect.objectContaining({ seq: 2, kind: 'text', body: 'hello', senderId: bob }),
    ]);
    expect(carolSees.receipts).toEqual([{ userId: carol, deliveredSeq: 0, readSeq: 0 }]);
    // A sender counts as having received and read its own message.
    expect(bobSees.receipts).toEqual([{ userId: bob, deliveredSeq: 2, readSeq: 2 }]);
  });

  it('refuses send, sync, ack and typing from a user who is not a member', async () => {
    const { phones, send, sync, ack, typing } = await lunchGroup();

    const answers = [
      await send(phones.dave, 'let me in'),
      await sync(phones.dave),
      await ack(phones.dave, 'read', 1),
      await typing(phones.dave),
    ];

    for (const answer of answers) expect(answer).toMatchObject({ type: 'error', code: 'forbidden' });
  });

  it('gives a removed member its window up to its removal and refuses its send, ack and typing', async () => {
    const { carol, phones, conversationId, send, sync, ack, typing } = await lunchGroup();
    await send(phones.bob, 'before');
    const removed = await phones.alice.request({ action: 'removeMember', conversationId, userId: carol });
    await send(phones.bob, 'after');

    const window = await sync(phones.carol);

    expect(removed).toMatchObject({ type: 'groupChanged', seq: 3 });
    expect(seqsOf(window)).toEqual([1, 2, 3]);
    expect(window).toMatchObject({ lastSeq: 3, hasMore: false });
    expect(await send(phones.carol, 'still here?')).toMatchObject({ code: 'forbidden' });
    expect(await ack(phones.carol, 'read', 3)).toMatchObject({ code: 'forbidden' });
    expect(await typing(phones.carol)).toMatchObject({ code: 'forbidden' });
  });

  it('syncs a member added later from the seq that added it', async () => {
    const { dave, phones, conversationId, send, sync } = await lunchGroup();
    await send(phones.bob, 'before dave');
    const added = await phones.alice.request({ action: 'addMembers', conversationId, members: [dave] });

    const history = await sync(phones.dave, 0);

    expect(added).toMatchObject({ type: 'groupChanged', seq: 3 });
    expect(seqsOf(history)).toEqual([3]);
    expect(history.receipts).toEqual([{ userId: dave, deliveredSeq: 2, readSeq: 2 }]);
  });

  it('moves everyone when the last member behind acks, and syncs it', async () => {
    const { phones, send, sync, ack } = await lunchGroup();
    await send(phones.alice, 'lunch at noon?');
    await ack(phones.bob, 'read', 2);

    const acked = await ack(phones.carol, 'read', 2);

    expect(acked).toMatchObject({ type: 'acked', kind: 'read', seq: 2 });
    expect((await sync(phones.alice, 2)).everyone).toEqual({ deliveredSeq: 2, readSeq: 2 });
  });

  it('gives a one-to-one text message kind text', async () => {
    const alice = uniqueId('alice');
    const bob = uniqueId('bob');
    const [alicePhone, bobPhone] = [await connect(alice, 'phone'), await connect(bob, 'phone')];
    const sent = await alicePhone.request({
      action: 'send',
      to: bob,
      clientMessageId: randomUUID(),
      body: 'hi',
    });

    const history = await bobPhone.request({
      action: 'sync',
      conversationId: sent.conversationId,
      afterSeq: 0,
    });

    expect(history.messages).toEqual([expect.objectContaining({ seq: 1, kind: 'text', body: 'hi' })]);
  });
});
