/**
 * The membership actions on the in-memory ports: who may make each change, what it
 * records, and what it publishes. Races and failures are in `group-changes.test.ts`.
 */
import { MAX_FRAME_BYTES } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { BadRequestError, ForbiddenError } from '../../lambdas/domain/errors.js';
import { readGroupHistory } from '../../lambdas/domain/group-history.js';
import { addMembers, createGroup, removeMember, setAdmin, setTitle } from '../../lambdas/domain/groups.js';
import { ALICE, aliceGroup, BOB, CAROL, GROUP, groupTest, longIds } from './support/groups.js';
import { NOW } from './support/harness.js';

const DAVE = { userId: 'dave', deviceId: 'phone' };

describe('creating a group', () => {
  it('makes the caller admin and records one group-created event naming every member', async () => {
    const test = groupTest();

    const result = await aliceGroup(test);

    expect(result).toEqual({ seq: 1, duplicate: false, retries: 0 });
    expect(test.ports.messages.messages(GROUP)).toEqual([
      {
        conversationId: GROUP,
        seq: 1,
        messageId: '01EV0001',
        clientMessageId: '01EV0001',
        senderId: 'alice',
        senderDeviceId: 'phone',
        kind: 'group-created',
        title: 'Lunch',
        members: ['alice', 'bob', 'carol'],
        serverTs: expect.any(Number),
      },
    ]);
    const group = await test.ports.groups.getGroup(GROUP);
    expect(group).toMatchObject({ title: 'Lunch', createdBy: 'alice', creation: { fromSeq: 1, toSeq: 1 } });
    expect(group?.members.map(({ userId, admin, joinedSeq }) => [userId, admin, joinedSeq])).toEqual([
      ['alice', true, 1],
      ['bob', false, 1],
      ['carol', false, 1],
    ]);
    expect(test.published()).toEqual(['1 group-created']);
  });

  it('answers its creator repeating it with the first answer, and publishes the creation again', async () => {
    const test = groupTest();
    await aliceGroup(test);

    const again = await createGroup(
      test.deps,
      { ...ALICE, deviceId: 'laptop' },
      {
        conversationId: GROUP,
        title: 'Other',
        members: ['dave'],
      },
    );

    expect(again).toEqual({ seq: 1, duplicate: true, retries: 0 });
    expect(await test.ports.messages.lastSeq(GROUP)).toBe(1);
    expect(test.published()).toEqual(['1 group-created', '1 group-created']);
  });

  it('refuses an id another user created as forbidden, storing nothing', async () => {
    const test = groupTest();
    await aliceGroup(test);

    await expect(
      createGroup(test.deps, BOB, { conversationId: GROUP, title: 'Mine', members: ['dave'] }),
    ).rejects.toThrow(ForbiddenError);
    expect(await test.ports.messages.lastSeq(GROUP)).toBe(1);
  });

  it('refuses the caller among the members, and a member named twice, as bad_request', async () => {
    const test = groupTest();

    await expect(
      createGroup(test.deps, ALICE, { conversationId: GROUP, title: 'Lunch', members: ['bob', 'alice'] }),
    ).rejects.toThrow(new BadRequestError('members: must not name the caller, who joins as admin'));
    await expect(
      createGroup(test.deps, ALICE, { conversationId: GROUP, title: 'Lunch', members: ['bob', 'bob'] }),
    ).rejects.toThrow(BadRequestError);
    expect(await test.ports.groups.getGroup(GROUP)).toBeUndefined();
  });

  it('refuses more than 1,024 members, its creator included, as bad_request', async () => {
    const test = groupTest();

    await expect(
      createGroup(test.deps, ALICE, { conversationId: GROUP, title: 'Lunch', members: longIds(1024) }),
    ).rejects.toThrow(BadRequestError);
    expect(await test.ports.messages.lastSeq(GROUP)).toBe(0);
  });

  it('splits a member list too long for one frame into group-created and members-added events, each fitting a frame', async () => {
    const test = groupTest();
    const members = longIds(1023);

    const result = await aliceGroup(test, members);

    const events = test.ports.messages.messages(GROUP);
    expect(events.length).toBeGreaterThan(1);
    expect(events.map((event) => event.kind)).toEqual([
      'group-created',
      ...Array(events.length - 1).fill('members-added'),
    ]);
    expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index + 1));
    for (const event of events) {
      expect(Buffer.byteLength(JSON.stringify({ type: 'message', ...event }))).toBeLessThanOrEqual(
        MAX_FRAME_BYTES,
      );
    }
    expect(events.flatMap((event) => event.members)).toEqual(['alice', ...members]);
    expect(result).toEqual({ seq: events.length, duplicate: false, retries: 0 });
    const group = await test.ports.groups.getGroup(GROUP);
    const lastMember = group?.members.find((member) => member.userId === members.at(-1));
    expect(lastMember?.joinedSeq).toBe(events.length);
    expect(
      await createGroup(test.deps, ALICE, { conversationId: GROUP, title: 'Lunch', members }),
    ).toMatchObject({
      seq: events.length,
      duplicate: true,
    });
  });
});

