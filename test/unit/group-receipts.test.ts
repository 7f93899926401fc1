/**
 * Receipts in a group, through the ack handler on the in-memory ports: a member's own
 * watermarks, and `everyone` recomputed only when the last member holding the lowest moves
 * (docs/adr/0007-groups.md).
 */
import type { AckedFrame } from '@parley/protocol';
import { describe, expect, it, vi } from 'vitest';
import { refreshEveryone } from '../../lambdas/domain/group-receipts.js';
import { createAckHandler } from '../../lambdas/handlers/ack.js';
import { InMemoryGroupStore } from '../support/in-memory/group-store.js';
import { addMember, createGroup, fillTo, frameFrom, GROUP, removeMember } from './support/group-members.js';
import { answerOf, createInMemoryTestDeps, errorOf, invoke } from './support/harness.js';

const ackFrame = (kind: 'delivered' | 'read', seq: number) => ({
  action: 'ack',
  requestId: 'r2',
  conversationId: GROUP,
  kind,
  seq,
});

/** `members` in the group (created at seq 1), holding messages up to `lastSeq`. */
async function groupOf(members: string[], lastSeq: number) {
  const test = createInMemoryTestDeps();
  await createGroup(test.ports, members);
  await fillTo(test.ports, lastSeq);
  const ack = async (userId: string, kind: 'delivered' | 'read', seq: number) =>
    invoke(createAckHandler(test.provider), frameFrom(userId, ackFrame(kind, seq)));
  return { ...test, ack };
}

const receipt = (userId: string, kind: 'delivered' | 'read', seq: number) => ({
  type: 'receipt',
  conversationId: GROUP,
  userId,
  kind,
  seq,
});
const groupReceipt = (kind: 'delivered' | 'read', seq: number) => ({
  type: 'groupReceipt',
  conversationId: GROUP,
  kind,
  seq,
});

describe('an ack in a group', () => {
  it('moves the member’s own watermark and publishes its receipt, and nothing for everyone while another member is behind', async () => {
    const test = await groupOf(['alice', 'bob', 'carol'], 5);

    const result = await test.ack('bob', 'delivered', 4);

    expect(answerOf<AckedFrame>(result)).toEqual({
      type: 'acked',
      requestId: 'r2',
      conversationId: GROUP,
      kind: 'delivered',
      seq: 4,
    });
    expect(test.ports.publisher.events).toEqual([receipt('bob', 'delivered', 4)]);
    expect(await test.ports.groups.getEveryone(GROUP)).toEqual({ deliveredSeq: 0, readSeq: 0 });
  });

  it('moves everyone and publishes one groupReceipt when the last member holding the lowest acks', async () => {
    const test = await groupOf(['alice', 'bob', 'carol'], 5);
    await test.ack('alice', 'delivered', 5);
    await test.ack('bob', 'delivered', 4);

    await test.ack('carol', 'delivered', 5);

    expect(await test.ports.groups.getEveryone(GROUP)).toEqual({ deliveredSeq: 4, readSeq: 0 });
    expect(test.ports.publisher.events.slice(-2)).toEqual([
      receipt('carol', 'delivered', 5),
      groupReceipt('delivered', 4),
    ]);
    expect(test.ports.publisher.events.filter((event) => event.type === 'groupReceipt')).toHaveLength(1);
  });

  it('lifts delivered with read, for the member and for everyone', async () => {
    const test = await groupOf(['alice', 'bob'], 5);
    await test.ack('alice', 'read', 5);

    await test.ack('bob', 'read', 3);

    expect(await test.ports.groups.getEveryone(GROUP)).toEqual({ deliveredSeq: 3, readSeq: 3 });
    expect(test.ports.publisher.events.slice(-3)).toEqual([
      receipt('bob', 'read', 3),
      groupReceipt('read', 3),
      groupReceipt('delivered', 3),
    ]);
  });

  it('reads neither the roster nor the watermarks when the member did not hold the lowest', async () => {
    const test = await groupOf(['alice', 'bob', 'carol'], 5);
    await test.ack('alice', 'delivered', 2);
    const getGroup = vi.spyOn(test.ports.groups, 'getGroup');
    const listReceipts = vi.spyOn(test.ports.receipts, 'listReceipts');

    // bob and carol still stand at 0, the lowest, with alice at 2: her next ack moves nothing.
    await test.ack('alice', 'delivered', 4);

    expect(getGroup).not.toHaveBeenCalled();
    expect(listReceipts).not.toHaveBeenCalled();
  });

  it('counts the messages before a member joined as received and read by it', async () => {
    const test = await groupOf(['alice', 'bob'], 3);
    const joinedSeq = await addMember(test.ports, 'dave');
    await fillTo(test.ports, 6);
    await test.ack('alice', 'read', 6);

    // bob was the last behind; dave never acked but joined at 4: he counts as at 3.
    await test.ack('bob', 'read', 6);

    expect(joinedSeq).toBe(4);
    expect(await test.ports.groups.getEveryone(GROUP)).toEqual({ deliveredSeq: 3, readSeq: 3 });
  });

  it('moves nothing when a member acks below what it counts as having read since it joined', async () => {
    const test = await groupOf(['alice'], 2);
    await addMember(test.ports, 'dave');
    await fillTo(test.ports, 5);
    await test.ack('alice', 'read', 5);
    const getEveryone = vi.spyOn(test.ports.groups, 'getEveryoneState');

    await test.ack('dave', 'read', 2);

    expect(getEveryone).not.toHaveBeenCalled();
    expect(test.ports.publisher.events.filter((event) => event.type === 'groupReceipt')).toEqual([
      groupReceipt('read', 2),
      groupReceipt('delivered', 2),
    ]);
  });

  it('publishes no groupReceipt when another ack already raised everyone as far', async () => {
    const test = await groupOf(['alice', 'bob'], 5);
    await test.ack('alice', 'delivered', 5);
    vi.spyOn(test.ports.groups, 'setEveryone').mockResolvedValue(false);

    await test.ack('bob', 'delivered', 5);

    expect(test.ports.publisher.events.at(-1)).toEqual(receipt('bob', 'delivered', 5));
  });

  it('keeps receipts linear in the group: each ack publishes one receipt and at most one groupReceipt', async () => {
    const members = Array.from({ length: 40 }, (_, index) => `user${String(index).padStart(2, '0')}`);
    const test = await groupOf(members, 3);

    for (const member of members) {
      const before = test.ports.publisher.records.length;
      await test.ack(member, 'delivered', 3);
      expect(test.ports.publisher.records.length - before).toBeLessThanOrEqual(2);
    }

    expect(test.ports.publisher.events.filter((event) => event.type === 'receipt')).toHaveLength(40);
    expect(test.ports.publisher.events.filter((event) => event.type === 'groupReceipt')).toEqual([
      groupReceipt('delivered', 3),
    ]);
  });
});

