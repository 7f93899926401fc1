/** The contract of the group store: a change and its events commit together or not at all. */

import type { Message } from '@parley/protocol';
import { expect, it } from 'vitest';
import type { GroupChange, GroupRecord } from '../../../lambdas/domain/ports.js';
import { NOW, type PortFactories, uniqueId } from './common.js';

const event = (conversationId: string, seq: number, fields: Partial<Message>): Message => ({
  conversationId,
  seq,
  messageId: `event-${seq}`,
  clientMessageId: `event-${seq}`,
  senderId: 'alice',
  senderDeviceId: 'phone',
  serverTs: NOW + seq,
  ...fields,
});

/** A group of alice (admin) and bob, made at seq 1, and its creation. */
function creation(conversationId: string, extra: string[] = []): GroupChange {
  const members = ['alice', 'bob', ...extra];
  const after: GroupRecord = {
    conversationId,
    title: 'Lunch',
    createdBy: 'alice',
    createdAt: NOW,
    members: members.map((userId) => ({ userId, admin: userId === 'alice', joinedSeq: 1, joinedAt: NOW })),
    former: [],
    everyone: { deliveredSeq: 0, readSeq: 0 },
    creation: { fromSeq: 1, toSeq: 1 },
    lastChange: { fromSeq: 1, toSeq: 1 },
  };
  const created = event(conversationId, 1, { kind: 'group-created', title: 'Lunch', members });
  return { before: undefined, after, events: [created] };
}

/** Bob leaves the group at seq 2, and the title changes with it. */
function bobLeaves(before: GroupRecord): GroupChange {
  const { conversationId } = before;
  const after: GroupRecord = {
    ...structuredClone(before),
    title: 'Dinner',
    members: before.members.filter((member) => member.userId !== 'bob'),
    former: [{ userId: 'bob', joinedSeq: 1, removedSeq: 2 }],
    lastChange: { fromSeq: 2, toSeq: 3 },
  };
  const events = [
    event(conversationId, 2, { senderId: 'bob', kind: 'member-removed', userId: 'bob' }),
    event(conversationId, 3, { kind: 'title-changed', title: 'Dinner' }),
  ];
  return { before, after, events };
}

const byUser = (a: { userId: string }, b: { userId: string }) => (a.userId < b.userId ? -1 : 1);
const sorted = (group: GroupRecord | undefined) =>
  group && { ...group, members: [...group.members].sort(byUser), former: [...group.former].sort(byUser) };