describe('adding members', () => {
  it('adds those who are not members yet, at the seq of its event', async () => {
    const test = groupTest();
    await aliceGroup(test);

    const result = await addMembers(test.deps, ALICE, { conversationId: GROUP, members: ['bob', 'dave'] });

    expect(result).toEqual({ seq: 2, duplicate: false, retries: 0 });
    expect(await test.ports.messages.getMessage(GROUP, 2)).toMatchObject({
      kind: 'members-added',
      members: ['dave'],
      senderId: 'alice',
    });
    expect(await test.ports.groups.getMembership(GROUP, 'dave')).toMatchObject({
      status: 'member',
      member: { admin: false, joinedSeq: 2 },
    });
    expect(test.published()).toEqual(['1 group-created', '2 members-added']);
  });

  it('answers seq null when all are members already, and publishes the last change again', async () => {
    const test = groupTest();
    await aliceGroup(test);

    const result = await addMembers(test.deps, ALICE, { conversationId: GROUP, members: ['bob', 'carol'] });

    expect(result).toEqual({ seq: null, duplicate: false, retries: 0 });
    expect(await test.ports.messages.lastSeq(GROUP)).toBe(1);
    expect(test.published()).toEqual(['1 group-created', '1 group-created']);
  });

  it('refuses a member who is not an admin, a stranger, a former member and an unknown group as forbidden', async () => {
    const test = groupTest();
    await aliceGroup(test);
    await removeMember(test.deps, CAROL, { conversationId: GROUP, userId: 'carol' });
    const add = (actor: typeof ALICE, conversationId = GROUP) =>
      addMembers(test.deps, actor, { conversationId, members: ['erin'] });

    await expect(add(BOB)).rejects.toThrow(ForbiddenError);
    await expect(add(DAVE)).rejects.toThrow(ForbiddenError);
    await expect(add(CAROL)).rejects.toThrow(ForbiddenError);
    await expect(add(ALICE, 'grp:nowhere')).rejects.toThrow(ForbiddenError);
    expect(await test.ports.messages.lastSeq(GROUP)).toBe(2);
  });

  it('refuses an addition beyond 1,024 members as bad_request, adding nobody', async () => {
    const test = groupTest();
    await aliceGroup(test, longIds(1000));

    const adding = addMembers(test.deps, ALICE, { conversationId: GROUP, members: longIds(24, 'v') });

    await expect(adding).rejects.toThrow(
      new BadRequestError('members: a group holds at most 1024 members; it has 1001, and 24 would join'),
    );
    expect((await test.ports.groups.getGroup(GROUP))?.members).toHaveLength(1001);
    expect(
      await addMembers(test.deps, ALICE, { conversationId: GROUP, members: longIds(23, 'v') }),
    ).toMatchObject({
      seq: expect.any(Number),
    });
  });

  it('takes a former member back as a member from the seq of its new event', async () => {
    const test = groupTest();
    await aliceGroup(test);
    await removeMember(test.deps, BOB, { conversationId: GROUP, userId: 'bob' });

    await addMembers(test.deps, ALICE, { conversationId: GROUP, members: ['bob'] });

    const group = await test.ports.groups.getGroup(GROUP);
    expect(group?.former).toEqual([]);
    expect(await test.ports.groups.getMembership(GROUP, 'bob')).toMatchObject({ member: { joinedSeq: 3 } });
  });

  it('lets a member added back sync the end of its earlier window, and nothing of the seqs between', async () => {
    const test = groupTest();
    await aliceGroup(test);
    const deps = { ...test.deps, receipts: test.ports.receipts };
    await setTitle(test.deps, ALICE, { conversationId: GROUP, title: 'Lunch at 1' }); // 2
    await removeMember(test.deps, ALICE, { conversationId: GROUP, userId: 'bob' }); // 3
    await setTitle(test.deps, ALICE, { conversationId: GROUP, title: 'Lunch at 2' }); // 4: not bob's
    await addMembers(test.deps, ALICE, { conversationId: GROUP, members: ['bob'] }); // 5
    await removeMember(test.deps, ALICE, { conversationId: GROUP, userId: 'carol' }); // 6

    const read = async (afterSeq: number, limit = 100) =>
      (await readGroupHistory(deps, { conversationId: GROUP, userId: 'bob', afterSeq, limit })).messages.map(
        (message) => message.seq,
      );

    expect(await read(1)).toEqual([2, 3, 5, 6]);
    expect(await read(3)).toEqual([5, 6]);
    expect(await read(1, 2)).toEqual([2, 3]);
    expect(await test.ports.groups.getMembership(GROUP, 'bob')).toMatchObject({
      member: { joinedSeq: 5, earlierWindows: [{ joinedSeq: 1, removedSeq: 3 }] },
    });
  });

  it('keeps the earlier windows of a member removed again', async () => {
    const test = groupTest();
    await aliceGroup(test);
    await removeMember(test.deps, ALICE, { conversationId: GROUP, userId: 'bob' }); // 2
    await addMembers(test.deps, ALICE, { conversationId: GROUP, members: ['bob'] }); // 3
    await removeMember(test.deps, ALICE, { conversationId: GROUP, userId: 'bob' }); // 4

    expect(await test.ports.groups.getMembership(GROUP, 'bob')).toEqual({
      status: 'former',
      former: {
        userId: 'bob',
        joinedSeq: 3,
        removedSeq: 4,
        earlierWindows: [{ joinedSeq: 1, removedSeq: 2 }],
      },
    });
  });
});

