/**
 * A group's membership events as the timeline says them, one centred line each: "alice
 * added bob and carol". This user is "You" (or "you"), as chat apps say it.
 */
import type { GroupEventMessage } from '@parley/sdk';

/** `alice`, `alice and bob`, `alice, bob and carol`. */
export function formatNames(names: readonly string[]): string {
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/** The line for a membership event, seen by `me`. */
export function describeGroupEvent(event: GroupEventMessage, me: string): string {
  const name = (userId: string) => (userId === me ? 'you' : userId);
  const actor = event.senderId === me ? 'You' : event.senderId;
  switch (event.kind) {
    case 'group-created':
      return `${actor} created the group “${event.title}”`;
    case 'members-added':
      return `${actor} added ${formatNames(event.members.map(name))}`;
    case 'member-removed':
      return event.userId === event.senderId ? `${actor} left` : `${actor} removed ${name(event.userId)}`;
    case 'title-changed':
      return `${actor} changed the title to “${event.title}”`;
    case 'admin-changed': {
      // The server itself names an admin when the last one leaves: said without an actor.
      const subject = event.userId === me ? 'You' : event.userId;
      if (!event.admin) return `${subject} ${event.userId === me ? 'are' : 'is'} no longer an admin`;
      return event.senderId === event.userId
        ? `${subject} ${event.userId === me ? 'are' : 'is'} now an admin`
        : `${actor} made ${name(event.userId)} an admin`;
    }
  }
}
