/**
 * The conversation-list entries of a group (`lambdas/domain/group-entries.ts`), as the
 * fanout writes them for the recipients of each event, on the in-memory ports.
 */
import { describe, expect, it } from 'vitest';
import { applyToGroupEntry } from '../../lambdas/domain/group-entries.js';
import {
  connect,
  createGroupFanout,
  device,
  GROUP,
  groupMessage,
  storeGroup,
} from './support/group-fixtures.js';

const created = groupMessage(1, {
  kind: 'group-created',
  title: 'Lunch',
  members: ['alice', 'bob', 'carol'],
});
const entryOf = (ports: ReturnType<typeof createGroupFanout>['ports'], userId: string) => {
  const { updatedAt: _updatedAt, ...entry } = ports.conversationList.entry(userId, GROUP) ?? {};
  return entry;
};

describe('a member’s entry of a group', () => {
  it('has the kind, title, member count, membership, last message, its own receipt only and everyone', async () => {
    const { ports, fanout } = createGroupFanout();
    await storeGroup(ports, { members: { alice: 1, bob: 1, carol: 1 } }, [created]);
    await connect(ports, [device('alice')]);

    await fanout([
      created,
      groupMessage(2),
      { type: 'receipt', conversationId: GROUP, userId: 'bob', kind: 'read', seq: 2 },
      { type: 'groupReceipt', conversationId: GROUP, kind: 'delivered', seq: 2 },
    ]);

    const { type: _type, ...lastMessage } = groupMessage(2);
    expect(entryOf(ports, 'bob')).toEqual({
      conversationId: GROUP,
      kind: 'group',
      title: 'Lunch',
      memberCount: 3,
      member: true,
      lastSeq: 2,
      lastMessage,
      receipts: [{ userId: 'bob', deliveredSeq: 2, readSeq: 2 }],
      everyone: { deliveredSeq: 2, readSeq: 0 },
    });
    expect(entryOf(ports, 'alice')).toMatchObject({
      receipts: [{ userId: 'alice', deliveredSeq: 0, readSeq: 0 }],
      everyone: { deliveredSeq: 2, readSeq: 0 },
    });
  });

  it('says a removed member is no longer one, stops moving after its removal, and moves again once it is re-added', async () => {
    const { ports, fanout } = createGroupFanout();
    const removed = groupMessage(2, { kind: 'member-removed', userId: 'carol', body: undefined });
    await storeGroup(ports, { members: { alice: 1, bob: 1 }, former: { carol: [1, 2] } }, [created, removed]);
    await fanout([created, removed, groupMessage(3)]);
    const afterRemoval = ports.conversationList.entry('carol', GROUP);

    await fanout([groupMessage(4, { kind: 'title-changed', title: 'Dinner', body: undefined })]);

    expect(afterRemoval).toMatchObject({ member: false, lastSeq: 2, memberCount: 2 });
    expect(ports.conversationList.entry('carol', GROUP)).toEqual(afterRemoval);
    expect(ports.conversationList.entry('bob', GROUP)).toMatchObject({ lastSeq: 4, title: 'Lunch' });

    const readded = groupMessage(5, { kind: 'members-added', members: ['carol'], body: undefined });
    await storeGroup(ports, { members: { alice: 1, bob: 1, carol: 5 }, title: 'Dinner' }, [readded]);
    await fanout([readded]);

    expect(ports.conversationList.entry('carol', GROUP)).toMatchObject({
      member: true,
      lastSeq: 5,
      title: 'Dinner',
      memberCount: 3,
    });
  });

  it('is not created by a member added later for the messages before its join', async () => {
    const { ports, fanout } = createGroupFanout();
    await storeGroup(ports, { members: { alice: 1, bob: 1, dave: 3 } });

    await fanout([groupMessage(2)]);

    expect(ports.conversationList.entry('dave', GROUP)).toBeUndefined();
    expect(ports.conversationList.entry('bob', GROUP)?.lastSeq).toBe(2);
  });
});

describe('applying events to a group entry', () => {
  const facts = { title: 'Lunch', memberCount: 2, member: true, everyone: { deliveredSeq: 0, readSeq: 0 } };

  it('changes nothing when applied again, nor for another member’s receipt', () => {
    const entry = applyToGroupEntry(GROUP, 'bob', undefined, [created], facts);
    const again = applyToGroupEntry(
      GROUP,
      'bob',
      entry,
      [created, { type: 'receipt', conversationId: GROUP, userId: 'alice', kind: 'read', seq: 1 }],
      facts,
    );

    expect(entry).toMatchObject({ lastSeq: 1, receipts: [{ userId: 'bob', deliveredSeq: 0, readSeq: 0 }] });
    expect(again).toBeUndefined();
  });

  it('never creates an entry from receipts alone, and lifts everyone’s delivered with their read', () => {
    const groupReceipt = { type: 'groupReceipt', conversationId: GROUP, kind: 'read', seq: 1 } as const;
    const entry = applyToGroupEntry(GROUP, 'bob', undefined, [created], facts);

    expect(applyToGroupEntry(GROUP, 'bob', undefined, [groupReceipt], facts)).toBeUndefined();
    expect(applyToGroupEntry(GROUP, 'bob', entry, [groupReceipt], facts)?.everyone).toEqual({
      deliveredSeq: 1,
      readSeq: 1,
    });
  });
});
