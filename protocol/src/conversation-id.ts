/**
 * Conversation ids. A one-to-one conversation between `a` and `b` is `dm:{x}:{y}` with
 * `x < y` in code-unit order, so its members follow from the id alone.
 */
import { userIdSchema } from './ids.js';

export const DIRECT_PREFIX = 'dm';

/**
 * The id of the one-to-one conversation between two users.
 *
 * @example
 * directConversationId('bob', 'alice'); // 'dm:alice:bob'
 */
export function directConversationId(userA: string, userB: string): string {
  const [first, second] = userA < userB ? [userA, userB] : [userB, userA];
  return `${DIRECT_PREFIX}:${first}:${second}`;
}

/**
 * The two members of a well-formed direct conversation id, else undefined.
 *
 * @example
 * membersOf('dm:alice:bob'); // ['alice', 'bob']
 */
export function membersOf(conversationId: string): [string, string] | undefined {
  const parts = conversationId.split(':');
  if (parts.length !== 3 || parts[0] !== DIRECT_PREFIX) return undefined;
  const [, first, second] = parts as [string, string, string];
  if (!userIdSchema.safeParse(first).success || !userIdSchema.safeParse(second).success) return undefined;
  if (!(first < second)) return undefined;
  return [first, second];
}
