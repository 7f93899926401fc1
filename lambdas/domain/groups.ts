/**
 * The membership actions of a group (docs/protocol.md, "Groups"): who may make each change
 * and what it records. Each rule decides on the group as read; `group-changes.ts` reads,
 * commits and publishes. Admins only, except leaving; a former member, a non-member or a
 * group that does not exist is `forbidden`; a change that changes nothing is `seq: null`.
 */
import {
  type AddMembersFrame,
  type CreateGroupFrame,
  GROUP_MAX_MEMBERS,
  type Message,
  type RemoveMemberFrame,
  type SetAdminFrame,
  type SetTitleFrame,
} from '@parley/protocol';
import { BadRequestError, ForbiddenError } from './errors.js';
import { type Actor, changeGroup, type GroupChangeDeps, type GroupChangeResult } from './group-changes.js';
import { refreshEveryone } from './group-receipts.js';
import type { GroupMemberRecord, GroupRecord } from './ports.js';

type Change<Frame> = (deps: GroupChangeDeps, actor: Actor, frame: Frame) => Promise<GroupChangeResult>;

/** The group and the caller's own record in it; `forbidden` unless it is a current member. */
function asMember(group: GroupRecord | undefined, userId: string, conversationId: string) {
  const member = group?.members.find((candidate) => candidate.userId === userId);
  if (!group || !member)
    throw new ForbiddenError(`conversationId: you are not a member of ${conversationId}`);
  return { before: group, caller: member };
}

/** The group, when the caller is one of its admins; `forbidden` otherwise. */
function asAdmin(group: GroupRecord | undefined, userId: string, conversationId: string): GroupRecord {
  const { before, caller } = asMember(group, userId, conversationId);
  if (!caller.admin)
    throw new ForbiddenError(`conversationId: only an admin of ${conversationId} may do this`);
  return before;
}

/** userId → the seq of the event that lists it among the members who joined. */
function joinedSeqs(events: readonly Message[]): Map<string, number> {
  const seqs = new Map<string, number>();
  for (const event of events) for (const userId of event.members ?? []) seqs.set(userId, event.seq);
  return seqs;
}

/** The members the events added, joined at the seq of the event that lists each. */
function joinedBy(events: readonly Message[], admin: (userId: string) => boolean): GroupMemberRecord[] {
  return [...joinedSeqs(events)].map(([userId, joinedSeq]) => ({
    userId,
    admin: admin(userId),
    joinedSeq,
    joinedAt: (events[0] as Message).serverTs,
  }));
}

/**
 * A user added back keeps the windows of its earlier memberships, so that it may still
 * `sync` the end of one it missed while it was away.
 */
function withEarlierWindows(before: GroupRecord) {
  return (member: GroupMemberRecord): GroupMemberRecord => {
    const former = before.former.find((candidate) => candidate.userId === member.userId);
    if (!former) return member;
    const earlier = [
      ...(former.earlierWindows ?? []),
      { joinedSeq: former.joinedSeq, removedSeq: former.removedSeq },
    ];
    return { ...member, earlierWindows: earlier };
  };
}

/**
 * The member who has been in the group longest: the first to join (by time, then by the
 * seq it joined at, for changes made within one millisecond), ties by user id.
 */
function longestStanding(members: readonly GroupMemberRecord[]): GroupMemberRecord | undefined {
  return [...members].sort(
    (a, b) => a.joinedAt - b.joinedAt || a.joinedSeq - b.joinedSeq || (a.userId < b.userId ? -1 : 1),
  )[0];
}

/**
 * After a change that added or removed members, which left the holders of `everyone`
 * unknown: recomputes them (and `everyone`, which a removal may raise) over the new roster.
 */
async function withEveryoneRefreshed(
  deps: GroupChangeDeps,
  conversationId: string,
  result: GroupChangeResult,
): Promise<GroupChangeResult> {
  if (result.seq !== null) await refreshEveryone(deps, conversationId);
  return result;
}

/**
 * Creates the group, the caller its admin; the same creator repeating it gets the first
 * answer, anyone else `forbidden`.
 */
export const createGroup: Change<Pick<CreateGroupFrame, 'conversationId' | 'title' | 'members'>> = async (
  deps,
  actor,
  { conversationId, title, members },
) => {
  if (members.includes(actor.userId)) {
    throw new BadRequestError('members: must not name the caller, who joins as admin');
  }
  if (new Set(members).size !== members.length)
    throw new BadRequestError('members: must not name a user twice');
  if (members.length + 1 > GROUP_MAX_MEMBERS) {
    throw new BadRequestError(
      `members: a group holds at most ${GROUP_MAX_MEMBERS} members, its creator included`,
    );
  }
  const result = await changeGroup(deps, conversationId, actor, (group) => {
    if (group) {
      if (group.createdBy !== actor.userId) {
        throw new ForbiddenError(`conversationId: ${conversationId} is another user's group`);
      }
      return { outcome: 'duplicate', creation: group.creation ?? { fromSeq: 1, toSeq: 1 } };
    }
    return {
      outcome: 'change',
      drafts: [{ kind: 'group-created', title, members: [actor.userId, ...members] }],
      apply: (events) => ({
        conversationId,
        title,
        createdBy: actor.userId,
        createdAt: (events[0] as Message).serverTs,
        members: joinedBy(events, (userId) => userId === actor.userId),
        former: [],
        everyone: { deliveredSeq: 0, readSeq: 0 },
        creation: { fromSeq: (events[0] as Message).seq, toSeq: (events.at(-1) as Message).seq },
      }),
    };
  });
  return withEveryoneRefreshed(deps, conversationId, result);
};

