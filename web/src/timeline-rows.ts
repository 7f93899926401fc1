/**
 * What the open chat shows, row by row: the messages in order, a day's name above the
 * first message of each day, "N new messages" above the first one that was unread when
 * the chat opened, a group's membership events as lines of their own, and in a group the
 * sender's name above the first of each run of someone else's messages. Plain data, so
 * the rules are tested without a page.
 */
import { type ChatMessage, isGroupEvent, MessageStatus } from '@parley/sdk';
import { dayKey, formatDay } from './format.js';
import { describeGroupEvent } from './group-events.js';

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
  | { kind: 'event'; key: string; label: string; message: ChatMessage }
  /** `sender` is set where the sender's name shows: others' messages in a group. */
  | { kind: 'message'; key: string; message: ChatMessage; sender?: string };

export interface TimelineOptions {
  /** This user. */
  me: string;
  /** Whether the chat is a group: others' messages get their sender's name. */
  group?: boolean;
  unread?: UnreadMark;
  now?: number;
}

/** When a message happened for the reader: the server's time once stored, else when written. */
export function messageTime(message: ChatMessage): number {
  return message.serverTs ?? message.createdAt;
}

/**
 * The unread messages among these, as the divider shows them: from the first text message
 * of someone else's that is not read yet. Undefined when there is none.
 */
export function unreadMarkOf(messages: readonly ChatMessage[]): UnreadMark | undefined {
  const unread = messages.filter(
    (message) => !message.mine && !isGroupEvent(message) && message.status !== MessageStatus.Read,
  );
  const first = unread[0];
  return first ? { clientMessageId: first.clientMessageId, count: unread.length } : undefined;
}

/** The rows for these messages, in order. */
export function timelineRows(messages: readonly ChatMessage[], options: TimelineOptions): TimelineRow[] {
  const { me, group = false, unread, now = Date.now() } = options;
  const rows: TimelineRow[] = [];
  let day: string | undefined;
  /** Who wrote the row above, when it is a text message: a run of theirs shows the name once. */
  let runOf: string | undefined;
  for (const message of messages) {
    const time = messageTime(message);
    const key = dayKey(time);
    if (key !== day) {
      day = key;
      runOf = undefined;
      rows.push({ kind: 'day', key: `day:${key}`, label: formatDay(time, now) });
    }
    if (message.clientMessageId === unread?.clientMessageId) {
      const label = `${unread.count} new ${unread.count === 1 ? 'message' : 'messages'}`;
      rows.push({ kind: 'unread', key: 'unread', label });
      runOf = undefined;
    }
    const rowKey = `message:${message.clientMessageId}`;
    if (isGroupEvent(message)) {
      rows.push({ kind: 'event', key: rowKey, label: describeGroupEvent(message, me), message });
      runOf = undefined;
      continue;
    }
    const showSender = group && !message.mine && runOf !== message.senderId;
    rows.push({ kind: 'message', key: rowKey, message, ...(showSender ? { sender: message.senderId } : {}) });
    runOf = message.senderId;
  }
  return rows;
}
