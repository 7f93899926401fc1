/**
 * How a membership change survives races and failures, on the in-memory ports: a lost race
 * is decided again, the retries are bounded, and a client's retry repairs a lost publish.
 */
import type { Message } from '@parley/protocol';
import { describe, expect, it, vi } from 'vitest';
import { backoffDelay } from '../../lambdas/domain/backoff.js';
import { SequencingContentionError } from '../../lambdas/domain/errors.js';
import { DEFAULT_GROUP_CHANGES } from '../../lambdas/domain/group-changes.js';
import { addMembers, createGroup, removeMember, setTitle } from '../../lambdas/domain/groups.js';
import { ALICE, aliceGroup, BOB, GROUP, groupTest } from './support/groups.js';

describe('a membership change that loses a race', () => {
  it('decides again on the group as it now is when another message took its seq', async () => {
    const test = groupTest();
    await aliceGroup(test);
    const commit = test.ports.groups.commitChange.bind(test.ports.groups);
    vi.spyOn(test.ports.groups, 'commitChange').mockImplementationOnce(async (change) => {
      // Bob sends a message between the read and the commit: seq 2 is taken.
      await test.ports.messages.storeMessage({ ...(change.events[0] as Message), kind: 'text', body: 'hi' });
      return commit(change);
    });

    const result = await setTitle(test.deps, ALICE, { conversationId: GROUP, title: 'Dinner' });

    expect(result).toEqual({ seq: 3, duplicate: false, retries: 1 });
    expect(await test.ports.messages.getMessage(GROUP, 3)).toMatchObject({ kind: 'title-changed' });
    expect(test.sleep).toHaveBeenCalledWith(backoffDelay(0, DEFAULT_GROUP_CHANGES, () => 0.5));
  });

  it('sees a removal that committed first: the removed admin is then refused', async () => {
    const test = groupTest();
    await aliceGroup(test);
    await setTitle(test.deps, ALICE, { conversationId: GROUP, title: 'Lunch 2' });
    const commit = test.ports.groups.commitChange.bind(test.ports.groups);
    vi.spyOn(test.ports.groups, 'commitChange').mockImplementationOnce(async (change) => {
      await removeMember(test.deps, ALICE, { conversationId: GROUP, userId: 'alice' });
      return commit(change);
    });

    await expect(addMembers(test.deps, ALICE, { conversationId: GROUP, members: ['dave'] })).rejects.toThrow(
      'not a member',
    );
    expect(await test.ports.groups.getMembership(GROUP, 'dave')).toEqual({ status: 'none' });
  });

  it('tries again after a conflicting transaction', async () => {
    const test = groupTest();
    await aliceGroup(test);
    const commit = test.ports.groups.commitChange.bind(test.ports.groups);
    vi.spyOn(test.ports.groups, 'commitChange')
      .mockResolvedValueOnce({ status: 'conflict' })
      .mockImplementation(commit);

    expect(await setTitle(test.deps, ALICE, { conversationId: GROUP, title: 'Dinner' })).toEqual({
      seq: 2,
      duplicate: false,
      retries: 1,
    });
  });

  it('gives up with an internal error after the bound, having published nothing', async () => {
    const test = groupTest();
    await aliceGroup(test);
    vi.spyOn(test.ports.groups, 'commitChange').mockResolvedValue({ status: 'conflict' });

    await expect(setTitle(test.deps, ALICE, { conversationId: GROUP, title: 'Dinner' })).rejects.toThrow(
      SequencingContentionError,
    );
    expect(test.ports.groups.commitChange).toHaveBeenCalledTimes(DEFAULT_GROUP_CHANGES.maxAttempts);
    expect(test.sleep).toHaveBeenCalledTimes(DEFAULT_GROUP_CHANGES.maxAttempts - 1);
    expect(test.published()).toEqual(['1 group-created']);
  });

  it('answers a creation that lost to the same creator’s own as a duplicate, and another’s as forbidden', async () => {
    const test = groupTest();
    const commit = test.ports.groups.commitChange.bind(test.ports.groups);
    vi.spyOn(test.ports.groups, 'commitChange').mockImplementationOnce(async (change) => {
      // The creator's other device creates the group between this one's read and commit.
      await createGroup(
        { ...test.deps },
        { ...ALICE, deviceId: 'laptop' },
        {
          conversationId: GROUP,
          title: 'Lunch',
          members: ['bob'],
        },
      );
      return commit(change);
    });

    const result = await createGroup(test.deps, ALICE, {
      conversationId: GROUP,
      title: 'Lunch',
      members: ['bob'],
    });

    expect(result).toEqual({ seq: 1, duplicate: true, retries: 1 });
    expect(test.sleep).not.toHaveBeenCalled();
    await expect(
      createGroup(test.deps, BOB, { conversationId: GROUP, title: 'Lunch', members: ['alice'] }),
    ).rejects.toThrow('another user');
  });
});

describe('a publish that fails after the commit', () => {
  it('fails the action, and the repeated creation publishes the creation’s events again', async () => {
    const test = groupTest();
    vi.spyOn(test.ports.publisher, 'publish').mockRejectedValueOnce(new Error('stream down'));

    await expect(aliceGroup(test)).rejects.toThrow('stream down');
    const again = await aliceGroup(test);

    expect(again).toMatchObject({ seq: 1, duplicate: true });
    expect(test.published()).toEqual(['1 group-created']);
  });

  it('is repaired by the retry of a change, which finds nothing to change and publishes the last change again', async () => {
    const test = groupTest();
    await aliceGroup(test);
    vi.spyOn(test.ports.publisher, 'publish').mockRejectedValueOnce(new Error('stream down'));

    await expect(removeMember(test.deps, ALICE, { conversationId: GROUP, userId: 'alice' })).rejects.toThrow(
      'stream down',
    );
    const again = await removeMember(test.deps, ALICE, { conversationId: GROUP, userId: 'alice' });

    expect(again).toEqual({ seq: null, duplicate: false, retries: 0 });
    expect(test.published()).toEqual(['1 group-created', '2 member-removed', '3 admin-changed']);
  });
});
