/**
 * Delivery of a group's events (`lambdas/domain/group-fanout.ts`) on the in-memory ports:
 * who receives each event, the index of connected devices the fanout keeps, the race with
 * `$connect`, receipts, gone connections and retries.
 */
import { describe, expect, it } from 'vitest';
import { indexInGroups } from '../../lambdas/domain/group-index.js';
import type { ConversationListStore } from '../../lambdas/domain/ports.js';
import {
  connect,
  createGroupFanout,
  device,
  GROUP,
  groupMessage,
  indexedIds,
  seqsTo,
  storeGroup,
} from './support/group-fixtures.js';

describe('the recipients of a group event', () => {
  it('are the members at its seq: a member added later gets nothing before its join, a removed one its removal and nothing after', async () => {
    const { ports, fanout } = createGroupFanout();
    const events = [
      groupMessage(2, { kind: 'member-removed', userId: 'dave', body: undefined }),
      groupMessage(3, { kind: 'members-added', members: ['carol'], body: undefined }),
      groupMessage(4),
    ];
    await storeGroup(ports, { members: { alice: 1, bob: 1, carol: 3 }, former: { dave: [1, 2] } }, events);
    await connect(ports, [device('alice'), device('bob'), device('dave')]);
    await connect(ports, [device('carol')], { indexed: false });

    const retried = await fanout(events);

    expect(retried).toEqual([]);
    expect(seqsTo(ports, 'conn-alice-phone')).toEqual([2, 3, 4]);
    expect(seqsTo(ports, 'conn-bob-phone')).toEqual([2, 3, 4]);
    expect(seqsTo(ports, 'conn-dave-phone')).toEqual([2]);
    expect(seqsTo(ports, 'conn-carol-phone')).toEqual([3, 4]);
  });

  it('include a user added back for the events of its earlier windows, when the batch reads the group after it came back', async () => {
    const { ports, fanout } = createGroupFanout();
    const events = [
      groupMessage(2),
      groupMessage(3, { kind: 'member-removed', userId: 'bob', body: undefined }),
      groupMessage(4),
      groupMessage(5, { kind: 'members-added', members: ['bob'], body: undefined }),
    ];
    await storeGroup(ports, { members: { alice: 1, bob: 5 }, earlier: { bob: [[1, 3]] } }, events);
    await connect(ports, [device('alice'), device('bob')]);

    expect(await fanout(events.slice(0, 2))).toEqual([]);
    expect(await fanout(events.slice(2))).toEqual([]);

    expect(seqsTo(ports, 'conn-bob-phone')).toEqual([2, 3, 5]);
    expect(seqsTo(ports, 'conn-alice-phone')).toEqual([2, 3, 4, 5]);
  });

  it('reads the group once and the index once for a batch of several events, not once per member', async () => {
    const { ports, fanout } = createGroupFanout();
    await storeGroup(ports, { members: { alice: 1, bob: 1, carol: 1 } });
    await connect(ports, [device('alice'), device('bob'), device('carol')]);
    const reads = { group: 0, index: 0, connections: 0 };
    const { groups, groupConnections, connections } = ports;
    const getGroup = groups.getGroup.bind(groups);
    const listGroupConnections = groupConnections.listGroupConnections.bind(groupConnections);
    const listConnections = connections.listConnections.bind(connections);
    groups.getGroup = (id) => {
      reads.group++;
      return getGroup(id);
    };
    groupConnections.listGroupConnections = (id) => {
      reads.index++;
      return listGroupConnections(id);
    };
    connections.listConnections = (id) => {
      reads.connections++;
      return listConnections(id);
    };

    await fanout([groupMessage(2), groupMessage(3), groupMessage(4)]);

    // The index: once to deliver, once more after the list write for the devices that came meanwhile.
    expect(reads).toEqual({ group: 1, index: 2, connections: 0 });
    expect(seqsTo(ports, 'conn-carol-phone')).toEqual([2, 3, 4]);
  });
});

