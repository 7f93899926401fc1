/**
 * The membership actions over a real WebSocket against the local stack: the answers and
 * what `groupInfo` then says. Delivering the events to devices and `sync` in groups are
 * tested with delivery.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { uniqueId, useTestStack } from '../support/stack.js';
import type { TestClient } from '../support/ws-client.js';

const newGroupId = () => `grp:${randomUUID()}`;

/** `count` distinct user ids of 64 characters. */
const longIds = (count: number, prefix: string) =>
  Array.from({ length: count }, (_, index) => `${prefix}-${String(index).padStart(5, '0')}`.padEnd(64, 'x'));

describe('groups over a real WebSocket', () => {
  const { connect } = useTestStack();

  /** Three users, alice's group of the three (alice its admin), and a phone for each. */
  async function lunchGroup() {
    const [alice, bob, carol] = [uniqueId('alice'), uniqueId('bob'), uniqueId('carol')];
    const phones = {
      alice: await connect(alice, 'phone'),
      bob: await connect(bob, 'phone'),
      carol: await connect(carol, 'phone'),
    };
    const conversationId = newGroupId();
    const created = await phones.alice.request({
      action: 'createGroup',
      requestId: 'c1',
      conversationId,
      title: 'Lunch',
      members: [bob, carol],
    });
    return { alice, bob, carol, phones, conversationId, created };
  }

  const info = (phone: TestClient, conversationId: string, after?: string) =>
    phone.request({ action: 'groupInfo', conversationId, ...(after ? { after } : {}) });

  const membersOf = async (phone: TestClient, conversationId: string) =>
    ((await info(phone, conversationId)).members as Array<{ userId: string; admin: boolean }>).map(
      ({ userId, admin }) => `${userId}${admin ? ' (admin)' : ''}`,
    );

  it('creates a group once: its creator repeating it gets the first answer, anyone else is forbidden', async () => {
    const { alice, bob, carol, phones, conversationId, created } = await lunchGroup();
    const laptop = await connect(alice, 'laptop');

    const again = await laptop.request({
      action: 'createGroup',
      requestId: 'c2',
      conversationId,
      title: 'Lunch',
      members: [bob, carol],
    });
    const taken = await phones.bob.request({
      action: 'createGroup',
      requestId: 'c3',
      conversationId,
      title: 'Mine',
      members: [carol],
    });

    expect(created).toEqual({
      type: 'groupChanged',
      requestId: 'c1',
      conversationId,
      seq: 1,
      duplicate: false,
    });
    expect(again).toEqual({ type: 'groupChanged', requestId: 'c2', conversationId, seq: 1, duplicate: true });
    expect(taken).toMatchObject({ type: 'error', requestId: 'c3', code: 'forbidden' });
    expect(await info(phones.carol, conversationId)).toMatchObject({
      type: 'group',
      title: 'Lunch',
      createdBy: alice,
      lastSeq: 1,
      memberCount: 3,
      hasMore: false,
    });
    expect(await membersOf(phones.carol, conversationId)).toEqual(
      [`${alice} (admin)`, bob, carol].sort((a, b) => (a < b ? -1 : 1)),
    );
  });

  it('adds members for an admin, answers seq null when all are in, and refuses a member who is not admin', async () => {
    const { bob, phones, conversationId } = await lunchGroup();
    const dave = uniqueId('dave');

    const added = await phones.alice.request({ action: 'addMembers', conversationId, members: [dave, bob] });
    const again = await phones.alice.request({ action: 'addMembers', conversationId, members: [dave] });
    const refused = await phones.bob.request({ action: 'addMembers', conversationId, members: ['erin'] });

    expect(added).toMatchObject({ type: 'groupChanged', seq: 2, duplicate: false });
    expect(again).toMatchObject({ type: 'groupChanged', seq: null });
    expect(refused).toMatchObject({ type: 'error', code: 'forbidden' });
    const group = await info(phones.bob, conversationId);
    expect(group.memberCount).toBe(4);
    expect(group.members).toContainEqual({
      userId: dave,
      admin: false,
      joinedSeq: 2,
      deliveredSeq: 1,
      readSeq: 1,
    });
  });

  it('removes a member for an admin, lets a member leave, and refuses a former member everything else', async () => {
    const { bob, carol, phones, conversationId } = await lunchGroup();

    const notAdmin = await phones.bob.request({ action: 'removeMember', conversationId, userId: carol });
    const left = await phones.bob.request({ action: 'removeMember', conversationId, userId: bob });
    const removed = await phones.alice.request({ action: 'removeMember', conversationId, userId: carol });
    const notMember = await phones.alice.request({ action: 'removeMember', conversationId, userId: carol });

    expect(notAdmin).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(left).toMatchObject({ type: 'groupChanged', seq: 2 });
    expect(removed).toMatchObject({ type: 'groupChanged', seq: 3 });
    expect(notMember).toMatchObject({ type: 'groupChanged', seq: null });
    for (const frame of [
      { action: 'groupInfo', conversationId },
      { action: 'setTitle', conversationId, title: 'Mine' },
      { action: 'addMembers', conversationId, members: [bob] },
      { action: 'removeMember', conversationId, userId: carol },
    ]) {
      expect(await phones.bob.request(frame)).toMatchObject({ type: 'error', code: 'forbidden' });
    }
    expect((await info(phones.alice, conversationId)).memberCount).toBe(1);
  });

  it('renames the group and changes admins, refusing the last admin stepping down', async () => {
    const { alice, bob, phones, conversationId } = await lunchGroup();

    const renamed = await phones.alice.request({ action: 'setTitle', conversationId, title: 'Dinner' });
    const sameTitle = await phones.alice.request({ action: 'setTitle', conversationId, title: 'Dinner' });
    const lastAdmin = await phones.alice.request({
      action: 'setAdmin',
      conversationId,
      userId: alice,
      admin: false,
    });
    const promoted = await phones.alice.request({
      action: 'setAdmin',
      conversationId,
      userId: bob,
      admin: true,
    });
    const sameRole = await phones.alice.request({
      action: 'setAdmin',
      conversationId,
      userId: bob,
      admin: true,
    });
    const stepDown = await phones.alice.request({
      action: 'setAdmin',
      conversationId,
      userId: alice,
      admin: false,
    });

    expect([renamed.seq, sameTitle.seq, promoted.seq, sameRole.seq, stepDown.seq]).toEqual([
      2,
      null,
      3,
      null,
      4,
    ]);
    expect(lastAdmin).toMatchObject({
      type: 'error',
      code: 'bad_request',
      message: expect.stringMatching(/^admin:/),
    });
    const group = await info(phones.bob, conversationId);
    expect(group).toMatchObject({ title: 'Dinner', lastSeq: 4 });
    expect(await membersOf(phones.bob, conversationId)).toContain(`${bob} (admin)`);
    expect(await membersOf(phones.bob, conversationId)).toContain(alice);
  });

  it('makes the longest-standing member admin when the last admin leaves', async () => {
    const { alice, bob, carol, phones, conversationId } = await lunchGroup();
    const late = uniqueId('aaa');
    await phones.alice.request({ action: 'addMembers', conversationId, members: [late] });

    const left = await phones.alice.request({ action: 'removeMember', conversationId, userId: alice });

    // bob and carol joined together at the creation: the first by user id; `late` joined after.
    const successor = [bob, carol].sort()[0];
    expect(left).toMatchObject({ type: 'groupChanged', seq: 4 });
    expect(await membersOf(phones.carol, conversationId)).toEqual(
      [bob, carol, late].sort().map((userId) => (userId === successor ? `${userId} (admin)` : userId)),
    );
  });

  it('holds 1,024 members with 64-character ids, pages them in groupInfo, and refuses one more', async () => {
    const alice = uniqueId('alice');
    const phone = await connect(alice, 'phone');
    const conversationId = newGroupId();
    const members = longIds(1023, uniqueId('m'));
    // A frame holds about 450 such ids: create with some, add the rest in parts.
    const parts = [members.slice(0, 400), members.slice(400, 800), members.slice(800)];
    const created = await phone.request({
      action: 'createGroup',
      conversationId,
      title: 'All',
      members: parts[0],
    });
    const added = [
      await phone.request({ action: 'addMembers', conversationId, members: parts[1] }),
      await phone.request({ action: 'addMembers', conversationId, members: parts[2] }),
    ];
    const oneMore = await phone.request({ action: 'addMembers', conversationId, members: [uniqueId('z')] });

    expect([created, ...added].map((answer) => answer.type)).toEqual([
      'groupChanged',
      'groupChanged',
      'groupChanged',
    ]);
    expect(oneMore).toMatchObject({
      type: 'error',
      code: 'bad_request',
      message: expect.stringMatching(/^members:/),
    });
    const first = await info(phone, conversationId);
    expect(first).toMatchObject({ memberCount: 1024, hasMore: true });
    const userIds = (first.members as Array<{ userId: string }>).map((member) => member.userId);
    let page = first;
    while (page.hasMore) {
      page = await info(phone, conversationId, userIds.at(-1));
      userIds.push(...(page.members as Array<{ userId: string }>).map((member) => member.userId));
    }
    expect(userIds).toEqual([alice, ...members].sort());
    expect(phone.isOpen).toBe(true);
  });

  it.each([
    ['createGroup', { conversationId: 'dm:a:b', title: 'x', members: ['bob'] }, 'conversationId'],
    ['createGroup', { conversationId: newGroupId(), title: '', members: ['bob'] }, 'title'],
    ['createGroup', { conversationId: newGroupId(), title: 'x', members: [] }, 'members'],
    ['createGroup', { conversationId: newGroupId(), title: 'x', members: ['bob', 'bob'] }, 'members'],
    ['addMembers', { conversationId: newGroupId(), members: ['a/b'] }, 'members'],
    ['removeMember', { conversationId: newGroupId() }, 'userId'],
    ['setTitle', { conversationId: newGroupId(), title: 'x'.repeat(101) }, 'title'],
    ['setAdmin', { conversationId: newGroupId(), userId: 'bob', admin: 'yes' }, 'admin'],
    ['groupInfo', { conversationId: newGroupId(), after: '' }, 'after'],
  ])(
    'answers a %s frame with a bad field as bad_request naming the field, and the connection stays up',
    async (action, fields, field) => {
      const phone = await connect(uniqueId('alice'), 'phone');

      const answer = await phone.request({ action, requestId: 'b1', ...fields });

      expect(answer).toMatchObject({ type: 'error', requestId: 'b1', code: 'bad_request' });
      expect(answer.message).toMatch(new RegExp(`^${field}[.:]`));
      expect(phone.isOpen).toBe(true);
      expect(await phone.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    },
  );

  it('answers the caller among the members of its own group as bad_request', async () => {
    const alice = uniqueId('alice');
    const phone = await connect(alice, 'phone');

    const answer = await phone.request({
      action: 'createGroup',
      conversationId: newGroupId(),
      title: 'Me',
      members: [alice, uniqueId('bob')],
    });

    expect(answer).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^members:/) });
  });
});
