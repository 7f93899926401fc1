/**
 * The verdict of a chaos run, from what the users wrote, what the devices received and
 * hold, and what the store holds once everything settled:
 *
 * - every message a user wrote is stored exactly once (lost 0, doubled 0), and nothing is
 *   stored that nobody wrote;
 * - every `sent` answer names the seq the message is stored under;
 * - every conversation is gapless: seqs 1 to n;
 * - every message a device received, in any frame, agrees with the store at its seq;
 * - every device holds exactly the stored history of each of its user's conversations, in
 *   seq order, with nothing left in its outbox, and shows the stored watermarks (unread
 *   counts, ticks);
 * - every user's conversation list has each conversation's last seq and watermarks;
 * - in groups, the rules of `group-history.ts`: every member sees exactly the messages of
 *   its membership windows, in order, once, on every device.
 *
 * A pure function, so that its own tests can show that it catches each kind of fault.
 */

import type { Message, Receipt } from '@parley/protocol';
import { membersOf } from '@parley/protocol';
import { type ChatMessage, type ConversationView, MessageStatus } from '@parley/sdk';
import type { ReceivedMessage, SentAnswer, WrittenMessage } from './devices.js';
import { checkGroups, clip, type GroupHistoryInput } from './group-history.js';

export interface StoredConversation {
  messages: Message[];
  receipts: Receipt[];
}

export interface ListEntry {
  lastSeq: number;
  receipts: Receipt[];
  /** Groups: false once the user left or was removed. */
  member?: boolean;
}

export interface StoreSnapshot {
  conversations: Map<string, StoredConversation>;
  /** Each user's conversation-list entries, by conversation id. */
  lists: Map<string, Map<string, ListEntry>>;
}

/** What a device's client shows once it caught up. */
export interface DeviceSnapshot {
  deviceKey: string;
  userId: string;
  pending: number;
  conversations: ConversationView[];
  timelines: Map<string, ChatMessage[]>;
}

export interface HistoryInput {
  conversationIds: string[];
  written: WrittenMessage[];
  sentAnswers: SentAnswer[];
  received: ReceivedMessage[];
  store: StoreSnapshot;
  devices: DeviceSnapshot[];
  /** The run's groups, their members' devices and membership changes; their messages are in `store` and `written`. */
  groups?: GroupHistoryInput;
}

export interface HistoryVerdict {
  messagesWritten: number;
  messagesStored: number;
  eventsChecked: number;
  /** Written, in an outbox, and not stored. */
  lost: string[];
  /** Stored more than once (same clientMessageId, or the same body under another one). */
  doubled: string[];
  /** Stored, but written by nobody. */
  unknown: string[];
  gaps: string[];
  wrongSentAnswers: string[];
  mismatchedEvents: string[];
  divergedDevices: Array<{ deviceKey: string; problems: string[] }>;
  divergedLists: string[];
  /** Group messages a device received outside its user's membership, and texts written from outside it. */
  leaked: string[];
  /** Group membership events nobody asked for or made twice, and answers naming another seq. */
  wrongChanges: string[];
  ok: boolean;
}

/** At most this many problems are listed per device, so one broken device cannot flood the report. */
const PROBLEMS_PER_DEVICE = 10;