describe('the holders of everyone', () => {
  /** A group of `size` members that all acked both kinds up to `lastSeq`: the usual, caught-up case. */
  async function caughtUp(size: number, lastSeq: number) {
    const members = Array.from({ length: size }, (_, index) => `user${String(index).padStart(3, '0')}`);
    const test = await groupOf(members, lastSeq);
    for (const member of members) await test.ack(member, 'read', lastSeq);
    return { ...test, members };
  }

  it('recomputes once per kind, not once per member, when a caught-up group acks the next message', async () => {
    const test = await caughtUp(64, 3);
    await fillTo(test.ports, 4);
    const getGroup = vi.spyOn(test.ports.groups, 'getGroup');
    const listReceipts = vi.spyOn(test.ports.receipts, 'listReceipts');
    const before = test.ports.publisher.records.length;

    for (const member of test.members) await test.ack(member, 'delivered', 4);
    for (const member of test.members) await test.ack(member, 'read', 4);

    expect(listReceipts).toHaveBeenCalledTimes(2);
    expect(getGroup).toHaveBeenCalledTimes(2);
    expect(await test.ports.groups.getEveryoneState(GROUP)).toMatchObject({
      everyone: { deliveredSeq: 4, readSeq: 4 },
      holders: { delivered: 64, read: 64 },
    });
    expect(
      test.ports.publisher.events.slice(before).filter((event) => event.type === 'groupReceipt'),
    ).toEqual([groupReceipt('delivered', 4), groupReceipt('read', 4)]);
  });

  it('recomputes when the holders are unknown, and then knows them', async () => {
    const test = await groupOf(['alice', 'bob', 'carol'], 5);
    const listReceipts = vi.spyOn(test.ports.receipts, 'listReceipts');

    await test.ack('alice', 'delivered', 5);
    await test.ack('bob', 'delivered', 5);

    // alice found them unknown and recomputed: 2 of 3 at 0; bob only took himself off.
    expect(listReceipts).toHaveBeenCalledTimes(1);
    expect(await test.ports.groups.getEveryoneState(GROUP)).toMatchObject({
      everyone: { deliveredSeq: 0, readSeq: 0 },
      holders: { delivered: 1, read: 3 },
    });
  });

  it('ends right when a holder takes itself off between a recompute reading the version and writing', async () => {
    const test = await groupOf(['alice', 'bob'], 5);
    await test.ack('alice', 'delivered', 3);
    // Known holders: bob alone at 0 for delivered.
    expect((await test.ports.groups.getEveryoneState(GROUP))?.holders).toEqual({ delivered: 1, read: 2 });
    const groups = test.ports.groups;
    let raced = false;
    // A recompute (bob's, after his ack) reads the version; alice's rise from 3 lands right then.
    vi.spyOn(groups, 'getGroup').mockImplementation(async (conversationId) => {
      if (!raced) {
        raced = true;
        await test.ack('alice', 'read', 5);
      }
      return InMemoryGroupStore.prototype.getGroup.call(groups, conversationId);
    });

    await test.ack('bob', 'delivered', 5);

    expect(raced).toBe(true);
    expect(await groups.getEveryoneState(GROUP)).toMatchObject({
      everyone: { deliveredSeq: 5, readSeq: 0 },
      holders: { delivered: 2, read: 1 },
    });
    expect(test.ports.publisher.events.filter((event) => event.type === 'groupReceipt')).toEqual([
      groupReceipt('delivered', 5),
    ]);
  });

  it('recomputes when a decrement keeps finding the version changed, and ends right', async () => {
    const test = await groupOf(['alice', 'bob'], 5);
    await test.ack('alice', 'delivered', 5);
    const decrementHolder = vi
      .spyOn(test.ports.groups, 'decrementHolder')
      .mockResolvedValue({ status: 'changed' });

    await test.ack('bob', 'delivered', 5);

    expect(decrementHolder).toHaveBeenCalledTimes(5);
    expect(await test.ports.groups.getEveryone(GROUP)).toEqual({ deliveredSeq: 5, readSeq: 0 });
  });
});

