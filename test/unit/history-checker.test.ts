import type { Message, Receipt } from '@parley/protocol';
import { type ChatMessage, type ConversationView, MessageStatus } from '@parley/sdk';
import { describe, expect, it } from 'vitest';
import { checkHistory, type DeviceSnapshot, type HistoryInput } from '../chaos/history-checker.js';

const CONVERSATION = 'dm:alice:bob';

function stored(seq: number, senderId: string): Message {
  return {
    conversationId: CONVERSATION,
    seq,
    messageId: `m${seq}`,
    clientMessageId: `c${seq}`,
    senderId,
    senderDeviceId: 'phone',
    body: `${senderId} #${seq}`,
    serverTs: 1_000 + seq,
  };
}

const MESSAGES = [stored(1, 'alice'), stored(2, 'bob'), stored(3, 'alice')];
const RECEIPTS: Receipt[] = [
  { userId: 'alice', deliveredSeq: 3, readSeq: 2 },
  { userId: 'bob', deliveredSeq: 3, readSeq: 1 },
];

function shown(message: Message, userId: string, status: MessageStatus): ChatMessage {
  return {
    conversationId: message.conversationId,
    clientMessageId: message.clientMessageId,
    seq: message.seq,
    messageId: message.messageId,
    senderId: message.senderId,
    senderDeviceId: message.senderDeviceId,
    body: message.body ?? '',
    serverTs: message.serverTs,
    createdAt: message.serverTs,
    mine: message.senderId === userId,
    status,
  };
}

function device(userId: string, statuses: MessageStatus[], unread: number): DeviceSnapshot {
  const view: ConversationView = {
    conversationId: CONVERSATION,
    peerId: userId === 'alice' ? 'bob' : 'alice',
    lastSeq: 3,
    unread,
    updatedAt: 1_003,
  };
  return {
    deviceKey: `${userId}/phone`,
    userId,
    pending: 0,
    conversations: [view],
    timelines: new Map([
      [CONVERSATION, MESSAGES.map((m, i) => shown(m, userId, statuses[i] as MessageStatus))],
    ]),
  };
}

/** A run in which nothing went wrong: alice wrote 1 and 3, bob wrote 2; alice read up to 2, bob up to 1. */
function cleanRun(): HistoryInput {
  return {
    conversationIds: [CONVERSATION],
    written: MESSAGES.map((m) => ({
      deviceKey: `${m.senderId}/phone`,
      userId: m.senderId,
      conversationId: CONVERSATION,
      clientMessageId: m.clientMessageId,
      body: m.body ?? '',
    })),
    sentAnswers: MESSAGES.map((m) => ({
      deviceKey: `${m.senderId}/phone`,
      conversationId: CONVERSATION,
      clientMessageId: m.clientMessageId,
      seq: m.seq,
    })),
    received: MESSAGES.map((message) => ({ deviceKey: 'bob/phone', via: 'message' as const, message })),
    store: {
      conversations: new Map([[CONVERSATION, { messages: [...MESSAGES], receipts: RECEIPTS }]]),
      lists: new Map(
        ['alice', 'bob'].map((userId) => [
          userId,
          new Map([[CONVERSATION, { lastSeq: 3, receipts: RECEIPTS }]]),
        ]),
      ),
    },
    devices: [
      device('alice', [MessageStatus.Read, MessageStatus.Read, MessageStatus.Delivered], 0),
      device('bob', [MessageStatus.Read, MessageStatus.Read, MessageStatus.Sent], 1),
    ],
  };
}

function storeOf(input: HistoryInput) {
  const conversation = input.store.conversations.get(CONVERSATION);
  if (!conversation) throw new Error('no conversation');
  return conversation;
}

