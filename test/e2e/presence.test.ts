import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { uniqueId, useTestStack } from '../support/stack.js';
import { waitForList } from '../support/wait-for-list.js';
import type { TestClient } from '../support/ws-client.js';

/**
 * `writer` sends a message to `to` and waits until the fanout wrote its list entry: from
 * then on `to` may see its presence (protocol 1.3).
 */
async function writeTo(writer: TestClient, to: string) {
  await writer.request({ action: 'send', to, clientMessageId: randomUUID(), body: 'hi' });
  await waitForList(writer, {}, (page) => page.conversations.length > 0);
}

describe('presence over a real WebSocket', () => {
  const { connect } = useTestStack({ presenceBatchingWindowSeconds: 1 });

  it('shows a user online while any device is connected, then offline with lastSeen, in one update', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const alicePhone = await connect(alice, 'phone');
    const bobPhone = await connect(bob, 'phone');
    const bobDesktop = await connect(bob, 'desktop');
    await writeTo(bobPhone, alice);

    const snapshot = await alicePhone.request({
      requestId: 'p1',
      action: 'subscribePresence',
      userIds: [bob],
    });
    await bobPhone.close();
    const stillOnline = await alicePhone.request({ action: 'subscribePresence', userIds: [bob] });
    const beforeLastClose = Date.now();
    await bobDesktop.close();
    // Bob's coming online may be pushed after alice subscribed (see below): wait for the offline one.
    const update = await alicePhone.next(
      (f) =>
        f.type === 'presence' &&
        f.requestId === undefined &&
        (f.users as Array<{ online: boolean }>).some((user) => !user.online),
      15_000,
    );

    expect(snapshot).toEqual({
      type: 'presence',
      requestId: 'p1',
      users: [{ userId: bob, online: true, lastSeen: null }],
    });
    expect(stillOnline.users).toEqual([{ userId: bob, online: true, lastSeen: null }]);
    expect(update.users).toEqual([{ userId: bob, online: false, lastSeen: expect.any(Number) }]);
    const [offline] = update.users as Array<{ lastSeen: number }>;
    expect(offline?.lastSeen).toBeGreaterThanOrEqual(beforeLastClose - 1000);
    // Closing the first of two devices changed nothing: the only update showing bob offline
    // is the last one. (Bob's own coming online may be pushed after alice subscribed, when
    // the notifier's batch is slow: that one shows him online.)
    const updates = alicePhone.received.filter((f) => f.type === 'presence' && f.requestId === undefined);
    const offlineUpdates = updates.filter((f) =>
      (f.users as Array<{ online: boolean }>).some((user) => !user.online),
    );
    expect(offlineUpdates).toEqual([update]);
  });

  it('tells a subscriber when a user comes online', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const alicePhone = await connect(alice, 'phone');
    const bobLaptop = await connect(bob, 'laptop');
    await writeTo(bobLaptop, alice);
    await bobLaptop.close();
    // Its $disconnect may still be running: ask until bob shows offline, a round trip each.
    const deadline = Date.now() + 10_000;
    let snapshot = await alicePhone.request({ action: 'subscribePresence', userIds: [bob] });
    while ((snapshot.users as Array<{ online: boolean }>)[0]?.online && Date.now() < deadline) {
      snapshot = await alicePhone.request({ action: 'subscribePresence', userIds: [bob] });
    }

    await connect(bob, 'phone');
    // The update of bob's laptop closing may come first, when the notifier's batch is slow.
    const update = await alicePhone.next(
      (f) =>
        f.type === 'presence' &&
        f.requestId === undefined &&
        (f.users as Array<{ online: boolean }>).some((user) => user.online),
      15_000,
    );

    expect(snapshot.users).toEqual([{ userId: bob, online: false, lastSeen: expect.any(Number) }]);
    expect(update.users).toEqual([{ userId: bob, online: true, lastSeen: null }]);
  });

  it('keeps a stranger’s presence hidden: offline, never seen, and no updates', async () => {
    const [alice, stranger] = [uniqueId('alice'), uniqueId('stranger')];
    const strangerPhone = await connect(stranger, 'phone');
    const alicePhone = await connect(alice, 'phone');

    const snapshot = await alicePhone.request({ action: 'subscribePresence', userIds: [stranger] });
    await strangerPhone.close();
    await connect(stranger, 'tablet');
    // A user who wrote to alice changes too; its update proves the notifier ran after the
    // stranger's changes, without waiting on a clock.
    const friend = uniqueId('friend');
    const friendLaptop = await connect(friend, 'laptop');
    await writeTo(friendLaptop, alice);
    await alicePhone.request({ action: 'subscribePresence', userIds: [friend] });
    await friendLaptop.close();
    await alicePhone.next((f) => f.type === 'presence' && f.requestId === undefined, 15_000);

    expect(snapshot.users).toEqual([{ userId: stranger, online: false, lastSeen: null }]);
    const updates = alicePhone.received.filter((f) => f.type === 'presence' && f.requestId === undefined);
    expect(updates.flatMap((f) => f.users as Array<{ userId: string }>).map((u) => u.userId)).not.toContain(
      stranger,
    );
  });

  it('refuses an empty or oversized list of user ids with bad_request', async () => {
    const phone = await connect(uniqueId('alice'), 'phone');
    const empty = await phone.request({ action: 'subscribePresence', userIds: [] });
    const tooMany = await phone.request({
      action: 'subscribePresence',
      userIds: Array.from({ length: 101 }, (_, i) => `u${i}`),
    });
    const badId = await phone.request({ action: 'subscribePresence', userIds: ['has space'] });
    expect(empty).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^userIds:/) });
    expect(tooMany).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^userIds:/) });
    expect(badId).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^userIds\.0:/) });
  });
});