export function checkHistory(input: HistoryInput): HistoryVerdict {
  const { store } = input;
  const lost: string[] = [];
  const doubled: string[] = [];
  const unknown: string[] = [];
  const gaps: string[] = [];
  const wrongSentAnswers: string[] = [];
  const mismatchedEvents: string[] = [];

  const storedById = new Map<string, Message[]>();
  const storedByBody = new Map<string, Message[]>();
  let messagesStored = 0;
  for (const [conversationId, conversation] of store.conversations) {
    messagesStored += conversation.messages.length;
    for (const message of conversation.messages) {
      push(storedById, `${conversationId} ${message.clientMessageId}`, message);
      push(storedByBody, `${conversationId} ${message.senderId} ${message.body}`, message);
    }
    const seqs = conversation.messages.map((message) => message.seq).sort((a, b) => a - b);
    const gapAt = seqs.findIndex((seq, index) => seq !== index + 1);
    if (gapAt >= 0) {
      gaps.push(
        `${conversationId}: seq ${seqs[gapAt]} where ${gapAt + 1} was due (seqs ${describeRange(seqs)})`,
      );
    }
  }

  const writtenIds = new Set<string>();
  // A group member's message refused because it was no longer a member may or may not be stored.
  const refused = new Set(
    (input.groups?.refused ?? []).map((r) => `${r.conversationId} ${r.clientMessageId}`),
  );
  for (const written of input.written) {
    const id = `${written.conversationId} ${written.clientMessageId}`;
    writtenIds.add(id);
    const stored = storedById.get(id) ?? [];
    const sameBody = storedByBody.get(`${written.conversationId} ${written.userId} ${written.body}`) ?? [];
    if (stored.length === 0 && refused.has(id)) continue;
    if (stored.length === 0) lost.push(`${written.deviceKey} wrote "${written.body}" (${id}): not stored`);
    else if (stored.length > 1 || sameBody.length > 1) {
      const seqs = [...new Set([...stored, ...sameBody].map((message) => message.seq))];
      doubled.push(`${written.deviceKey} wrote "${written.body}" (${id}): stored at seqs ${seqs.join(', ')}`);
    }
  }
  for (const [id, messages] of storedById) {
    // A group's membership events are written by the server; the group rules check them.
    if (messages.every((m) => m.kind !== undefined && m.kind !== 'text')) continue;
    if (!writtenIds.has(id))
      unknown.push(`${id}: stored at seq ${messages.map((m) => m.seq).join(', ')}, written by nobody`);
  }

  for (const answer of input.sentAnswers) {
    const stored = storedById.get(`${answer.conversationId} ${answer.clientMessageId}`) ?? [];
    if (!stored.some((message) => message.seq === answer.seq)) {
      wrongSentAnswers.push(
        `${answer.deviceKey}: sent ${answer.clientMessageId} at seq ${answer.seq}, stored at ${stored.map((m) => m.seq).join(', ') || 'no seq'}`,
      );
    }
  }

  const storedAt = new Map<string, Message>();
  for (const [conversationId, conversation] of store.conversations) {
    for (const message of conversation.messages) storedAt.set(`${conversationId} ${message.seq}`, message);
  }
  for (const { deviceKey, via, message } of input.received) {
    const stored = storedAt.get(`${message.conversationId} ${message.seq}`);
    const same =
      stored &&
      stored.clientMessageId === message.clientMessageId &&
      stored.messageId === message.messageId &&
      stored.senderId === message.senderId &&
      stored.body === message.body;
    if (!same) {
      mismatchedEvents.push(
        `${deviceKey} got (${via}) ${message.conversationId} seq ${message.seq} = "${message.body}" (${message.clientMessageId}); ` +
          `the store has ${stored ? `"${stored.body}" (${stored.clientMessageId})` : 'nothing'}`,
      );
    }
  }

  const divergedDevices = input.devices
    .map((device) => ({ deviceKey: device.deviceKey, problems: deviceProblems(device, input) }))
    .filter((device) => device.problems.length > 0);
  const divergedLists = listProblems(input);
  const groups = input.groups
    ? checkGroups(input.groups, store.conversations, store.lists, input.received)
    : { leaked: [], wrongChanges: [], divergedDevices: [], divergedLists: [] };
  divergedDevices.push(...groups.divergedDevices);
  divergedLists.push(...groups.divergedLists);
  const { leaked, wrongChanges } = groups;

  const ok =
    lost.length === 0 &&
    doubled.length === 0 &&
    unknown.length === 0 &&
    gaps.length === 0 &&
    wrongSentAnswers.length === 0 &&
    mismatchedEvents.length === 0 &&
    divergedDevices.length === 0 &&
    divergedLists.length === 0 &&
    leaked.length === 0 &&
    wrongChanges.length === 0;
  return {
    messagesWritten: input.written.length,
    messagesStored,
    eventsChecked: input.received.length,
    lost,
    doubled,
    unknown,
    gaps,
    wrongSentAnswers,
    mismatchedEvents,
    divergedDevices,
    divergedLists,
    leaked,
    wrongChanges,
    ok,
  };
}