describe('the index of a group’s connected devices', () => {
  it('gets the connections of the members an event adds before it is delivered, and their entries say they are members', async () => {
    const { ports, fanout } = createGroupFanout();
    const created = groupMessage(1, { kind: 'group-created', members: ['alice', 'bob'], title: 'Lunch' });
    await storeGroup(ports, { members: { alice: 1, bob: 1 } }, [created]);
    await connect(ports, [device('alice'), device('alice', 'laptop'), device('bob')], { indexed: false });

    expect(await fanout([created])).toEqual([]);

    expect(await indexedIds(ports)).toEqual(['conn-alice-laptop', 'conn-alice-phone', 'conn-bob-phone']);
    expect(seqsTo(ports, 'conn-alice-laptop')).toEqual([1]);
    expect(seqsTo(ports, 'conn-bob-phone')).toEqual([1]);
    expect(await ports.conversationList.listGroupIds('bob')).toEqual([GROUP]);
  });

  it('loses no device of a member added while it connects, whichever of the two reads comes first', async () => {
    for (const connectsDuring of ['the entry write', 'the connection read'] as const) {
      const { ports, fanout } = createGroupFanout();
      const added = groupMessage(2, { kind: 'members-added', members: ['carol'], body: undefined });
      await storeGroup(ports, { members: { alice: 1, carol: 2 } }, [added]);
      const tablet = device('carol', 'tablet');
      // $connect: the connection written, then the user's groups read and the connection indexed.
      const carolConnects = async () => {
        await ports.connections.putConnection(tablet);
        await indexInGroups(ports, tablet);
      };
      const list = ports.conversationList as ConversationListStore;
      const updateManyUsers = list.updateManyUsers.bind(list);
      const listConnections = ports.connections.listConnections.bind(ports.connections);
      let raced = false;
      if (connectsDuring === 'the entry write') {
        // $connect reads the list before the entry is written: the fanout's read finds the connection.
        list.updateManyUsers = async (changes) => {
          if (!raced && changes.has('carol')) {
            raced = true;
            await carolConnects();
            expect(await indexedIds(ports)).toEqual([]);
          }
          return updateManyUsers(changes);
        };
      } else {
        // The fanout reads the connections before $connect writes: $connect's list read finds the entry.
        ports.connections.listConnections = async (userId) => {
          const found = await listConnections(userId);
          if (!raced && userId === 'carol') {
            raced = true;
            await carolConnects();
          }
          return found;
        };
      }

      expect(await fanout([added])).toEqual([]);

      expect(raced).toBe(true);
      expect(await indexedIds(ports)).toEqual([tablet.connectionId]);
      expect(seqsTo(ports, tablet.connectionId)).toEqual([2]);
    }
  });

  it('drops a removed member’s connections once its removal is delivered to them', async () => {
    const { ports, fanout } = createGroupFanout();
    const removed = groupMessage(2, { kind: 'member-removed', userId: 'bob', body: undefined });
    await storeGroup(ports, { members: { alice: 1 }, former: { bob: [1, 2] } }, [removed]);
    await connect(ports, [device('alice'), device('bob'), device('bob', 'laptop')]);

    expect(await fanout([removed, groupMessage(3)])).toEqual([]);

    expect(seqsTo(ports, 'conn-bob-phone')).toEqual([2]);
    expect(seqsTo(ports, 'conn-bob-laptop')).toEqual([2]);
    expect(seqsTo(ports, 'conn-alice-phone')).toEqual([2, 3]);
    expect(await indexedIds(ports)).toEqual(['conn-alice-phone']);
    expect(await ports.conversationList.listGroupIds('bob')).toEqual([]);
  });

  it('keeps a removed member’s connections while its removal is still to be delivered by a later batch, then delivers it to them', async () => {
    const { ports, fanout } = createGroupFanout();
    const text = groupMessage(2);
    const removed = groupMessage(3, { kind: 'member-removed', userId: 'bob', body: undefined });
    // The batch of seq 2 reads the group once the removal at seq 3 is committed too.
    await storeGroup(ports, { members: { alice: 1 }, former: { bob: [1, 3] } }, [text, removed]);
    await connect(ports, [device('alice'), device('bob')]);

    expect(await fanout([text])).toEqual([]);
    expect(await indexedIds(ports)).toEqual(['conn-alice-phone', 'conn-bob-phone']);
    expect(await fanout([removed])).toEqual([]);

    expect(seqsTo(ports, 'conn-bob-phone')).toEqual([2, 3]);
    expect(await indexedIds(ports)).toEqual(['conn-alice-phone']);
  });

  it('removes a connection that answers 410 from the connections and from the index, and delivers to the rest', async () => {
    const { ports, fanout, metrics } = createGroupFanout();
    await storeGroup(ports, { members: { alice: 1, bob: 1 } });
    await connect(ports, [device('alice'), device('bob')]);
    ports.pusher.close('conn-bob-phone');

    expect(await fanout([groupMessage(2)])).toEqual([]);

    expect(await indexedIds(ports)).toEqual(['conn-alice-phone']);
    expect(await ports.connections.listConnections('bob')).toEqual([]);
    expect(seqsTo(ports, 'conn-alice-phone')).toEqual([2]);
    expect(metrics.values('GoneConnections')).toEqual([1]);
  });

  it('keeps a connection still in its handshake that answers 410', async () => {
    const { ports, fanout } = createGroupFanout();
    await storeGroup(ports, { members: { alice: 1, bob: 1 } });
    const opening = { ...device('bob'), connectedAt: Date.now() };
    await connect(ports, [device('alice'), opening]);
    ports.pusher.close(opening.connectionId);

    expect(await fanout([groupMessage(2)])).toEqual([]);

    expect(await indexedIds(ports)).toContain(opening.connectionId);
  });
});

