/**
 * The erasure of a user, step by step, over a store that records what it was asked: the
 * order that makes a stopped run resumable, the tombstone, and the other members' entries.
 */
import type { Message } from '@parley/protocol';
import { describe, expect, it, vi } from 'vitest';
import {
  type ErasureDeps,
  eraseLastMessage,
  eraseUser,
  erasureSteps,
  tombstoneOf,
  type UserErasureStore,
} from '../../lambdas/domain/erasure.js';
import { ErasureIncompleteError } from '../../lambdas/domain/errors.js';
import { message, state } from './support/conversation-entries.js';

/** A store holding alice's list as pages of conversation ids, recording every call. */
function recordingStore(pages: string[][]) {
  const calls: string[] = [];
  const count =
    (name: string) =>
    async (...args: string[]) => {
      calls.push(`${name} ${args.join(' ')}`);
      return 1;
    };
  const store: UserErasureStore = {
    closeConnections: count('closeConnections'),
    deletePresence: count('deletePresence'),
    deletePresenceSubscriptions: count('deletePresenceSubscriptions'),
    listConversationIds: async (_userId, after) => {
      const index = after === undefined ? 0 : pages.findIndex((page) => page.at(-1) === after) + 1;
      const conversationIds = pages[index] ?? [];
      return { conversationIds, ...(index + 1 < pages.length ? { next: conversationIds.at(-1) } : {}) };
    },
    tombstoneMessages: count('tombstoneMessages'),
    deleteOwnConversationItems: count('deleteOwnConversationItems'),
    deleteGroupConnections: count('deleteGroupConnections'),
    deleteListEntry: count('deleteListEntry'),
    deleteList: count('deleteList'),
  };
  return { store, calls };
}

function depsOf(
  store: UserErasureStore,
  updateManyUsers: ErasureDeps['conversationList']['updateManyUsers'],
) {
  const groups = {
    getGroup: vi.fn(async (conversationId: string) => ({
      conversationId,
      title: 'Lunch',
      createdBy: 'alice',
      createdAt: 0,
      members: [{ userId: 'alice', admin: true, joinedSeq: 1, joinedAt: 0 }],
      former: [{ userId: 'carol', joinedSeq: 1, removedSeq: 4 }],
      everyone: { deliveredSeq: 0, readSeq: 0 },
    })),
  };
  return { store, groups, conversationList: { updateManyUsers } };
}

const updated = vi.fn(async (changes: Map<string, Map<string, unknown>>) => {
  return new Map(
    [...changes.keys()].map((user) => [user, { status: 'fulfilled' as const, value: ['updated' as const] }]),
  );
});

describe('erasing a user', () => {
  it('closes the connections first, and deletes each list entry only once its conversation is erased', async () => {
    const { store, calls } = recordingStore([['dm:alice:bob'], ['grp:lunch']]);

    const report = await eraseUser('alice', erasureSteps(depsOf(store, updated)));

    expect(calls).toEqual([
      'closeConnections alice',
      'deletePresence alice',
      'deletePresenceSubscriptions alice',
      'tombstoneMessages dm:alice:bob alice',
      'deleteOwnConversationItems dm:alice:bob alice',
      'deleteListEntry alice dm:alice:bob',
      'tombstoneMessages grp:lunch alice',
      'deleteOwnConversationItems grp:lunch alice',
      'deleteGroupConnections grp:lunch alice',
      'deleteListEntry alice grp:lunch',
      'deleteList alice',
    ]);
    expect(report.steps.map((step) => step.name)).toEqual([
      'connections',
      'presence',
      'presence subscriptions',
      'conversations',
      'conversation list',
    ]);
  });

  it("writes the other members' entries, former members' included, through the list store", async () => {
    const { store } = recordingStore([['dm:alice:bob', 'grp:lunch']]);
    updated.mockClear();

    await eraseUser('alice', erasureSteps(depsOf(store, updated)));

    expect(updated.mock.calls.map(([changes]) => [...changes.keys()])).toEqual([['bob'], ['carol']]);
  });

  it('stops with the entry of a conversation it could not finish still listed, so that a second run takes it up', async () => {
    const { store, calls } = recordingStore([['dm:alice:bob']]);
    const refused = async (changes: Map<string, Map<string, unknown>>) =>
      new Map(
        [...changes.keys()].map((user) => [
          user,
          { status: 'rejected' as const, reason: new Error('throttled') },
        ]),
      );

    await expect(eraseUser('alice', erasureSteps(depsOf(store, refused)))).rejects.toThrow(
      ErasureIncompleteError,
    );
    expect(calls).not.toContain('deleteListEntry alice dm:alice:bob');
  });

  it('runs the steps a later store adds, after its own', async () => {
    const { store } = recordingStore([]);
    const blocks = vi.fn(async () => 2);

    const report = await eraseUser(
      'alice',
      erasureSteps(depsOf(store, updated), [{ name: 'blocks', run: blocks }]),
    );

    expect(blocks).toHaveBeenCalledWith('alice');
    expect(report.steps.at(-1)).toEqual({ name: 'blocks', items: 2 });
  });
});

describe('the tombstone', () => {
  it('keeps the seq, the sender and the ids of a message, and drops its body', () => {
    const { body: _body, ...rest } = message(3);

    expect(tombstoneOf(message(3))).toEqual({ ...rest, erased: true });
  });

  it("replaces an entry's copy of the erased user's last text, and changes nothing else", () => {
    const erase = eraseLastMessage('alice');
    const fromAlice: Message = { ...message(3), senderId: 'alice' };
    const fromBob: Message = { ...message(4), senderId: 'bob' };

    expect(erase({ ...state(3), lastMessage: fromAlice })?.lastMessage).toEqual(tombstoneOf(fromAlice));
    expect(erase({ ...state(4), lastMessage: fromBob })).toBeUndefined();
    expect(erase({ ...state(3), lastMessage: tombstoneOf(fromAlice) })).toBeUndefined();
    expect(erase(undefined)).toBeUndefined();
  });
});