function deviceProblems(device: DeviceSnapshot, input: HistoryInput): string[] {
  const problems: string[] = [];
  if (device.pending > 0) problems.push(`${device.pending} message(s) still in the outbox`);
  const views = new Map(device.conversations.map((view) => [view.conversationId, view]));
  for (const conversationId of conversationsOf(device.userId, input.conversationIds)) {
    const truth = input.store.conversations.get(conversationId) ?? { messages: [], receipts: [] };
    const expected = [...truth.messages].sort((a, b) => a.seq - b.seq);
    const held = device.timelines.get(conversationId) ?? [];
    const heldText = held.map((m) => `${m.seq ?? 'pending'}:${m.clientMessageId}`).join(' ');
    const expectedText = expected.map((m) => `${m.seq}:${m.clientMessageId}`).join(' ');
    if (heldText !== expectedText) {
      problems.push(`${conversationId}: holds [${clip(heldText)}], the store has [${clip(expectedText)}]`);
      continue;
    }
    const watermark = (userId: string) =>
      truth.receipts.find((receipt) => receipt.userId === userId) ?? { userId, deliveredSeq: 0, readSeq: 0 };
    const peer = membersOf(conversationId)?.find((member) => member !== device.userId) ?? device.userId;
    const own = watermark(device.userId);
    const theirs = watermark(peer);
    for (const [index, message] of held.entries()) {
      const stored = expected[index] as Message;
      if (message.body !== stored.body)
        problems.push(`${conversationId} seq ${stored.seq}: body differs from the store`);
      const status = expectedStatus(stored, device.userId, own, theirs);
      if (message.status !== status) {
        problems.push(
          `${conversationId} seq ${stored.seq}: shows ${message.status}, the watermarks say ${status}`,
        );
      }
    }
    const lastSeq = expected.at(-1)?.seq ?? 0;
    const view = views.get(conversationId);
    if (lastSeq > 0 && !view) problems.push(`${conversationId}: missing from the conversation list`);
    if (view) {
      if (view.lastSeq !== lastSeq)
        problems.push(`${conversationId}: list shows last seq ${view.lastSeq}, the store ${lastSeq}`);
      const unread = expected.filter((m) => m.senderId !== device.userId && m.seq > own.readSeq).length;
      if (view.unread !== unread)
        problems.push(`${conversationId}: shows ${view.unread} unread, the store ${unread}`);
    }
  }
  return problems.length > PROBLEMS_PER_DEVICE
    ? [...problems.slice(0, PROBLEMS_PER_DEVICE), `… and ${problems.length - PROBLEMS_PER_DEVICE} more`]
    : problems;
}

function expectedStatus(message: Message, userId: string, own: Receipt, theirs: Receipt): MessageStatus {
  if (message.senderId !== userId)
    return own.readSeq >= message.seq ? MessageStatus.Read : MessageStatus.Sent;
  if (theirs.readSeq >= message.seq) return MessageStatus.Read;
  return theirs.deliveredSeq >= message.seq ? MessageStatus.Delivered : MessageStatus.Sent;
}

function listProblems(input: HistoryInput): string[] {
  const problems: string[] = [];
  const users = new Set(input.conversationIds.flatMap((id) => membersOf(id) ?? []));
  for (const userId of users) {
    const list = input.store.lists.get(userId) ?? new Map<string, ListEntry>();
    for (const conversationId of conversationsOf(userId, input.conversationIds)) {
      const truth = input.store.conversations.get(conversationId);
      const lastSeq = truth?.messages.reduce((max, m) => Math.max(max, m.seq), 0) ?? 0;
      if (lastSeq === 0) continue;
      const entry = list.get(conversationId);
      if (!entry) {
        problems.push(`${userId}'s list has no entry for ${conversationId}`);
        continue;
      }
      if (entry.lastSeq !== lastSeq) {
        problems.push(
          `${userId}'s list: ${conversationId} at last seq ${entry.lastSeq}, the store at ${lastSeq}`,
        );
      }
      const want = receiptsText(truth?.receipts ?? [], conversationId);
      const got = receiptsText(entry.receipts, conversationId);
      if (want !== got)
        problems.push(`${userId}'s list: ${conversationId} receipts ${got}, the store ${want}`);
    }
  }
  return problems;
}

function receiptsText(receipts: Receipt[], conversationId: string): string {
  return (membersOf(conversationId) ?? [])
    .map((userId) => {
      const receipt = receipts.find((r) => r.userId === userId);
      return `${userId}:${receipt?.deliveredSeq ?? 0}/${receipt?.readSeq ?? 0}`;
    })
    .join(' ');
}

function conversationsOf(userId: string, conversationIds: string[]): string[] {
  return conversationIds.filter((id) => membersOf(id)?.includes(userId));
}

function push<V>(map: Map<string, V[]>, key: string, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function describeRange(seqs: number[]): string {
  return seqs.length <= 12
    ? seqs.join(', ')
    : `${seqs.slice(0, 5).join(', ')} … ${seqs.slice(-5).join(', ')}`;
}
