import { randomUUID } from 'node:crypto';
import { directConversationId } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { uniqueId, useTestStack } from '../support/stack.js';
import { waitForList } from '../support/wait-for-list.js';
import type { Frame, TestClient } from '../support/ws-client.js';

describe('receipts, typing and the conversation list over a real WebSocket', () => {
  const send = (device: TestClient, to: string, body: string) =>
    device.request({ action: 'send', to, clientMessageId: randomUUID(), body });
  const { connect } = useTestStack();

  describe('ack', () => {
    it('moves the read watermark, lifts delivered with it, and tells every device of both users', async () => {
      const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
      const conversationId = directConversationId(alice, bob);
      const alicePhone = await connect(alice, 'phone');
      const bobPhone = await connect(bob, 'phone');
      const bobDesktop = await connect(bob, 'desktop');
      await send(alicePhone, bob, 'one');
      await send(alicePhone, bob, 'two');

      const acked = await bobPhone.request({
        requestId: 'a1',
        action: 'ack',
        conversationId,
        seq: 2,
        kind: 'read',
      });

      expect(acked).toEqual({ type: 'acked', requestId: 'a1', conversationId, kind: 'read', seq: 2 });
      // The read receipt alone: a reader lifts delivered with it (protocol 1.2).
      for (const device of [alicePhone, bobPhone, bobDesktop]) {
        await device.waitFor(
          (f) => f.type === 'receipt' && f.kind === 'read' && f.userId === bob && f.seq === 2,
        );
      }
      const history = await alicePhone.request({ action: 'sync', conversationId, afterSeq: 0 });
      expect(history.receipts).toContainEqual({ userId: bob, deliveredSeq: 2, readSeq: 2 });
      expect(history.receipts).toContainEqual({ userId: alice, deliveredSeq: 0, readSeq: 0 });
    });

    it('never moves a watermark backwards and answers the current one', async () => {
      const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
      const conversationId = directConversationId(alice, bob);
      const alicePhone = await connect(alice, 'phone');
      const bobPhone = await connect(bob, 'phone');
      for (const body of ['1', '2', '3']) await send(alicePhone, bob, body);
      await bobPhone.request({ action: 'ack', conversationId, seq: 3, kind: 'delivered' });
      await bobPhone.request({ action: 'ack', conversationId, seq: 2, kind: 'read' });

      const lowerDelivered = await bobPhone.request({
        action: 'ack',
        conversationId,
        seq: 1,
        kind: 'delivered',
      });
      const lowerRead = await bobPhone.request({ action: 'ack', conversationId, seq: 1, kind: 'read' });

      expect(lowerDelivered).toMatchObject({ kind: 'delivered', seq: 3 });
      expect(lowerRead).toMatchObject({ kind: 'read', seq: 2 });
      const history = await bobPhone.request({ action: 'sync', conversationId, afterSeq: 3 });
      expect(history.receipts).toContainEqual({ userId: bob, deliveredSeq: 3, readSeq: 2 });
    });

    it('refuses an ack above the last seq with bad_request and a stranger’s ack with forbidden', async () => {
      const [alice, bob, mallory] = [uniqueId('alice'), uniqueId('bob'), uniqueId('mallory')];
      const conversationId = directConversationId(alice, bob);
      const alicePhone = await connect(alice, 'phone');
      const intruder = await connect(mallory, 'laptop');
      await send(alicePhone, bob, 'hi');

      const above = await alicePhone.request({
        requestId: 'x',
        action: 'ack',
        conversationId,
        seq: 2,
        kind: 'read',
      });
      const stranger = await intruder.request({
        requestId: 'y',
        action: 'ack',
        conversationId,
        seq: 1,
        kind: 'read',
      });
      const badKind = await alicePhone.request({
        requestId: 'z',
        action: 'ack',
        conversationId,
        seq: 1,
        kind: 'seen',
      });

      expect(above).toMatchObject({
        type: 'error',
        requestId: 'x',
        code: 'bad_request',
        message: expect.stringMatching(/^seq:/),
      });
      expect(stranger).toMatchObject({ type: 'error', requestId: 'y', code: 'forbidden' });
      expect(badKind).toMatchObject({ code: 'bad_request', message: 'kind: must be delivered or read' });
      const history = await alicePhone.request({ action: 'sync', conversationId, afterSeq: 1 });
      expect(history.receipts).toEqual([
        { userId: [alice, bob].sort()[0], deliveredSeq: 0, readSeq: 0 },
        { userId: [alice, bob].sort()[1], deliveredSeq: 0, readSeq: 0 },
      ]);
    });

    it('delivers a receipt after the message it acknowledges on every device', async () => {
      const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
      const conversationId = directConversationId(alice, bob);
      const alicePhone = await connect(alice, 'phone');
      const bobPhone = await connect(bob, 'phone');
      const watcher = await connect(alice, 'tablet');

      const sent = await send(alicePhone, bob, 'read me');
      await bobPhone.request({ action: 'ack', conversationId, seq: sent.seq, kind: 'read' });
      await watcher.waitFor((f) => f.type === 'receipt' && f.kind === 'read');

      const order = watcher.received
        .filter((f) => f.type === 'message' || f.type === 'receipt')
        .map((f) => f.type);
      expect(order.indexOf('message')).toBeLessThan(order.indexOf('receipt'));
    });
  });

  describe('typing', () => {
    it('goes to the other member’s devices only, and nothing answers the typist', async () => {
      const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
      const conversationId = directConversationId(alice, bob);
      const alicePhone = await connect(alice, 'phone');
      const aliceDesktop = await connect(alice, 'desktop');
      const bobPhone = await connect(bob, 'phone');

      alicePhone.sendRaw(JSON.stringify({ action: 'typing', conversationId, state: 'start' }));
      const typing = await bobPhone.next((f) => f.type === 'typing');
      const pong = await alicePhone.request({ action: 'ping' });

      expect(typing).toEqual({ type: 'typing', conversationId, userId: alice, state: 'start' });
      expect(pong.type).toBe('pong');
      expect(alicePhone.received.filter((f) => f.type !== 'pong')).toEqual([]);
      expect(aliceDesktop.received.filter((f) => f.type === 'typing')).toEqual([]);
    });

    it('refuses typing into a conversation of others with forbidden, and a bad state with bad_request', async () => {
      const intruder = await connect(uniqueId('mallory'), 'laptop');
      intruder.sendRaw(JSON.stringify({ action: 'typing', conversationId: 'dm:amy:bob', state: 'start' }));
      const forbidden = await intruder.next((f) => f.type === 'error');
      const badState = await intruder.request({
        action: 'typing',
        conversationId: 'dm:amy:bob',
        state: 'maybe',
      });
      expect(forbidden).toMatchObject({ code: 'forbidden', requestId: null });
      expect(badState).toMatchObject({ code: 'bad_request', message: 'state: must be start or stop' });
    });
  });

  describe('conversations', () => {
    it('lists every conversation without a cursor, then only what changed after it', async () => {
      const [alice, bob, carol] = [uniqueId('alice'), uniqueId('bob'), uniqueId('carol')];
      const alicePhone = await connect(alice, 'phone');
      const bobPhone = await connect(bob, 'phone');
      await send(alicePhone, bob, 'to bob');
      await send(alicePhone, carol, 'to carol');
      await bobPhone.messagesOf(directConversationId(alice, bob), 1);
      const toCarol = directConversationId(alice, carol);

      const all = await waitForList(alicePhone, {}, (page) => page.conversations.length === 2);
      const nothing = await alicePhone.request({ action: 'conversations', since: all.cursor });
      await send(bobPhone, alice, 'back to alice');
      const changed = await waitForList(alicePhone, { since: all.cursor }, (page) =>
        page.conversations.some((c) => c.lastSeq === 2),
      );

      expect(all.conversations.map((c) => c.conversationId)).toEqual([
        directConversationId(alice, bob),
        toCarol,
      ]);
      expect(all.conversations[1]).toMatchObject({
        conversationId: toCarol,
        members: [alice, carol].sort(),
        lastSeq: 1,
        lastMessage: { seq: 1, body: 'to carol', senderId: alice },
      });
      expect(all.hasMore).toBe(false);
      expect(nothing).toMatchObject({
        type: 'conversations',
        conversations: [],
        hasMore: false,
        cursor: all.cursor,
      });
      expect(changed.conversations).toHaveLength(1);
      expect(changed.conversations[0]).toMatchObject({
        conversationId: directConversationId(alice, bob),
        lastSeq: 2,
        lastMessage: { body: 'back to alice', senderId: bob },
      });
    });

    it('pages with limit and hasMore, oldest change first, and carries receipts', async () => {
      const alice = uniqueId('alice');
      const peers = [uniqueId('p'), uniqueId('p'), uniqueId('p')];
      const alicePhone = await connect(alice, 'phone');
      // The fanout writes the lists of different conversations concurrently, so the order of
      // their changes is the order of the list writes, not of the sends: wait for each.
      for (const [index, peer] of peers.entries()) {
        await send(alicePhone, peer, `hi ${peer}`);
        await waitForList(alicePhone, {}, (page) => page.conversations.length === index + 1);
      }
      const first = await waitForList(alicePhone, { limit: 2 }, () => true);

      const page1 = await alicePhone.request({ action: 'conversations', limit: 2 });
      const page2 = await alicePhone.request({ action: 'conversations', limit: 2, since: page1.cursor });

      expect(first.conversations.length).toBeLessThanOrEqual(2);
      expect(page1.hasMore).toBe(true);
      expect(page2.hasMore).toBe(false);
      const listed = [...(page1.conversations as Frame[]), ...(page2.conversations as Frame[])];
      expect(listed.map((c) => c.conversationId)).toEqual(
        peers.map((peer) => directConversationId(alice, peer)),
      );
      const updatedAts = listed.map((c) => c.updatedAt as number);
      expect([...updatedAts].sort((a, b) => a - b)).toEqual(updatedAts);
      expect(listed[0]?.receipts).toHaveLength(2);
    });

    it('refuses a cursor it did not make and a limit out of range with bad_request', async () => {
      const phone = await connect(uniqueId('alice'), 'phone');
      const badCursor = await phone.request({ action: 'conversations', since: 'yesterday' });
      const badLimit = await phone.request({ action: 'conversations', limit: 101 });
      expect(badCursor).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^since:/) });
      expect(badLimit).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^limit:/) });
    });
  });
});
