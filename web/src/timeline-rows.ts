/**
 * What the open chat shows, row by row: the messages in order, a day's name above the
 * first message of each day, and "N new messages" above the first one that was unread
 * when the chat opened. Plain data, so the rules are tested without a page.
 */
import type { ChatMessage } from '@parley/sdk';
import { MessageStatus } from '@parley/sdk';
import { dayKey, formatDay } from './format.js';

/** Where the unread divider goes, taken when the chat opens: it stays until another chat opens. */
export interface UnreadMark {
  /** The first message that was unread. */
  clientMessageId: string;
  /** How many were unread. */
  count: number;
}

export type TimelineRow =
  | { kind: 'day'; key: string; label: string }
  | { kind: 'unread'; key: string; label: string }
  | { kind: 'message'; key: string; message: ChatMessage };

/** When a message happened for the reader: the server's time once stored, else when written. */
export function messageTime(message: ChatMessage): number {
  return message.serverTs ?? message.createdAt;
}

/**
 * The unread messages among these, as the divider shows them: from the first message of
 * someone else's that is not read yet. Undefined when there is none.
 */
export function unreadMarkOf(messages: readonly ChatMessage[]): UnreadMark | undefined {
  const unread = messages.filter((message) => !message.mine && message.status !== MessageStatus.Read);
  const first = unread[0];
  return first ? { clientMessageId: first.clientMessageId, count: unread.length } : undefined;
}

/** The rows for these messages, in order. */
export function timelineRows(
  messages: readonly ChatMessage[],
  unread: UnreadMark | undefined,
  now = Date.now(),
): TimelineRow[] {
  const rows: TimelineRow[] = [];
  let day: string | undefined;
  for (const message of messages) {
    const time = messageTime(message);
    const key = dayKey(time);
    if (key !== day) {
      day = key;
      rows.push({ kind: 'day', key: `day:${key}`, label: formatDay(time, now) });
    }
    if (message.clientMessageId === unread?.clientMessageId) {
      const label = `${unread.count} new ${unread.count === 1 ? 'message' : 'messages'}`;
      rows.push({ kind: 'unread', key: 'unread', label });
    }
    rows.push({ kind: 'message', key: `message:${message.clientMessageId}`, message });
  }
  return rows;
}
