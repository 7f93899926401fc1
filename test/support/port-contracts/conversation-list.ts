/** The contract of the conversation list store. */

import { expect, it } from 'vitest';
import type { ConversationEntryState } from '../../../lambdas/domain/ports.js';
import { updateEntries, updateEntry } from '../conversation-list-updates.js';
import { message, NOW, type PortFactories, uniqueId } from './common.js';

const entryState = (conversationId: string, lastSeq: number): ConversationEntryState => ({
  conversationId,
  members: ['alice', 'bob'],
  lastSeq,
  lastMessage: { ...message(conversationId, lastSeq, `k${lastSeq}`) },
  receipts: [
    { userId: 'alice', deliveredSeq: lastSeq, readSeq: lastSeq },
    { userId: 'bob', deliveredSeq: 0, readSeq: 0 },
  ],
});

/** A change that moves the entry up to `lastSeq`, and leaves an entry already there as it is. */
function setTo(conversationId: string, lastSeq: number) {
  return (current: ConversationEntryState | undefined) =>
    current && current.lastSeq >= lastSeq ? undefined : entryState(conversationId, lastSeq);
}

export function describeConversationListStore(factories: PortFactories): void {
  it('creates an entry at the clock, then hands the change the entry as stored, without its updatedAt', async () => {
    const list = factories.conversationList(() => NOW);
    const userId = uniqueId('u');
    const conversationId = uniqueId('dm:a:b');
    const seen: Array<ConversationEntryState | undefined> = [];
    const change = (current: ConversationEntryState | undefined) => {
      seen.push(current);
      return entryState(conversationId, (current?.lastSeq ?? 0) + 1);
    };

    const outcomes = [
      await updateEntry(list, userId, conversationId, change),
      await updateEntry(list, userId, conversationId, change),
    ];

    expect(outcomes).toEqual(['updated', 'updated']);
    expect(seen).toEqual([undefined, entryState(conversationId, 1)]);
    // The clock stood still: the second write still got a later updatedAt.
    expect((await list.listChangedSince(userId, 0, 10)).entries).toEqual([
      { ...entryState(conversationId, 2), updatedAt: NOW + 1 },
    ]);
  });

  it('writes nothing and leaves the clock where it was when the change returns nothing', async () => {
    const list = factories.conversationList(() => NOW);
    const userId = uniqueId('u');
    const [first, second] = [uniqueId('dm:a:b'), uniqueId('dm:a:c')];
    await updateEntry(list, userId, first, setTo(first, 3));

    const unchanged = await updateEntry(list, userId, first, setTo(first, 2));
    const absent = await updateEntry(list, userId, second, () => undefined);
    await updateEntry(list, userId, second, setTo(second, 1));

    expect([unchanged, absent]).toEqual(['unchanged', 'unchanged']);
    expect((await list.listChangedSince(userId, 0, 10)).entries.map((e) => [e.lastSeq, e.updatedAt])).toEqual(
      [
        [3, NOW],
        [1, NOW + 1],
      ],
    );
  });

  it('gives the entries of one write distinct updatedAt values in the order of the changes', async () => {
    const list = factories.conversationList(() => NOW);
    const userId = uniqueId('u');
    const ids = [uniqueId('dm:a:b'), uniqueId('dm:a:c'), uniqueId('dm:a:d')];
    await updateEntry(list, userId, ids[1] as string, setTo(ids[1] as string, 5));

    const outcomes = await updateEntries(
      list,
      userId,
      new Map([
        [ids[2] as string, setTo(ids[2] as string, 1)],
        [ids[1] as string, setTo(ids[1] as string, 4)],
        [ids[0] as string, setTo(ids[0] as string, 2)],
      ]),
    );

    expect(outcomes).toEqual(['updated', 'unchanged', 'updated']);
    const entries = (await list.listChangedSince(userId, NOW, 10)).entries;
    expect(entries.map((e) => [e.conversationId, e.updatedAt])).toEqual([
      [ids[2], NOW + 1],
      [ids[0], NOW + 2],
    ]);
  });

  it('follows the clock when it runs ahead of the last updatedAt, and the last updatedAt when the clock falls behind', async () => {
    let now = NOW;
    const list = factories.conversationList(() => now);
    const userId = uniqueId('u');
    const ids = [uniqueId('dm:a:b'), uniqueId('dm:a:c'), uniqueId('dm:a:d')];

    await updateEntry(list, userId, ids[0] as string, setTo(ids[0] as string, 1));
    now = NOW + 1_000;
    await updateEntry(list, userId, ids[1] as string, setTo(ids[1] as string, 1));
    now = NOW - 5_000;
    await updateEntry(list, userId, ids[2] as string, setTo(ids[2] as string, 1));

    expect((await list.listChangedSince(userId, 0, 10)).entries.map((e) => e.updatedAt)).toEqual([
      NOW,
      NOW + 1_000,
      NOW + 1_001,
    ]);
  });

  it('lists the changes after a cursor, oldest first, a page at a time, and nothing of another user', async () => {
    const list = factories.conversationList(() => NOW);
    const [userId, otherUser] = [uniqueId('u'), uniqueId('u')];
    const ids = Array.from({ length: 5 }, () => uniqueId('dm:a:b'));
    for (const id of ids) await updateEntry(list, userId, id, setTo(id, 1));
    const otherId = uniqueId('dm:a:b');
    await updateEntry(list, otherUser, otherId, setTo(otherId, 1));

    const first = await list.listChangedSince(userId, 0, 2);
    const cursor = first.entries.at(-1)?.updatedAt ?? 0;
    const second = await list.listChangedSince(userId, cursor, 2);
    const last = await list.listChangedSince(userId, NOW + 3, 2);
    const none = await list.listChangedSince(userId, NOW + 4, 2);

    expect(first.entries.map((e) => e.conversationId)).toEqual(ids.slice(0, 2));
    expect(first.hasMore).toBe(true);
    expect(second.entries.map((e) => e.conversationId)).toEqual(ids.slice(2, 4));
    expect(second.hasMore).toBe(true);
    expect(last).toEqual({
      entries: [{ ...entryState(ids[4] as string, 1), updatedAt: NOW + 4 }],
      hasMore: false,
    });
    expect(none).toEqual({ entries: [], hasMore: false });
  });

  it('updates several users, each on its own clock, the same whether it knows their lists or not', async () => {
    const list = factories.conversationList(() => NOW);
    const [alice, bob] = [uniqueId('u'), uniqueId('u')];
    const conversationId = uniqueId('dm:a:b');
    const bobsOther = uniqueId('dm:a:c');
    await updateEntry(list, bob, bobsOther, setTo(bobsOther, 1));
    const both = (lastSeq: number) =>
      new Map([
        [alice, new Map([[conversationId, setTo(conversationId, lastSeq)]])],
        [bob, new Map([[conversationId, setTo(conversationId, lastSeq)]])],
      ]);

    const unknown = await list.updateManyUsers(both(1));
    // The store has now read or written both lists: the same again, from what it knows.
    const known = await list.updateManyUsers(both(2));
    const nothing = await list.updateManyUsers(both(2));

    for (const settled of [unknown, known]) {
      expect(Object.fromEntries(settled)).toEqual({
        [alice]: { status: 'fulfilled', value: ['updated'] },
        [bob]: { status: 'fulfilled', value: ['updated'] },
      });
    }
    expect(Object.fromEntries(nothing)).toEqual({
      [alice]: { status: 'fulfilled', value: ['unchanged'] },
      [bob]: { status: 'fulfilled', value: ['unchanged'] },
    });
    expect((await list.listChangedSince(alice, 0, 10)).entries.map((e) => [e.lastSeq, e.updatedAt])).toEqual([
      [2, NOW + 1],
    ]);
    expect((await list.listChangedSince(bob, NOW, 10)).entries.map((e) => [e.lastSeq, e.updatedAt])).toEqual([
      [2, NOW + 2],
    ]);
  });

  it('writes more entries of one user at once than one transaction holds, on one rising clock', async () => {
    const list = factories.conversationList(() => NOW);
    const userId = uniqueId('u');
    const ids = Array.from(
      { length: 60 },
      (_, index) => `dm:a:${String(index).padStart(2, '0')}${uniqueId('')}`,
    );

    const outcomes = await updateEntries(list, userId, new Map(ids.map((id) => [id, setTo(id, 1)])));

    expect(outcomes).toEqual(ids.map(() => 'updated'));
    const page = await list.listChangedSince(userId, 0, 100);
    expect(page.entries.map((e) => [e.conversationId, e.updatedAt])).toEqual(
      ids.map((id, index) => [id, NOW + index]),
    );
  });
}
