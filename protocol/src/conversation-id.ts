/**
 * Conversation ids. A one-to-one conversation between `a` and `b` is `dm:{x}:{y}` with
 * `x < y` in code-unit order, so its members follow from the id alone. A group is
 * `grp:{id}`, its id chosen by the creating client (a UUID), so that a group can be created
 * offline and its creation retried; its members are stored by the server.
 */
import { ID_PATTERN, userIdSchema } from './ids.js';

export const DIRECT_PREFIX = 'dm';
export const GROUP_PREFIX = 'grp';

/** `grp:` and 1 to 64 characters of the id rule. */
export const GROUP_ID_PATTERN = new RegExp(`^${GROUP_PREFIX}:${ID_PATTERN.source.slice(1, -1)}$`);

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

/**
 * True for a well-formed group id.
 *
 * @example
 * isGroupConversationId('grp:7f3c'); // true
 */
export function isGroupConversationId(conversationId: string): boolean {
  return GROUP_ID_PATTERN.test(conversationId);
}

export type ConversationKind = 'dm' | 'group';

/** `dm` or `group` for a well-formed conversation id, else undefined. */
export function conversationKindOf(conversationId: string): ConversationKind | undefined {
  if (membersOf(conversationId)) return 'dm';
  if (isGroupConversationId(conversationId)) return 'group';
  return undefined;
}
