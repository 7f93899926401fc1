/**
 * Membership checks on conversation ids: the protocol defines the ids, the domain decides
 * who may use them.
 */
import { directConversationId, membersOf } from '@parley/protocol';
import { BadRequestError, ForbiddenError } from './errors.js';

/** Throws `bad_request` for a malformed id and `forbidden` when `userId` is not a member. */
export function assertMember(conversationId: string, userId: string): [string, string] {
  const members = membersOf(conversationId);
  if (!members) {
    throw new BadRequestError(
      'conversationId: must be dm:{x}:{y} with x and y two user ids and x sorting before y',
    );
  }
  if (!members.includes(userId)) {
    throw new ForbiddenError(`conversationId: you are not a member of ${conversationId}`);
  }
  return members;
}

/** The conversation a `send` frame targets, from `to` or `conversationId`, checked for membership. */
export function resolveSendTarget(
  senderId: string,
  target: { to?: string | undefined; conversationId?: string | undefined },
): string {
  if (target.to !== undefined) {
    if (target.to === senderId) throw new BadRequestError('to: must be another user than the sender');
    return directConversationId(senderId, target.to);
  }
  const conversationId = target.conversationId ?? '';
  assertMember(conversationId, senderId);
  return conversationId;
}