describe('the chaos history checker', () => {
  it('passes a run in which everything agrees', () => {
    const verdict = checkHistory(cleanRun());

    expect(verdict).toMatchObject({ ok: true, messagesWritten: 3, messagesStored: 3, eventsChecked: 3 });
  });

  it('counts a written message that was never stored as lost', () => {
    const input = cleanRun();
    input.written.push({
      deviceKey: 'alice/tablet',
      userId: 'alice',
      conversationId: CONVERSATION,
      clientMessageId: 'c-never',
      body: 'queued and gone',
    });

    const verdict = checkHistory(input);

    expect(verdict.ok).toBe(false);
    expect(verdict.lost).toEqual([expect.stringContaining('"queued and gone"')]);
  });

  it('counts a message stored under two seqs as doubled', () => {
    const input = cleanRun();
    storeOf(input).messages.push({ ...stored(4, 'alice'), clientMessageId: 'c3', body: 'alice #3' });

    const verdict = checkHistory(input);

    expect(verdict.doubled).toEqual([expect.stringContaining('seqs 3, 4')]);
  });

  it('counts the same body stored again under a new clientMessageId as doubled', () => {
    const input = cleanRun();
    storeOf(input).messages.push({ ...stored(4, 'alice'), clientMessageId: 'c-resend', body: 'alice #3' });

    const verdict = checkHistory(input);

    expect(verdict.doubled).toEqual([expect.stringContaining('seqs 3, 4')]);
    expect(verdict.unknown).toEqual([expect.stringContaining('c-resend')]);
  });

  it('finds a gap in a conversation’s seqs', () => {
    const input = cleanRun();
    storeOf(input).messages.splice(1, 1);

    const verdict = checkHistory(input);

    expect(verdict.gaps).toEqual([expect.stringContaining('seq 3 where 2 was due')]);
  });

  it('finds a `sent` answer whose seq is not the stored one', () => {
    const input = cleanRun();
    input.sentAnswers.push({
      deviceKey: 'alice/tablet',
      conversationId: CONVERSATION,
      clientMessageId: 'c1',
      seq: 2,
    });

    const verdict = checkHistory(input);

    expect(verdict.wrongSentAnswers).toEqual([expect.stringContaining('at seq 2, stored at 1')]);
  });

  it('finds a message frame that disagrees with the store at its seq', () => {
    const input = cleanRun();
    input.received.push({
      deviceKey: 'alice/phone',
      via: 'history',
      message: { ...stored(2, 'bob'), body: 'other' },
    });

    const verdict = checkHistory(input);

    expect(verdict.mismatchedEvents).toEqual([expect.stringContaining('seq 2 = "other"')]);
  });

  it('finds a device that misses a message, keeps one in its outbox, or shows other watermarks', () => {
    const input = cleanRun();
    const [alice, bob] = input.devices as [DeviceSnapshot, DeviceSnapshot];
    alice.timelines.get(CONVERSATION)?.pop();
    bob.pending = 1;
    const bobsTimeline = bob.timelines.get(CONVERSATION) as ChatMessage[];
    bobsTimeline[2] = { ...(bobsTimeline[2] as ChatMessage), status: MessageStatus.Read };
    (bob.conversations[0] as ConversationView).unread = 0;

    const verdict = checkHistory(input);

    expect(verdict.divergedDevices).toEqual([
      { deviceKey: 'alice/phone', problems: [expect.stringContaining('holds [1:c1 2:c2]')] },
      {
        deviceKey: 'bob/phone',
        problems: [
          '1 message(s) still in the outbox',
          `${CONVERSATION} seq 3: shows read, the watermarks say sent`,
          `${CONVERSATION}: shows 0 unread, the store 1`,
        ],
      },
    ]);
  });

  it('finds a conversation list entry behind the conversation', () => {
    const input = cleanRun();
    input.store.lists.set(
      'bob',
      new Map([[CONVERSATION, { lastSeq: 2, receipts: [RECEIPTS[0] as Receipt] }]]),
    );

    const verdict = checkHistory(input);

    expect(verdict.divergedLists).toEqual([
      `bob's list: ${CONVERSATION} at last seq 2, the store at 3`,
      `bob's list: ${CONVERSATION} receipts alice:3/2 bob:0/0, the store alice:3/2 bob:3/1`,
    ]);
  });
});