describe('removing a member', () => {
  it('lets an admin remove another member, who becomes a former member up to its removal', async () => {
    const test = groupTest();
    await aliceGroup(test);

    const result = await removeMember(test.deps, ALICE, { conversationId: GROUP, userId: 'bob' });

    expect(result.seq).toBe(2);
    expect(await test.ports.messages.getMessage(GROUP, 2)).toMatchObject({
      kind: 'member-removed',
      userId: 'bob',
    });
    expect(await test.ports.groups.getMembership(GROUP, 'bob')).toEqual({
      status: 'former',
      former: { userId: 'bob', joinedSeq: 1, removedSeq: 2 },
    });
  });

  it('lets any member leave, and refuses a member who is not an admin removing another as forbidden', async () => {
    const test = groupTest();
    await aliceGroup(test);

    await expect(removeMember(test.deps, BOB, { conversationId: GROUP, userId: 'carol' })).rejects.toThrow(
      ForbiddenError,
    );
    expect(await removeMember(test.deps, BOB, { conversationId: GROUP, userId: 'bob' })).toMatchObject({
      seq: 2,
    });
  });

  it('answers a former member leaving again with seq null, and refuses it anything else as forbidden', async () => {
    const test = groupTest();
    await aliceGroup(test);
    await setAdmin(test.deps, ALICE, { conversationId: GROUP, userId: 'bob', admin: true });
    await removeMember(test.deps, BOB, { conversationId: GROUP, userId: 'bob' });

    expect(await removeMember(test.deps, BOB, { conversationId: GROUP, userId: 'bob' })).toMatchObject({
      seq: null,
    });
    await expect(removeMember(test.deps, BOB, { conversationId: GROUP, userId: 'carol' })).rejects.toThrow(
      ForbiddenError,
    );
    await expect(setTitle(test.deps, BOB, { conversationId: GROUP, title: 'Mine' })).rejects.toThrow(
      ForbiddenError,
    );
    expect(await test.ports.messages.lastSeq(GROUP)).toBe(3);
  });

  it('answers seq null for a user who is not a member', async () => {
    const test = groupTest();
    await aliceGroup(test);

    expect(await removeMember(test.deps, ALICE, { conversationId: GROUP, userId: 'dave' })).toMatchObject({
      seq: null,
    });
  });

  it('makes the longest-standing member admin when the last admin leaves, with its own event right after', async () => {
    const test = groupTest();
    await aliceGroup(test, ['carol', 'bob']);
    await addMembers(test.deps, ALICE, { conversationId: GROUP, members: ['aaron'] });

    const result = await removeMember(test.deps, ALICE, { conversationId: GROUP, userId: 'alice' });

    // bob and carol joined first, at the same time: bob by user id; aaron joined later.
    expect(result).toMatchObject({ seq: 4 });
    expect(await test.ports.messages.getMessage(GROUP, 4)).toMatchObject({
      kind: 'admin-changed',
      userId: 'bob',
      admin: true,
      senderId: 'alice',
    });
    expect(await test.ports.groups.getMembership(GROUP, 'bob')).toMatchObject({ member: { admin: true } });
    expect(test.published().slice(-2)).toEqual(['3 member-removed', '4 admin-changed']);
  });

  it('counts a member who joined at an earlier seq as longer-standing when both joined within one millisecond', async () => {
    const test = groupTest();
    const deps = { ...test.deps, now: () => NOW };
    await createGroup(deps, ALICE, { conversationId: GROUP, title: 'Lunch', members: ['zed'] });
    await addMembers(deps, ALICE, { conversationId: GROUP, members: ['amy'] });

    await removeMember(deps, ALICE, { conversationId: GROUP, userId: 'alice' });

    expect(await test.ports.messages.getMessage(GROUP, 4)).toMatchObject({
      kind: 'admin-changed',
      userId: 'zed',
    });
  });

  it('raises everyone when the removed member held it back, and tells the members with a groupReceipt', async () => {
    const test = groupTest();
    await aliceGroup(test);
    for (const seq of [2, 3]) {
      await test.ports.messages.storeMessage({
        conversationId: GROUP,
        seq,
        messageId: `m${seq}`,
        clientMessageId: `c${seq}`,
        senderId: 'alice',
        senderDeviceId: 'phone',
        kind: 'text',
        body: 'hi',
        serverTs: NOW,
      });
    }
    for (const [userId, seq] of [
      ['alice', 3],
      ['carol', 3],
      ['bob', 1],
    ] as const) {
      await test.ports.receipts.raiseWatermark(GROUP, userId, 'delivered', 3);
      await test.ports.receipts.raiseWatermark(GROUP, userId, 'read', seq);
    }

    await removeMember(test.deps, ALICE, { conversationId: GROUP, userId: 'bob' });
    // Nobody holds it back any more than before: nothing moves, nothing is told.
    await removeMember(test.deps, ALICE, { conversationId: GROUP, userId: 'carol' });

    expect((await test.ports.groups.getGroup(GROUP))?.everyone).toEqual({ deliveredSeq: 3, readSeq: 3 });
    expect(test.ports.publisher.events.filter((event) => event.type === 'groupReceipt')).toEqual([
      { type: 'groupReceipt', conversationId: GROUP, kind: 'delivered', seq: 3 },
      { type: 'groupReceipt', conversationId: GROUP, kind: 'read', seq: 3 },
    ]);
  });

  it('knows the holders of everyone after a creation and after an addition, the added member counting from the seq before it joined', async () => {
    const test = groupTest();
    await aliceGroup(test, ['bob']);
    const created = await test.ports.groups.getEveryoneState(GROUP);
    for (const userId of ['alice', 'bob']) await test.ports.receipts.raiseWatermark(GROUP, userId, 'read', 1);
    for (const userId of ['alice', 'bob'])
      await test.ports.receipts.raiseWatermark(GROUP, userId, 'delivered', 1);

    // dave joins at 2: he counts as at 1, with alice and bob.
    await addMembers(test.deps, ALICE, { conversationId: GROUP, members: ['dave'] });

    expect(created).toMatchObject({
      everyone: { deliveredSeq: 0, readSeq: 0 },
      holders: { delivered: 2, read: 2 },
    });
    expect(await test.ports.groups.getEveryoneState(GROUP)).toMatchObject({
      everyone: { deliveredSeq: 1, readSeq: 1 },
      holders: { delivered: 3, read: 3 },
    });
  });

  it('leaves an empty group that nobody can change when the last member leaves', async () => {
    const test = groupTest();
    await aliceGroup(test, ['bob']);
    await removeMember(test.deps, BOB, { conversationId: GROUP, userId: 'bob' });

    expect(await removeMember(test.deps, ALICE, { conversationId: GROUP, userId: 'alice' })).toMatchObject({
      seq: 3,
    });
    expect((await test.ports.groups.getGroup(GROUP))?.members).toEqual([]);
    await expect(setTitle(test.deps, ALICE, { conversationId: GROUP, title: 'Back' })).rejects.toThrow(
      ForbiddenError,
    );
  });
});