export function describeGroupStore(factories: PortFactories): void {
  it('knows no group, and no member of it, before its creation', async () => {
    const { groups } = factories.groups();
    const conversationId = uniqueId('grp:');

    expect(await groups.getGroup(conversationId)).toBeUndefined();
    expect(await groups.getMembership(conversationId, 'alice')).toEqual({ status: 'none' });
  });

  it('stores a creation with its event, readable as a message of the conversation', async () => {
    const { groups, messages } = factories.groups();
    const conversationId = uniqueId('grp:');
    const change = creation(conversationId);

    expect(await groups.commitChange(change)).toEqual({ status: 'stored' });

    expect(sorted(await groups.getGroup(conversationId))).toEqual(change.after);
    expect(await groups.getMembership(conversationId, 'bob')).toEqual({
      status: 'member',
      member: { userId: 'bob', admin: false, joinedSeq: 1, joinedAt: NOW },
    });
    expect(await groups.getMembership(conversationId, 'carol')).toEqual({ status: 'none' });
    expect(await messages.lastSeq(conversationId)).toBe(1);
    expect(await messages.getMessage(conversationId, 1)).toEqual(change.events[0]);
  });

  it('refuses a second creation of the same group as exists, storing nothing of it', async () => {
    const { groups, messages } = factories.groups();
    const conversationId = uniqueId('grp:');
    await groups.commitChange(creation(conversationId));
    const again = creation(conversationId, ['carol']);

    expect(await groups.commitChange(again)).toEqual({ status: 'exists' });

    expect(await groups.getMembership(conversationId, 'carol')).toEqual({ status: 'none' });
    expect((await messages.getMessage(conversationId, 1))?.members).toEqual(['alice', 'bob']);
  });

  it('stores a later change: members become former members, the events follow in seq order', async () => {
    const { groups, messages } = factories.groups();
    const conversationId = uniqueId('grp:');
    const created = creation(conversationId);
    await groups.commitChange(created);
    const change = bobLeaves(created.after);

    expect(await groups.commitChange(change)).toEqual({ status: 'stored' });

    expect(sorted(await groups.getGroup(conversationId))).toEqual(change.after);
    expect(await groups.getMembership(conversationId, 'bob')).toEqual({
      status: 'former',
      former: { userId: 'bob', joinedSeq: 1, removedSeq: 2 },
    });
    expect((await messages.listMessages(conversationId, 1, 10)).messages).toEqual(change.events);
  });

  it('refuses a change whose seq is taken as seq_taken, storing none of its events and none of its roster', async () => {
    const { groups, messages } = factories.groups();
    const conversationId = uniqueId('grp:');
    const created = creation(conversationId);
    await groups.commitChange(created);
    const change = bobLeaves(created.after);
    // Only the second event's seq is taken: the first must not be stored either.
    await groups.commitChange({
      before: created.after,
      after: created.after,
      events: [change.events[1] as Message],
    });

    expect(await groups.commitChange(change)).toEqual({ status: 'seq_taken' });

    expect(await messages.getMessage(conversationId, 2)).toBeUndefined();
    expect((await groups.getMembership(conversationId, 'bob')).status).toBe('member');
    expect((await groups.getGroup(conversationId))?.title).toBe('Lunch');
  });

  it('writes everyone and its holders on the condition of the version, and a change makes the holders unknown', async () => {
    const { groups } = factories.groups();
    const conversationId = uniqueId('grp:');
    const created = creation(conversationId);
    await groups.commitChange(created);
    const fresh = await groups.getEveryoneState(conversationId);
    const state = { everyone: { deliveredSeq: 1, readSeq: 1 }, holders: { delivered: 2, read: 1 } };

    const written = await groups.setEveryone(conversationId, state, fresh?.version ?? -1);
    const stale = await groups.setEveryone(conversationId, state, fresh?.version ?? -1);
    const after = await groups.getEveryoneState(conversationId);
    await groups.commitChange(bobLeaves(created.after));
    const changed = await groups.getEveryoneState(conversationId);

    expect(fresh).toMatchObject({ everyone: { deliveredSeq: 0, readSeq: 0 } });
    expect(fresh?.holders).toBeUndefined();
    expect([written, stale]).toEqual([true, false]);
    expect(after).toEqual({ ...state, version: (fresh?.version ?? 0) + 1 });
    expect(changed?.everyone).toEqual({ deliveredSeq: 1, readSeq: 1 });
    expect((await groups.getGroup(conversationId))?.everyone).toEqual({ deliveredSeq: 1, readSeq: 1 });
    expect(changed?.holders).toBeUndefined();
    expect(changed?.version).toBeGreaterThan(after?.version ?? 0);
    expect(await groups.setEveryone(uniqueId('grp:'), state, 0)).toBe(false);
  });

  it('takes one from the holders only while the version and everyone are as read', async () => {
    const { groups } = factories.groups();
    const conversationId = uniqueId('grp:');
    await groups.commitChange(creation(conversationId));
    const fresh = await groups.getEveryoneState(conversationId);
    const unknown = await groups.decrementHolder(conversationId, 'read', 0, fresh?.version ?? -1);
    const everyone = { deliveredSeq: 0, readSeq: 0 };
    await groups.setEveryone(
      conversationId,
      { everyone, holders: { delivered: 2, read: 1 } },
      fresh?.version ?? -1,
    );
    const version = (fresh?.version ?? 0) + 1;

    const outcomes = [
      await groups.decrementHolder(conversationId, 'delivered', 0, version - 1),
      await groups.decrementHolder(conversationId, 'delivered', 1, version),
      await groups.decrementHolder(conversationId, 'delivered', 0, version),
      await groups.decrementHolder(conversationId, 'read', 0, version + 1),
      await groups.decrementHolder(conversationId, 'read', 0, version + 2),
    ];

    expect(unknown).toEqual({ status: 'changed' });
    expect(outcomes).toEqual([
      { status: 'changed' },
      { status: 'changed' },
      { status: 'ok', holders: 1, version: version + 1 },
      { status: 'ok', holders: 0, version: version + 2 },
      { status: 'changed' },
    ]);
    expect(await groups.getEveryoneState(conversationId)).toEqual({
      everyone,
      holders: { delivered: 1, read: 0 },
      version: version + 2,
    });
    expect(await groups.decrementHolder(uniqueId('grp:'), 'read', 0, 0)).toEqual({ status: 'changed' });
  });

  it('reads the everyone watermarks alone, and none for a group that does not exist', async () => {
    const { groups } = factories.groups();
    const conversationId = uniqueId('grp:');
    await groups.commitChange(creation(conversationId, ['bob']));
    const fresh = await groups.getEveryone(conversationId);
    const state = await groups.getEveryoneState(conversationId);
    await groups.setEveryone(
      conversationId,
      { everyone: { deliveredSeq: 1, readSeq: 0 } },
      state?.version ?? -1,
    );

    expect(fresh).toEqual({ deliveredSeq: 0, readSeq: 0 });
    expect(await groups.getEveryone(conversationId)).toEqual({ deliveredSeq: 1, readSeq: 0 });
    expect(await groups.getEveryone(uniqueId('grp:'))).toBeUndefined();
    expect(await groups.getEveryoneState(uniqueId('grp:'))).toBeUndefined();
  });

  it('holds 1,024 members with 64-character ids, and a former member who comes back is a member again', async () => {
    const { groups } = factories.groups();
    const conversationId = uniqueId('grp:');
    const many = Array.from(
      { length: 1022 },
      (_, index) => `${String(index).padStart(4, '0')}${'x'.repeat(60)}`,
    );
    const created = creation(conversationId, many);
    await groups.commitChange(created);
    const left = bobLeaves(created.after);
    await groups.commitChange(left);
    const back: GroupChange = {
      before: left.after,
      after: {
        ...structuredClone(left.after),
        members: [...left.after.members, { userId: 'bob', admin: false, joinedSeq: 4, joinedAt: NOW + 4 }],
        former: [],
        lastChange: { fromSeq: 4, toSeq: 4 },
      },
      events: [event(conversationId, 4, { kind: 'members-added', members: ['bob'] })],
    };

    expect(await groups.commitChange(back)).toEqual({ status: 'stored' });

    const group = await groups.getGroup(conversationId);
    expect(group?.members).toHaveLength(1024);
    expect(group?.former).toEqual([]);
    expect(sorted(group)).toEqual(sorted(back.after));
    expect(await groups.getMembership(conversationId, 'bob')).toEqual({
      status: 'member',
      member: { userId: 'bob', admin: false, joinedSeq: 4, joinedAt: NOW + 4 },
    });
  });
}
