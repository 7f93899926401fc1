/**
 * The server's rules for a new group and for user ids typed into a form, checked before
 * anything is sent, so that a mistake is named where it was made. No page needed, so
 * they are tested on their own.
 */
import { GROUP_MAX_MEMBERS, GROUP_TITLE_MAX_CHARS, userIdSchema } from '@parley/protocol';

export interface NewGroup {
  title: string;
  members: string[];
}

/** User ids as people type them: separated by commas or spaces, each once. */
export function parseUserIds(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter((id) => id.length > 0))];
}

/** What is wrong with a new group, in the form's words; undefined when nothing is. */
export function newGroupProblem(group: NewGroup, me: string): string | undefined {
  const titleLength = [...group.title].length;
  if (titleLength === 0) return 'Give the group a title.';
  if (titleLength > GROUP_TITLE_MAX_CHARS) return `A title is at most ${GROUP_TITLE_MAX_CHARS} characters.`;
  if (group.members.length === 0) return 'Name at least one other member.';
  if (group.members.length > GROUP_MAX_MEMBERS - 1) {
    return `A group has at most ${GROUP_MAX_MEMBERS} members, you included.`;
  }
  const bad = group.members.find((id) => !userIdSchema.safeParse(id).success);
  if (bad !== undefined) return `“${bad}” is not a user id: 1 to 64 of A-Z, a-z, 0-9, _ or -.`;
  if (group.members.includes(me)) return 'You are in the group already: name the others.';
  return undefined;
}
