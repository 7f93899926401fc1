/** A user's round initial, in a colour that follows from the user id. */
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

function hueOf(text: string): number {
  let hash = 0;
  for (const char of text) hash = (hash * 31 + (char.codePointAt(0) ?? 0)) % 360;
  return hash;
}
