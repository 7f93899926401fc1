/**
 * Membership checks on conversation ids: the protocol defines the ids, the domain decides
 * who may use them. A one-to-one conversation's members follow from its id; a group's are
 * read from its roster (docs/adr/0007-groups.md).
 */
import { directConversationId, isGroupConversationId, membersOf } from '@parley/protocol';
import { BadRequestError, ForbiddenError } from './errors.js';
import type { GroupMemberRecord, GroupStore, MembershipPeriod } from './ports.js';

const notAMember = (conversationId: string) =>
  new ForbiddenError(`conversationId: you are not a member of ${conversationId}`);

/** Throws `bad_request` for a malformed id and `forbidden` when `userId` is not a member. */
export function assertMember(conversationId: string, userId: string): [string, string] {
  const members = membersOf(conversationId);
  if (!members) {
    throw new BadRequestError(
      'conversationId: must be dm:{x}:{y} with x and y two user ids and x sorting before y',
    );
  }
  if (!members.includes(userId)) throw notAMember(conversationId);
  return members;
}

/**
 * The conversation a `send` frame targets, from `to` or `conversationId`. A one-to-one
 * conversation is checked for membership here; a group's membership is checked inside each
 * attempt of the send (see `assertCurrentMember`), so it is not read here.
 */
export function resolveSendTarget(
  senderId: string,
  target: { to?: string | undefined; conversationId?: string | undefined },
): string {
  if (target.to !== undefined) {
    if (target.to === senderId) throw new BadRequestError('to: must be another user than the sender');
    return directConversationId(senderId, target.to);
  }
  const conversationId = target.conversationId ?? '';
  if (!isGroupConversationId(conversationId)) assertMember(conversationId, senderId);
  return conversationId;
}

/** A current member of the group, read strongly consistent; `forbidden` for anyone else. */
export async function assertCurrentMember(
  groups: GroupStore,
  conversationId: string,
  userId: string,
): Promise<GroupMemberRecord> {
  const membership = await groups.getMembership(conversationId, userId);
  if (membership.status !== 'member') throw notAMember(conversationId);
  return membership.member;
}

/** The part of a group a user may read: from the seq that added it, up to its removal if it left. */
export interface ReadWindow {
  joinedSeq: number;
  /** The seq of its removal; undefined for a current member. */
  removedSeq: number | undefined;
  /** The windows of its earlier memberships, oldest first (a user added back). */
  earlierWindows: MembershipPeriod[];
}

/** The window of a current or former member of the group; `forbidden` for anyone else. */
export async function assertReader(
  groups: GroupStore,
  conversationId: string,
  userId: string,
): Promise<ReadWindow> {
  const membership = await groups.getMembership(conversationId, userId);
  switch (membership.status) {
    case 'member':
      return {
        joinedSeq: membership.member.joinedSeq,
        removedSeq: undefined,
        earlierWindows: membership.member.earlierWindows ?? [],
      };
    case 'former':
      return {
        joinedSeq: membership.former.joinedSeq,
        removedSeq: membership.former.removedSeq,
        earlierWindows: membership.former.earlierWindows ?? [],
      };
    case 'none':
      throw notAMember(conversationId);
  }
}
