/** The contracts of the group connection index, and of the list store's group ids. */

import { expect, it } from 'vitest';
import type { ConversationEntryState } from '../../../lambdas/domain/ports.js';
import { updateEntry } from '../conversation-list-updates.js';
import { NOW, NOW_SECONDS, type PortFactories, uniqueId } from './common.js';
import { connection } from './presence.js';

export function describeGroupConnectionStore(factories: PortFactories): void {
  it('lists a group’s live connections in connection id order, leaving out those expired and those of other groups', async () => {
    const index = factories.groupConnections(() => NOW);
    const [group, other] = [uniqueId('grp:g'), uniqueId('grp:g')];

    await index.addConnections(group, [
      connection('carol', 'c-live', NOW_SECONDS + 600),
      connection('bob', 'b-expiring-now', NOW_SECONDS),
      connection('alice', 'a-live', NOW_SECONDS + 1),
      connection('bob', 'd-dead', NOW_SECONDS - 1),
    ]);
    await index.addConnections(other, [connection('alice', 'e-other', NOW_SECONDS + 600)]);

    expect(await index.listGroupConnections(group)).toEqual([
      connection('alice', 'a-live', NOW_SECONDS + 1),
      connection('carol', 'c-live', NOW_SECONDS + 600),
    ]);
    expect(await index.listGroupConnections(uniqueId('grp:g'))).toEqual([]);
  });

  it('lists only the first live connections when asked for at most a few, reading past expired ones', async () => {
    const index = factories.groupConnections(() => NOW);
    const group = uniqueId('grp:g');
    await index.addConnections(group, [
      connection('alice', 'a-dead', NOW_SECONDS - 1),
      connection('bob', 'b-dead', NOW_SECONDS - 1),
      connection('carol', 'c-live', NOW_SECONDS + 600),
      connection('dave', 'd-live', NOW_SECONDS + 600),
      connection('erin', 'e-live', NOW_SECONDS + 600),
    ]);

    expect((await index.listGroupConnections(group, 2)).map((c) => c.connectionId)).toEqual([
      'c-live',
      'd-live',
    ]);
    expect(await index.listGroupConnections(group, 10)).toHaveLength(3);
  });

  it('replaces a connection added again, forgets one removed, and takes a connection named twice in one call', async () => {
    const index = factories.groupConnections(() => NOW);
    const group = uniqueId('grp:g');
    await index.addConnections(group, [
      connection('alice', 'a', NOW_SECONDS + 10),
      connection('bob', 'b', NOW_SECONDS + 10),
    ]);

    await index.addConnections(group, [
      connection('alice', 'a', NOW_SECONDS + 20),
      connection('alice', 'a', NOW_SECONDS + 30),
    ]);
    await index.removeConnections(group, ['b', 'b', 'never-there']);
    await index.addConnections(group, []);
    await index.removeConnections(group, []);

    expect(await index.listGroupConnections(group)).toEqual([connection('alice', 'a', NOW_SECONDS + 30)]);
  });

  it('adds and removes more connections at once than one batch write holds', async () => {
    const index = factories.groupConnections(() => NOW);
    const group = uniqueId('grp:g');
    const many = Array.from({ length: 60 }, (_, n) =>
      connection(`u${n % 7}`, `c${String(n).padStart(2, '0')}`, NOW_SECONDS + 600),
    );

    await index.addConnections(group, many);
    const added = await index.listGroupConnections(group);
    await index.removeConnections(
      group,
      many.slice(0, 55).map((c) => c.connectionId),
    );

    expect(added).toEqual(many);
    expect(await index.listGroupConnections(group)).toEqual(many.slice(55));
  });
}

const groupEntry = (conversationId: string, member: boolean): ConversationEntryState => ({
  conversationId,
  kind: 'group',
  title: 'Lunch',
  memberCount: 3,
  member,
  lastSeq: 1,
  lastMessage: null,
  receipts: [{ userId: 'alice', deliveredSeq: 0, readSeq: 0 }],
  everyone: { deliveredSeq: 0, readSeq: 0 },
});

export function describeGroupIds(factories: PortFactories): void {
  it('lists the groups whose entry says the user is a member, and keeps every field of a group entry', async () => {
    const list = factories.conversationList(() => NOW);
    const userId = uniqueId('u');
    const [member, former, dm] = [uniqueId('grp:a'), uniqueId('grp:b'), uniqueId('dm:a:b')];
    await updateEntry(list, userId, member, () => groupEntry(member, true));
    await updateEntry(list, userId, former, () => groupEntry(former, false));
    await updateEntry(list, userId, dm, () => ({
      conversationId: dm,
      kind: 'dm',
      members: ['a', 'b'],
      lastSeq: 1,
      lastMessage: null,
      receipts: [],
    }));

    expect(await list.listGroupIds(userId)).toEqual([member]);
    expect(await list.listGroupIds(uniqueId('u'))).toEqual([]);
    expect((await list.listChangedSince(userId, 0, 10)).entries.slice(0, 2)).toEqual([
      { ...groupEntry(member, true), updatedAt: NOW },
      { ...groupEntry(former, false), updatedAt: NOW + 1 },
    ]);
  });
}