describe('changing the title and the admins', () => {
  it('renames the group for an admin, answers seq null for the same title, and refuses a member who is not admin', async () => {
    const test = groupTest();
    await aliceGroup(test);

    expect(await setTitle(test.deps, ALICE, { conversationId: GROUP, title: 'Dinner' })).toMatchObject({
      seq: 2,
    });
    expect(await setTitle(test.deps, ALICE, { conversationId: GROUP, title: 'Dinner' })).toMatchObject({
      seq: null,
    });
    await expect(setTitle(test.deps, BOB, { conversationId: GROUP, title: 'Mine' })).rejects.toThrow(
      ForbiddenError,
    );
    expect(await test.ports.messages.getMessage(GROUP, 2)).toMatchObject({
      kind: 'title-changed',
      title: 'Dinner',
    });
    expect((await test.ports.groups.getGroup(GROUP))?.title).toBe('Dinner');
  });

  it('makes a member admin and takes the role back, answering seq null for a role already held', async () => {
    const test = groupTest();
    await aliceGroup(test);

    expect(
      await setAdmin(test.deps, ALICE, { conversationId: GROUP, userId: 'bob', admin: true }),
    ).toMatchObject({
      seq: 2,
    });
    expect(
      await setAdmin(test.deps, ALICE, { conversationId: GROUP, userId: 'bob', admin: true }),
    ).toMatchObject({
      seq: null,
    });
    expect(
      await setAdmin(test.deps, BOB, { conversationId: GROUP, userId: 'alice', admin: false }),
    ).toMatchObject({
      seq: 3,
    });
    expect(await test.ports.messages.getMessage(GROUP, 3)).toMatchObject({
      kind: 'admin-changed',
      userId: 'alice',
      admin: false,
      senderId: 'bob',
      senderDeviceId: 'laptop',
    });
  });

  it('refuses the last admin stepping down and a target who is not a member as bad_request, and a member who is not admin as forbidden', async () => {
    const test = groupTest();
    await aliceGroup(test);

    await expect(
      setAdmin(test.deps, ALICE, { conversationId: GROUP, userId: 'alice', admin: false }),
    ).rejects.toThrow(BadRequestError);
    await expect(
      setAdmin(test.deps, ALICE, { conversationId: GROUP, userId: 'dave', admin: true }),
    ).rejects.toThrow(BadRequestError);
    await expect(
      setAdmin(test.deps, BOB, { conversationId: GROUP, userId: 'bob', admin: true }),
    ).rejects.toThrow(ForbiddenError);
    expect(await test.ports.messages.lastSeq(GROUP)).toBe(1);
    expect((await test.ports.groups.getGroup(GROUP))?.createdAt).toBeGreaterThanOrEqual(NOW);
  });
});
