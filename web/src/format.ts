/** Times as a chat app shows them. */

const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const shortDate = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const longDate = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'long', year: 'numeric' });

function dayStart(ts: number): number {
  const date = new Date(ts);
  date.setHours(0, 0, 0, 0);
  return date.getTime();
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** `14:03`. */
export function formatClock(ts: number): string {
  return clock.format(ts);
}

/** The time of a conversation in the list: `14:03` today, `Yesterday`, else `12 Mar`. */
export function formatListTime(ts: number, now = Date.now()): string {
  const days = Math.round((dayStart(now) - dayStart(ts)) / DAY_MS);
  if (days <= 0) return formatClock(ts);
  if (days === 1) return 'Yesterday';
  return shortDate.format(ts);
}

/** `last seen 14:03` today, `last seen yesterday 14:03`, else `last seen 12 Mar 14:03`. */
export function formatLastSeen(ts: number, now = Date.now()): string {
  const days = Math.round((dayStart(now) - dayStart(ts)) / DAY_MS);
  if (days <= 0) return `last seen ${formatClock(ts)}`;
  if (days === 1) return `last seen yesterday ${formatClock(ts)}`;
  return `last seen ${shortDate.format(ts)} ${formatClock(ts)}`;
}

/** The local day of a time, as `2026-03-12`: the same key for every time of that day. */
export function dayKey(ts: number): string {
  const date = new Date(ts);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** A day above its messages: `Today`, `Yesterday`, else `12 March 2026`. */
export function formatDay(ts: number, now = Date.now()): string {
  const days = Math.round((dayStart(now) - dayStart(ts)) / DAY_MS);
  if (days <= 0) return 'Today';
  if (days === 1) return 'Yesterday';
  return longDate.format(ts);
}

/** `3 members`. */
export function formatMemberCount(count: number): string {
  return `${count} ${count === 1 ? 'member' : 'members'}`;
}
