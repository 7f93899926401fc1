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

const GROUP = 'grp:g';

function groupMessage(seq: number, senderId: string, fields: Partial<Message> = {}): Message {
  return {
    conversationId: GROUP,
    seq,
    messageId: `g${seq}`,
    clientMessageId: fields.kind ? `g${seq}` : `t${seq}`,
    senderId,
    senderDeviceId: 'phone',
    ...(fields.kind ? {} : { kind: 'text' as const, body: `${senderId} in the group #${seq}` }),
    serverTs: 2_000 + seq,
    ...fields,
  };
}

/**
 * carol creates the group with dave and erin (1), removes erin (3) and adds her back (5);
 * dave leaves (7). Windows: carol [1, …], dave [1, 7], erin [1, 3] and [5, …].
 */
const GROUP_MESSAGES = [
  groupMessage(1, 'carol', { kind: 'group-created', title: 'Lunch', members: ['carol', 'dave', 'erin'] }),
  groupMessage(2, 'dave'),
  groupMessage(3, 'carol', { kind: 'member-removed', userId: 'erin' }),
  groupMessage(4, 'carol'),
  groupMessage(5, 'carol', { kind: 'members-added', members: ['erin'] }),
  groupMessage(6, 'erin'),
  groupMessage(7, 'dave', { kind: 'member-removed', userId: 'dave' }),
  groupMessage(8, 'carol'),
];
const SEES: Record<string, number[]> = {
  carol: [1, 2, 3, 4, 5, 6, 7, 8],
  dave: [1, 2, 3, 4, 5, 6, 7],
  erin: [1, 2, 3, 5, 6, 7, 8],
};
const atSeqs = (seqs: number[]) => seqs.map((seq) => GROUP_MESSAGES[seq - 1] as Message);

/** A group run in which nothing went wrong: every member's phone holds and received exactly its windows. */
function cleanGroupRun(): HistoryInput & { groups: NonNullable<HistoryInput['groups']> } {
  const texts = GROUP_MESSAGES.filter((m) => m.kind === 'text');
  const users = Object.keys(SEES);
  return {
    conversationIds: [],
    written: texts.map((m) => ({
      deviceKey: `${m.senderId}/phone`,
      userId: m.senderId,
      conversationId: GROUP,
      clientMessageId: m.clientMessageId,
      body: m.body ?? '',
    })),
    sentAnswers: texts.map((m) => ({
      deviceKey: `${m.senderId}/phone`,
      conversationId: GROUP,
      clientMessageId: m.clientMessageId,
      seq: m.seq,
    })),
    received: users.flatMap((userId) =>
      atSeqs(SEES[userId] as number[]).map((message) => ({
        deviceKey: `${userId}/phone`,
        via: 'message' as const,
        message,
      })),
    ),
    store: {
      conversations: new Map([[GROUP, { messages: [...GROUP_MESSAGES], receipts: [] }]]),
      lists: new Map(
        users.map((userId) => [
          userId,
          new Map([[GROUP, { lastSeq: userId === 'dave' ? 7 : 8, receipts: [], member: userId !== 'dave' }]]),
        ]),
      ),
    },
    devices: [],
    groups: {
      groupIds: [GROUP],
      devices: users.map((userId) => ({
        deviceKey: `${userId}/phone`,
        userId,
        pending: 0,
        timelines: new Map([[GROUP, atSeqs(SEES[userId] as number[])]]),
      })),
      refused: [],
      changes: [
        { kind: 'createGroup', conversationId: GROUP, by: 'carol', userIds: ['dave', 'erin'], seq: 1 },
        { kind: 'removeMember', conversationId: GROUP, by: 'carol', userIds: ['erin'], seq: 3 },
        // Its first answer was lost: the repeat changed nothing.
        { kind: 'addMembers', conversationId: GROUP, by: 'carol', userIds: ['erin'], seq: null },
        { kind: 'removeMember', conversationId: GROUP, by: 'dave', userIds: ['dave'], seq: 7 },
      ],
    },
  };
}

function groupDevice(input: ReturnType<typeof cleanGroupRun>, userId: string) {
  const found = input.groups.devices.find((d) => d.userId === userId);
  if (!found) throw new Error(`no device of ${userId}`);
  return found;
}

