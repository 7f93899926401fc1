/**
 * Conversation ids and membership. A one-to-one conversation between `a` and `b` is
 * `dm:{x}:{y}` with `x < y` in code-unit order, so membership follows from the id alone.
 */
import { BadRequestError, ForbiddenError } from './errors.js';
import { userIdSchema } from './protocol.js';

export const DIRECT_PREFIX = 'dm';

export function directConversationId(userA: string, userB: string): string {
  const [first, second] = userA < userB ? [userA, userB] : [userB, userA];
  return `${DIRECT_PREFIX}:${first}:${second}`;
}

/** The two members of a well-formed direct conversation id, else undefined. */
export function membersOf(conversationId: string): [string, string] | undefined {
  const parts = conversationId.split(':');
  if (parts.length !== 3 || parts[0] !== DIRECT_PREFIX) return undefined;
  const [, first, second] = parts as [string, string, string];
  if (!userIdSchema.safeParse(first).success || !userIdSchema.safeParse(second).success) return undefined;
  if (!(first < second)) return undefined;
  return [first, second];
}

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
