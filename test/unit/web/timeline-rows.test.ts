import { type ChatMessage, MessageStatus } from '@parley/sdk';
import { describe, expect, it } from 'vitest';
import { formatDay } from '../../../web/src/format.js';
import { timelineRows, unreadMarkOf } from '../../../web/src/timeline-rows.js';

/** Noon on 12 March 2026, local time: the "now" of these tests. */
const NOW = new Date(2026, 2, 12, 12, 0).getTime();
const HOUR = 60 * 60 * 1000;

let next = 0;
function message(at: number, fields: Partial<ChatMessage> = {}): ChatMessage {
  next += 1;
  return {
    conversationId: 'dm:alice:bob',
    clientMessageId: `m${next}`,
    seq: next,
    senderId: 'bob',
    body: `message ${next}`,
    serverTs: at,
    createdAt: at,
    mine: false,
    status: MessageStatus.Read,
    ...fields,
  };
}

function labels(messages: ChatMessage[], now = NOW): string[] {
  return timelineRows(messages, unreadMarkOf(messages), now).map((row) =>
    row.kind === 'message' ? row.message.body : `— ${row.label} —`,
  );
}

describe('the rows of the open chat', () => {
  it('names the day above the first message of each day, by the reader’s local day', () => {
    const twoDaysAgo = message(NOW - 49 * HOUR);
    const yesterdayLate = message(new Date(2026, 2, 11, 23, 59).getTime());
    const todayEarly = message(new Date(2026, 2, 12, 0, 1).getTime());
    const todayLater = message(NOW - HOUR);

    expect(labels([twoDaysAgo, yesterdayLate, todayEarly, todayLater])).toEqual([
      `— ${formatDay(twoDaysAgo.createdAt, NOW)} —`,
      twoDaysAgo.body,
      '— Yesterday —',
      yesterdayLate.body,
      '— Today —',
      todayEarly.body,
      todayLater.body,
    ]);
  });

  it('names an older day by its date, with the year', () => {
    const label = formatDay(new Date(2026, 2, 10, 9, 0).getTime(), NOW);

    expect(label).not.toMatch(/Today|Yesterday/);
    expect(label).toContain('2026');
    expect(label).toContain('10');
  });

  it('puts a pending message under today, by when it was written', () => {
    const yesterday = message(NOW - 30 * HOUR);
    const pending = message(NOW, {
      serverTs: undefined,
      seq: undefined,
      mine: true,
      status: MessageStatus.Pending,
    });

    expect(labels([yesterday, pending])).toEqual([
      '— Yesterday —',
      yesterday.body,
      '— Today —',
      pending.body,
    ]);
  });

  it('counts the unread messages of others and puts the divider above the first, after the day', () => {
    const read = message(NOW - 3 * HOUR);
    const mine = message(NOW - 2 * HOUR, { mine: true, senderId: 'alice', status: MessageStatus.Delivered });
    const firstUnread = message(NOW - HOUR, { status: MessageStatus.Sent });
    const myReply = message(NOW - 10 * 60_000, { mine: true, senderId: 'alice', status: MessageStatus.Sent });
    const secondUnread = message(NOW - 5 * 60_000, { status: MessageStatus.Sent });

    expect(unreadMarkOf([read, mine, firstUnread, myReply, secondUnread])).toEqual({
      clientMessageId: firstUnread.clientMessageId,
      count: 2,
    });
    expect(labels([read, mine, firstUnread, myReply, secondUnread])).toEqual([
      '— Today —',
      read.body,
      mine.body,
      '— 2 new messages —',
      firstUnread.body,
      myReply.body,
      secondUnread.body,
    ]);
  });

  it('says "1 new message", and puts the divider below the day it starts', () => {
    const yesterday = message(NOW - 30 * HOUR);
    const unread = message(NOW - HOUR, { status: MessageStatus.Sent });

    expect(labels([yesterday, unread])).toEqual([
      '— Yesterday —',
      yesterday.body,
      '— Today —',
      '— 1 new message —',
      unread.body,
    ]);
  });

  it('shows no divider when everything is read', () => {
    const messages = [message(NOW - HOUR), message(NOW, { mine: true, status: MessageStatus.Delivered })];

    expect(unreadMarkOf(messages)).toBeUndefined();
    expect(labels(messages).filter((label) => label.includes('new message'))).toEqual([]);
  });
});
