import { type ChatMessage, type GroupEventMessage, MessageStatus, type TextMessage } from '@parley/sdk';
import { describe, expect, it } from 'vitest';
import { formatDay } from '../../../web/src/format.js';
import { timelineRows, unreadMarkOf } from '../../../web/src/timeline-rows.js';

/** Noon on 12 March 2026, local time: the "now" of these tests. */
const NOW = new Date(2026, 2, 12, 12, 0).getTime();
const HOUR = 60 * 60 * 1000;

let next = 0;
function message(at: number, fields: Partial<TextMessage> = {}): TextMessage {
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
    kind: 'text',
    ...fields,
  };
}

function labels(messages: ChatMessage[], { now = NOW, group = false } = {}): string[] {
  return timelineRows(messages, { me: 'alice', group, unread: unreadMarkOf(messages), now }).map((row) => {
    if (row.kind === 'message') return row.sender ? `${row.sender}: ${row.message.body}` : row.message.body;
    return row.kind === 'event' ? `[${row.label}]` : `— ${row.label} —`;
  });
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

  it('shows a group’s events as lines, and the sender above the first of each run of someone else’s', () => {
    const created: GroupEventMessage = {
      ...eventBase(),
      kind: 'group-created',
      title: 'Lunch',
      members: ['alice', 'bob', 'carol'],
    };
    const bob1 = message(NOW - 50 * 60_000);
    const bob2 = message(NOW - 40 * 60_000);
    const carol = message(NOW - 30 * 60_000, { senderId: 'carol' });
    const mine = message(NOW - 20 * 60_000, { senderId: 'alice', mine: true });
    const bob3 = message(NOW - 10 * 60_000);
    const removed: GroupEventMessage = {
      ...eventBase(),
      kind: 'member-removed',
      userId: 'carol',
      senderId: 'carol',
      mine: false,
    };
    const bob4 = message(NOW - 5 * 60_000);

    expect(labels([created, bob1, bob2, carol, mine, bob3, removed, bob4], { group: true })).toEqual([
      '— Today —',
      '[You created the group “Lunch”]',
      `bob: ${bob1.body}`,
      bob2.body,
      `carol: ${carol.body}`,
      mine.body,
      `bob: ${bob3.body}`,
      '[carol left]',
      `bob: ${bob4.body}`,
    ]);
  });

  it('names no sender in a one-to-one chat, and counts no event as unread', () => {
    const added: GroupEventMessage = {
      ...eventBase(),
      kind: 'members-added',
      members: ['dave'],
      senderId: 'bob',
      mine: false,
      status: MessageStatus.Sent,
    };
    const unread = message(NOW - 5 * 60_000, { status: MessageStatus.Sent });
    const fromBob = message(NOW - 50 * 60_000);

    expect(unreadMarkOf([added, unread])).toEqual({ clientMessageId: unread.clientMessageId, count: 1 });
    expect(labels([fromBob])).toEqual(['— Today —', fromBob.body]);
  });
});

/** What a membership event made by alice an hour ago has besides its kind and fields. */
function eventBase(): TextMessage {
  return message(NOW - HOUR, { senderId: 'alice', mine: true, body: '' });
}