describe('the chaos history checker in groups', () => {
  it('passes a group run in which every member saw exactly its membership windows', () => {
    const verdict = checkHistory(cleanGroupRun());

    expect(verdict).toMatchObject({ ok: true, leaked: [], wrongChanges: [], divergedDevices: [] });
  });

  it('fails a run in which a removed member receives a message sent after its removal', () => {
    const input = cleanGroupRun();
    input.received.push({ deviceKey: 'erin/phone', via: 'message', message: GROUP_MESSAGES[3] as Message });
    input.received.push({ deviceKey: 'dave/phone', via: 'history', message: GROUP_MESSAGES[7] as Message });

    const verdict = checkHistory(input);

    expect(verdict.ok).toBe(false);
    expect(verdict.leaked).toEqual([
      `erin/phone got (message) ${GROUP} seq 4, outside its membership [1, 3] [5, …]`,
      `dave/phone got (history) ${GROUP} seq 8, outside its membership [1, 7]`,
    ]);
  });

  it('fails a run in which a member added back misses a message after its join', () => {
    const input = cleanGroupRun();
    groupDevice(input, 'erin').timelines.set(GROUP, atSeqs([1, 2, 3, 5, 7, 8]));

    const verdict = checkHistory(input);

    expect(verdict.ok).toBe(false);
    expect(verdict.divergedDevices).toEqual([
      {
        deviceKey: 'erin/phone',
        problems: [expect.stringMatching(/misses \[6:\w+\], holds beyond its windows or twice \[\]$/)],
      },
    ]);
  });

  it('fails a device that holds a message twice, out of order, or one outside its windows', () => {
    const input = cleanGroupRun();
    groupDevice(input, 'carol').timelines.set(GROUP, atSeqs([1, 2, 3, 4, 5, 6, 6, 7, 8]));
    groupDevice(input, 'dave').timelines.set(GROUP, atSeqs([1, 3, 2, 4, 5, 6, 7]));
    groupDevice(input, 'erin').timelines.set(GROUP, atSeqs([1, 2, 3, 4, 5, 6, 7, 8]));

    const verdict = checkHistory(input);

    expect(verdict.divergedDevices.map((d) => d.deviceKey)).toEqual([
      'carol/phone',
      'dave/phone',
      'erin/phone',
    ]);
  });

  it('fails a text stored from a user after its removal', () => {
    const input = cleanGroupRun();
    const late = groupMessage(9, 'dave');
    input.store.conversations.get(GROUP)?.messages.push(late);
    input.written.push({
      deviceKey: 'dave/phone',
      userId: 'dave',
      conversationId: GROUP,
      clientMessageId: 't9',
      body: late.body ?? '',
    });
    for (const device of input.groups.devices) {
      if (device.userId !== 'dave') device.timelines.get(GROUP)?.push(late);
    }
    for (const userId of ['carol', 'erin'])
      input.store.lists.get(userId)?.set(GROUP, { lastSeq: 9, receipts: [], member: true });

    const verdict = checkHistory(input);

    expect(verdict.leaked).toEqual([`${GROUP} seq 9: a text by dave, outside its membership [1, 7]`]);
  });

  it('counts a message refused as forbidden as not lost when it is not stored, and one that was not refused as lost', () => {
    const input = cleanGroupRun();
    const write = (clientMessageId: string) => ({
      deviceKey: 'dave/phone',
      userId: 'dave',
      conversationId: GROUP,
      clientMessageId,
      body: clientMessageId,
    });
    input.written.push(write('refused'), write('vanished'));
    input.groups.refused.push({ conversationId: GROUP, clientMessageId: 'refused' });

    const verdict = checkHistory(input);

    expect(verdict.lost).toEqual([expect.stringContaining('"vanished"')]);
  });

  it('finds a membership event nobody asked for, and an answer naming another seq', () => {
    const input = cleanGroupRun();
    input.groups.changes[1] = {
      ...(input.groups.changes[1] as (typeof input.groups.changes)[number]),
      seq: 4,
    };
    input.groups.changes.pop();

    const verdict = checkHistory(input);

    expect(verdict.wrongChanges).toEqual([
      `${GROUP} seq 3: member-removed erin by carol, which nobody asked for (or asked once and got twice)`,
      `${GROUP} seq 7: member-removed dave by dave, which nobody asked for (or asked once and got twice)`,
      "carol's removeMember erin was answered seq 4; the store has a text by carol there",
    ]);
  });

  it('finds a list that still counts a member who left, or is behind its windows', () => {
    const input = cleanGroupRun();
    input.store.lists.get('dave')?.set(GROUP, { lastSeq: 8, receipts: [], member: true });
    input.store.lists.get('erin')?.delete(GROUP);

    const verdict = checkHistory(input);

    expect(verdict.divergedLists).toEqual([
      `dave's list: ${GROUP} at last seq 8, member true; its windows [1, 7] say 7, member false`,
      `erin's list has no entry for ${GROUP}`,
    ]);
  });
});