describe('receipts in a group', () => {
  it('posts a member’s receipt to its own devices only, and a groupReceipt to every current member’s', async () => {
    const { ports, fanout } = createGroupFanout();
    await storeGroup(ports, { members: { alice: 1, bob: 1 }, former: { dave: [1, 2] } });
    await connect(ports, [device('alice'), device('bob'), device('bob', 'laptop'), device('dave')]);

    const retried = await fanout([
      { type: 'receipt', conversationId: GROUP, userId: 'bob', kind: 'read', seq: 3 },
      { type: 'groupReceipt', conversationId: GROUP, kind: 'delivered', seq: 3 },
    ]);

    expect(retried).toEqual([]);
    expect(seqsTo(ports, 'conn-bob-phone')).toEqual(['receipt:3', 'groupReceipt:3']);
    expect(seqsTo(ports, 'conn-bob-laptop')).toEqual(['receipt:3', 'groupReceipt:3']);
    expect(seqsTo(ports, 'conn-alice-phone')).toEqual(['groupReceipt:3']);
    expect(seqsTo(ports, 'conn-dave-phone')).toEqual([]);
  });
});

describe('retries of a group’s events', () => {
  it('gives back the event whose post failed and the later ones of the group, and nothing of another group', async () => {
    const { ports, fanout } = createGroupFanout();
    await storeGroup(ports, { members: { alice: 1, bob: 1 } });
    await connect(ports, [device('alice'), device('bob')]);
    const post = ports.pusher.post.bind(ports.pusher);
    ports.pusher.post = async (connectionId, frame) => {
      if (connectionId === 'conn-bob-phone' && frame.includes('"seq":3')) throw new Error('throttled');
      return post(connectionId, frame);
    };
    const events = [groupMessage(2), groupMessage(3), groupMessage(4)];

    const retried = await fanout(events);

    expect(retried).toHaveLength(2);
    expect(seqsTo(ports, 'conn-alice-phone')).toEqual([2, 3]);
  });

  it('gives back every event of a group it cannot read, and skips those of a group that does not exist', async () => {
    const { ports, fanout } = createGroupFanout();
    ports.groups.getGroup = async () => {
      throw new Error('throttled');
    };
    expect(await fanout([groupMessage(2), groupMessage(3)])).toHaveLength(2);

    const other = createGroupFanout();
    expect(await other.fanout([groupMessage(2)])).toEqual([]);
    expect(other.ports.pusher.posts).toEqual([]);
  });
});