describe('an ack in a group refused', () => {
  it.each([
    ['a user who was never a member', 'dave'],
    ['a former member', 'carol'],
  ])('refuses %s as forbidden and raises nothing', async (_who, userId) => {
    const test = await groupOf(['alice', 'bob', 'carol'], 3);
    await removeMember(test.ports, 'carol');

    const result = await test.ack(userId, 'read', 2);

    expect(errorOf(result)).toMatchObject({ code: 'forbidden', requestId: 'r2' });
    expect(await test.ports.receipts.listReceipts(GROUP)).toEqual([]);
    expect(test.ports.publisher.records).toEqual([]);
  });

  it('refuses a group that does not exist as forbidden', async () => {
    const test = createInMemoryTestDeps();

    const result = await invoke(createAckHandler(test.provider), frameFrom('alice', ackFrame('read', 1)));

    expect(errorOf(result).code).toBe('forbidden');
  });

  it('refuses a seq past the last as bad_request', async () => {
    const test = await groupOf(['alice', 'bob'], 3);

    const result = await test.ack('bob', 'read', 4);

    expect(errorOf(result)).toMatchObject({
      code: 'bad_request',
      message: "seq: must be at most the conversation's last seq, 3",
    });
  });
});

describe('refreshEveryone, after a membership change', () => {
  it('raises everyone when the member who held it back was removed, with one groupReceipt per kind that moved', async () => {
    const test = await groupOf(['alice', 'bob', 'carol'], 5);
    await test.ack('alice', 'read', 5);
    await test.ack('bob', 'delivered', 5);
    await removeMember(test.ports, 'carol');
    const before = test.ports.publisher.records.length;

    await refreshEveryone(test.deps, GROUP);

    expect(await test.ports.groups.getEveryone(GROUP)).toEqual({ deliveredSeq: 5, readSeq: 0 });
    expect(test.ports.publisher.events.slice(before)).toEqual([groupReceipt('delivered', 5)]);
  });

  it('does nothing for a group whose last member left, or that does not exist', async () => {
    const test = await groupOf(['alice'], 2);
    await removeMember(test.ports, 'alice');

    await refreshEveryone(test.deps, GROUP);
    await refreshEveryone(test.deps, 'grp:none');

    expect(test.ports.publisher.records).toEqual([]);
  });
});
