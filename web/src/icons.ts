/** The app's icons: static SVG markup, never built from user input. */
import { MessageStatus } from '@parley/sdk';
import { svg } from './dom.js';

const stroke = 'fill="none" stroke="currentColor" stroke-linecap="round" stroke-linejoin="round"';

const STATUS_ICONS: Record<MessageStatus, string> = {
  [MessageStatus.Pending]: `<svg viewBox="0 0 16 16" width="14" height="14" ${stroke} stroke-width="1.5"><circle cx="8" cy="8" r="6.25"/><path d="M8 4.5V8l2.5 1.5"/></svg>`,
  [MessageStatus.Sent]: `<svg viewBox="0 0 16 11" width="16" height="11" ${stroke} stroke-width="1.6"><path d="M2 5.5l3.5 3.5 8.5-8"/></svg>`,
  [MessageStatus.Delivered]: `<svg viewBox="0 0 18 11" width="18" height="11" ${stroke} stroke-width="1.6"><path d="M1 5.5l3.5 3.5 8.5-8M8.5 9l8.5-8"/></svg>`,
  [MessageStatus.Read]: `<svg viewBox="0 0 18 11" width="18" height="11" ${stroke} stroke-width="1.6"><path d="M1 5.5l3.5 3.5 8.5-8M8.5 9l8.5-8"/></svg>`,
  [MessageStatus.Failed]: `<svg viewBox="0 0 16 16" width="14" height="14"><circle cx="8" cy="8" r="7" fill="currentColor"/><path d="M8 4v5M8 11.6v.2" ${stroke.replace('currentColor', '#fff')} stroke-width="1.8"/></svg>`,
};

const STATUS_LABELS: Record<MessageStatus, string> = {
  [MessageStatus.Pending]: 'Waiting to send',
  [MessageStatus.Sent]: 'Sent',
  [MessageStatus.Delivered]: 'Delivered',
  [MessageStatus.Read]: 'Read',
  [MessageStatus.Failed]: 'Not sent',
};

/** In a group, the ticks are everyone's: delivered to all members, read by all. */
const EVERYONE_LABELS: Partial<Record<MessageStatus, string>> = {
  [MessageStatus.Sent]: 'Sent; not yet delivered to everyone',
  [MessageStatus.Delivered]: 'Delivered to everyone',
  [MessageStatus.Read]: 'Read by everyone',
};

/**
 * The tick, clock or `!` of one of my messages: `<span class="status" data-status>` with
 * its label (in a group, `everyone`: what every member has).
 */
export function statusIcon(status: MessageStatus, { everyone = false } = {}): HTMLSpanElement {
  const label = (everyone ? EVERYONE_LABELS[status] : undefined) ?? STATUS_LABELS[status];
  const span = document.createElement('span');
  span.className = 'status';
  span.dataset.status = status;
  span.title = label;
  span.setAttribute('aria-label', label);
  span.append(svg(STATUS_ICONS[status]));
  return span;
}

export function sendIcon(): SVGSVGElement {
  return svg(
    '<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true"><path fill="currentColor" d="M3.4 20.4 21 12 3.4 3.6l-.01 6.53L15 12 3.39 13.87z"/></svg>',
  );
}

export function backIcon(): SVGSVGElement {
  return svg(
    `<svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" ${stroke} stroke-width="2"><path d="M15 5l-7 7 7 7"/></svg>`,
  );
}

export function groupIcon(): SVGSVGElement {
  return svg(
    `<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" ${stroke} stroke-width="1.8"><circle cx="9" cy="8" r="3.5"/><path d="M2.5 20c0-3.6 2.9-6 6.5-6s6.5 2.4 6.5 6"/><circle cx="17" cy="9" r="2.5"/><path d="M17.5 14.2c2.4.4 4 2.3 4 4.8"/></svg>`,
  );
}

export function bellIcon(): SVGSVGElement {
  return svg(
    `<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" ${stroke} stroke-width="1.8"><path d="M6 16V11a6 6 0 0 1 12 0v5l1.5 2h-15z"/><path d="M10 20.5a2.2 2.2 0 0 0 4 0"/></svg>`,
  );
}
