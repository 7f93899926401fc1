/**
 * Presence consent and blocking (protocol 1.3) over real WebSockets on the local stack:
 * a user's presence shows only to those it wrote to in their one-to-one conversation, and
 * a block stops the blocked user's messages, typing and presence, until it is taken back.
 */
import { randomUUID } from 'node:crypto';
import { directConversationId } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { uniqueId, useTestStack } from '../support/stack.js';
import { waitForList } from '../support/wait-for-list.js';
import type { TestClient } from '../support/ws-client.js';

const send = (device: TestClient, to: string, body: string) =>
  device.request({ action: 'send', to, clientMessageId: randomUUID(), body });

/** Waits until the fanout wrote `writer`'s entry of its conversation with `other` up to `seq`: its consent is in it. */
const written = (writer: TestClient, other: { writerId: string; otherId: string }, seq: number) =>
  waitForList(writer, {}, (page) =>
    page.conversations.some(
      (c) => c.conversationId === directConversationId(other.writerId, other.otherId) && c.lastSeq >= seq,
    ),
  );

const isUpdate = (frame: { type: unknown; requestId?: unknown }) =>
  frame.type === 'presence' && frame.requestId === undefined;

describe('presence consent and blocking over a real WebSocket', () => {
  const { connect } = useTestStack({ presenceBatchingWindowSeconds: 1 });

  it('hides a user from one it never wrote to and from a group co-member, and shows it once it writes', async () => {
    const [alice, bob, carol] = [uniqueId('alice'), uniqueId('bob'), uniqueId('carol')];
    const alicePhone = await connect(alice, 'phone');
    const bobPhone = await connect(bob, 'phone');
    const carolPhone = await connect(carol, 'phone');
    await send(bobPhone, alice, 'hi alice');
    const groupId = `grp:${randomUUID()}`;
    await alicePhone.request({
      action: 'createGroup',
      conversationId: groupId,
      title: 'Book club',
      members: [carol],
    });
    await alicePhone.request({
      action: 'send',
      conversationId: groupId,
      clientMessageId: randomUUID(),
      body: 'hi all',
    });
    await waitForList(alicePhone, {}, (page) =>
      page.conversations.some((c) => c.conversationId === groupId && c.lastSeq >= 2),
    );
    await written(bobPhone, { writerId: bob, otherId: alice }, 1);

    const toBobBefore = await bobPhone.request({ action: 'subscribePresence', userIds: [alice] });
    const toCarol = await carolPhone.request({ action: 'subscribePresence', userIds: [alice] });
    const toAliceOfBob = await alicePhone.request({ action: 'subscribePresence', userIds: [bob] });
    await send(alicePhone, bob, 'hi bob');
    await written(alicePhone, { writerId: alice, otherId: bob }, 2);
    const toBobAfter = await bobPhone.request({ action: 'subscribePresence', userIds: [alice] });

    const stranger = [{ userId: alice, online: false, lastSeen: null }];
    expect(toBobBefore.users).toEqual(stranger);
    expect(toCarol.users).toEqual(stranger);
    expect(toAliceOfBob.users).toEqual([{ userId: bob, online: true, lastSeen: null }]);
    expect(toBobAfter.users).toEqual([{ userId: alice, online: true, lastSeen: null }]);
  });

  it('refuses a blocked user’s sends and typing, holds across devices and reconnects, and unblock restores', async () => {
    const [alice, mallory] = [uniqueId('alice'), uniqueId('mallory')];
    const alicePhone = await connect(alice, 'phone');
    const aliceLaptop = await connect(alice, 'laptop');
    const malloryPhone = await connect(mallory, 'phone');
    const conversationId = directConversationId(alice, mallory);
    await send(malloryPhone, alice, 'hello');
    const groupId = `grp:${randomUUID()}`;
    await alicePhone.request({
      action: 'createGroup',
      conversationId: groupId,
      title: 'Street',
      members: [mallory],
    });
    // The fanout indexes the members' connections in the group as it delivers its creation.
    await alicePhone.messagesOf(groupId, 1);
    await malloryPhone.messagesOf(groupId, 1);

    const blocked = await alicePhone.request({ action: 'block', requestId: 'b1', userId: mallory });
    const onLaptop = await aliceLaptop.waitFor((f) => f.type === 'blocked');
    const again = await alicePhone.request({ action: 'block', userId: mallory });
    const refused = await send(malloryPhone, alice, 'let me in');
    const ownRefused = await send(alicePhone, mallory, 'go away');
    // Typing in the one-to-one conversation goes nowhere; in the group it still goes, and,
    // sent after it on the same connection, shows the first was handled.
    malloryPhone.sendRaw(JSON.stringify({ action: 'typing', conversationId, state: 'start' }));
    malloryPhone.sendRaw(JSON.stringify({ action: 'typing', conversationId: groupId, state: 'start' }));
    await alicePhone.waitFor((f) => f.type === 'typing' && f.conversationId === groupId);
    await alicePhone.close();
    const aliceTablet = await connect(alice, 'tablet');
    const listed = await aliceTablet.request({ action: 'blocks' });
    const unblocked = await aliceTablet.request({ action: 'unblock', requestId: 'u1', userId: mallory });
    const unblockOnLaptop = await aliceLaptop.waitFor((f) => f.type === 'unblocked');
    const accepted = await send(malloryPhone, alice, 'sorry');
    const history = await aliceTablet.request({ action: 'sync', conversationId, afterSeq: 0 });

    expect(blocked).toEqual({ type: 'blocked', requestId: 'b1', userId: mallory });
    expect(onLaptop).toEqual({ type: 'blocked', userId: mallory });
    expect(again).toMatchObject({ type: 'blocked', userId: mallory });
    expect(refused).toMatchObject({
      type: 'error',
      code: 'forbidden',
      message: 'the recipient does not accept messages from you',
    });
    expect(ownRefused).toMatchObject({
      type: 'error',
      code: 'forbidden',
      message: `you block ${mallory}: unblock them to write to them`,
    });
    expect(
      alicePhone.received.filter((f) => f.type === 'typing' && f.conversationId === conversationId),
    ).toEqual([]);
    expect(listed).toMatchObject({ type: 'blocks', userIds: [mallory], hasMore: false });
    expect(unblocked).toEqual({ type: 'unblocked', requestId: 'u1', userId: mallory });
    expect(unblockOnLaptop).toEqual({ type: 'unblocked', userId: mallory });
    // The refused sends took no seq: the next message is the next one.
    expect(accepted).toMatchObject({ type: 'sent', seq: 2 });
    expect((history.messages as Array<{ body?: string }>).map((m) => m.body)).toEqual(['hello', 'sorry']);
    expect(aliceLaptop.received.filter((f) => f.type === 'message' && f.body === 'let me in')).toEqual([]);
  });

  it('ends a blocked user’s presence subscription: it sees the blocker as a stranger and hears no more', async () => {
    const [alice, mallory, bob] = [uniqueId('alice'), uniqueId('mallory'), uniqueId('bob')];
    const alicePhone = await connect(alice, 'phone');
    const malloryPhone = await connect(mallory, 'phone');
    const bobPhone = await connect(bob, 'phone');
    await send(alicePhone, mallory, 'hi mallory');
    await send(alicePhone, bob, 'hi bob');
    await written(alicePhone, { writerId: alice, otherId: mallory }, 1);
    await written(alicePhone, { writerId: alice, otherId: bob }, 1);
    const before = await malloryPhone.request({ action: 'subscribePresence', userIds: [alice] });
    await bobPhone.request({ action: 'subscribePresence', userIds: [alice] });

    await alicePhone.request({ action: 'block', userId: mallory });
    await alicePhone.close();
    // Bob, who still may see alice, hears her go offline: the notifier has run.
    await bobPhone.next(
      (f) => isUpdate(f) && (f.users as Array<{ online: boolean }>).some((u) => !u.online),
      15_000,
    );
    // Only now: subscribing again would itself drop mallory's subscription on alice (it reads
    // the block), and the block alone must have ended it.
    const after = await malloryPhone.request({ action: 'subscribePresence', userIds: [alice] });

    expect(before.users).toEqual([{ userId: alice, online: true, lastSeen: null }]);
    expect(after.users).toEqual([{ userId: alice, online: false, lastSeen: null }]);
    // Alice's going online, from before the block, may still reach mallory late (the notifier
    // reads the subscribers when it gets to that record): it says what mallory could see then.
    // Her going offline after the block must not.
    const heard = malloryPhone.received
      .filter(isUpdate)
      .flatMap((f) => f.users as Array<{ online: boolean }>);
    expect(heard.filter((user) => !user.online)).toEqual([]);
  });

  it('refuses to block oneself with bad_request, and the connection stays up', async () => {
    const alice = uniqueId('alice');
    const phone = await connect(alice, 'phone');

    const self = await phone.request({ action: 'block', userId: alice });
    const listed = await phone.request({ action: 'blocks' });

    expect(self).toMatchObject({
      type: 'error',
      code: 'bad_request',
      message: 'userId: must be another user than the caller',
    });
    expect(listed).toMatchObject({ type: 'blocks', userIds: [], hasMore: false });
  });
});
