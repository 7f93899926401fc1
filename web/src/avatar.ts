/** A user's (or a group's) round initial, in a colour that follows from its id. */
import type { PresenceView } from '@parley/sdk';
import { h } from './dom.js';

/** A round initial, with the presence dot when presence is known. */
export function avatar(userId: string, presence?: PresenceView): HTMLElement {
  return h(
    'span',
    { class: 'avatar', 'aria-hidden': 'true', style: `--hue: ${hueOf(userId)}` },
    (userId[0] ?? '?').toUpperCase(),
    presence
      ? h('span', {
          class: 'presence-dot',
          'data-testid': 'presence-dot',
          'data-online': String(presence.online),
          title: presence.online ? 'online' : 'offline',
        })
      : null,
  );
}

/** A group's initial: its title's first letter, in a rounded square so it is not taken for a user. */
export function groupAvatar(conversationId: string, title: string | undefined): HTMLElement {
  const initial = [...(title?.trim() ?? '')][0] ?? '#';
  return h(
    'span',
    { class: 'avatar group', 'aria-hidden': 'true', style: `--hue: ${hueOf(conversationId)}` },
    initial.toUpperCase(),
  );
}

/** A colour for a name, the same for the same text everywhere (avatars, sender names). */
export function hueOf(text: string): number {
  let hash = 0;
  for (const char of text) hash = (hash * 31 + (char.codePointAt(0) ?? 0)) % 360;
  return hash;
}