/** Adds the users who are not members yet; beyond GROUP_MAX_MEMBERS, nobody. */
export const addMembers: Change<Pick<AddMembersFrame, 'conversationId' | 'members'>> = async (
  deps,
  actor,
  { conversationId, members },
) => {
  const result = await changeGroup(deps, conversationId, actor, (group) => {
    const before = asAdmin(group, actor.userId, conversationId);
    const current = new Set(before.members.map((member) => member.userId));
    const joining = [...new Set(members)].filter((userId) => !current.has(userId));
    if (joining.length === 0) return { outcome: 'unchanged' };
    if (current.size + joining.length > GROUP_MAX_MEMBERS) {
      throw new BadRequestError(
        `members: a group holds at most ${GROUP_MAX_MEMBERS} members; it has ${current.size}, and ${joining.length} would join`,
      );
    }
    return {
      outcome: 'change',
      drafts: [{ kind: 'members-added', members: joining }],
      apply: (events) => ({
        ...before,
        members: [...before.members, ...joinedBy(events, () => false).map(withEarlierWindows(before))],
        former: before.former.filter((former) => !joining.includes(former.userId)),
      }),
    };
  });
  // An added member counts from the seq before it joined: it may hold `everyone`.
  return withEveryoneRefreshed(deps, conversationId, result);
};

/**
 * Removes a member: an admin anyone, any member itself (leaving; leaving again changes
 * nothing). The last admin leaving
 * makes the longest-standing member admin, with its own event right after the removal.
 */
export const removeMember: Change<Pick<RemoveMemberFrame, 'conversationId' | 'userId'>> = async (
  deps,
  actor,
  { conversationId, userId },
) => {
  const result = await changeGroup(deps, conversationId, actor, (group) => {
    // Leaving again, as a client retrying a leave whose answer was lost: nothing to change,
    // and its events are published again, though a former member may change nothing else.
    const left = group?.former.some((former) => former.userId === actor.userId);
    if (userId === actor.userId && left && !group?.members.some((member) => member.userId === userId)) {
      return { outcome: 'unchanged' };
    }
    const { before, caller } = asMember(group, actor.userId, conversationId);
    if (userId !== actor.userId && !caller.admin) {
      throw new ForbiddenError(`userId: only an admin of ${conversationId} may remove another member`);
    }
    const removed = before.members.find((member) => member.userId === userId);
    if (!removed) return { outcome: 'unchanged' };
    const staying = before.members.filter((member) => member !== removed);
    const successor = staying.some((member) => member.admin) ? undefined : longestStanding(staying);
    return {
      outcome: 'change',
      drafts: [
        { kind: 'member-removed', userId },
        ...(successor ? [{ kind: 'admin-changed' as const, userId: successor.userId, admin: true }] : []),
      ],
      apply: ([removal]) => ({
        ...before,
        members: staying.map((member) => (member === successor ? { ...member, admin: true } : member)),
        former: [
          ...before.former.filter((former) => former.userId !== userId),
          {
            userId,
            joinedSeq: removed.joinedSeq,
            removedSeq: (removal as Message).seq,
            ...(removed.earlierWindows ? { earlierWindows: removed.earlierWindows } : {}),
          },
        ],
      }),
    };
  });
  // A removed member no longer holds `everyone` back.
  return withEveryoneRefreshed(deps, conversationId, result);
};

/** Renames the group. */
export const setTitle: Change<Pick<SetTitleFrame, 'conversationId' | 'title'>> = (
  deps,
  actor,
  { conversationId, title },
) =>
  changeGroup(deps, conversationId, actor, (group) => {
    const before = asAdmin(group, actor.userId, conversationId);
    if (before.title === title) return { outcome: 'unchanged' };
    return {
      outcome: 'change',
      drafts: [{ kind: 'title-changed', title }],
      apply: () => ({ ...before, title }),
    };
  });

/** Makes a member admin or takes the role back; the last admin may not step down. */
export const setAdmin: Change<Pick<SetAdminFrame, 'conversationId' | 'userId' | 'admin'>> = (
  deps,
  actor,
  { conversationId, userId, admin },
) =>
  changeGroup(deps, conversationId, actor, (group) => {
    const before = asAdmin(group, actor.userId, conversationId);
    const target = before.members.find((member) => member.userId === userId);
    if (!target) throw new BadRequestError(`userId: ${userId} is not a member of ${conversationId}`);
    if (target.admin === admin) return { outcome: 'unchanged' };
    if (!admin && before.members.every((member) => member === target || !member.admin)) {
      throw new BadRequestError('admin: the last admin may not step down; make another member admin first');
    }
    return {
      outcome: 'change',
      drafts: [{ kind: 'admin-changed', userId, admin }],
      apply: () => ({
        ...before,
        members: before.members.map((member) => (member === target ? { ...member, admin } : member)),
      }),
    };
  });
