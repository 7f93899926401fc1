/**
 * The group rules of a chaos run's verdict, from the group events in the store:
 *
 * - every member sees exactly the messages of its membership windows (from the seq of the
 *   event that added it to the seq of the one that removed it, both included, for each time
 *   it was a member): no device receives a message outside them, in any frame, and every
 *   device holds every message inside them, in seq order, once;
 * - no text message is stored from a user who was not a member at its seq;
 * - every membership event was asked for, once, and every `groupChanged` answer with a seq
 *   names the event it made;
 * - every member's conversation list has each group it is or was in, at the last seq it
 *   may see, and says whether it is still a member.
 *
 * Pure, like the rest of the checker.
 */
import type { Message } from '@parley/protocol';
import type { ReceivedMessage } from './devices.js';

/** A membership change the run asked for, and how it was answered. */
export interface MembershipAction {
  kind: 'createGroup' | 'addMembers' | 'removeMember';
  conversationId: string;
  /** The user who asked. */
  by: string;
  /** The users to add (the creator left out), or the one user to remove. */
  userIds: string[];
  /** The seq of the `groupChanged` answer; null when it changed nothing; undefined when refused. */
  seq?: number | null;
}

/** What a group member's device holds once it caught up. */
export interface GroupDeviceSnapshot {
  deviceKey: string;
  userId: string;
  /** Requests still unanswered. */
  pending: number;
  timelines: Map<string, Message[]>;
}

export interface GroupHistoryInput {
  groupIds: string[];
  devices: GroupDeviceSnapshot[];
  /** Messages answered `forbidden`: their writer was no longer a member, so they may be missing. */
  refused: Array<{ conversationId: string; clientMessageId: string }>;
  changes: MembershipAction[];
}

/** One membership period, both ends included; `to` undefined while it lasts. */
export interface MembershipWindow {
  from: number;
  to: number | undefined;
}

export interface GroupListEntry {
  lastSeq: number;
  member?: boolean;
}

export interface GroupVerdict {
  /** Messages a device received outside its user's windows, and texts written from outside them. */
  leaked: string[];
  /** Membership events nobody asked for, or made twice; answers naming another seq. */
  wrongChanges: string[];
  divergedDevices: Array<{ deviceKey: string; problems: string[] }>;
  divergedLists: string[];
}

const isEvent = (message: Message) => message.kind !== undefined && message.kind !== 'text';

/** Each user's membership windows, from the group's events in seq order. */
export function membershipWindows(messages: Message[]): Map<string, MembershipWindow[]> {
  const windows = new Map<string, MembershipWindow[]>();
  const open = (userId: string, seq: number) => {
    const list = windows.get(userId) ?? [];
    windows.set(userId, list);
    if (list.at(-1)?.to === undefined && list.length > 0) return; // already a member
    list.push({ from: seq, to: undefined });
  };
  for (const message of [...messages].sort((a, b) => a.seq - b.seq)) {
    if (message.kind === 'group-created' || message.kind === 'members-added') {
      for (const userId of message.members ?? []) open(userId, message.seq);
    } else if (message.kind === 'member-removed' && message.userId) {
      const last = windows.get(message.userId)?.at(-1);
      if (last && last.to === undefined) last.to = message.seq;
    }
  }
  return windows;
}

export function inWindows(windows: MembershipWindow[] | undefined, seq: number): boolean {
  return (windows ?? []).some(
    (window) => seq >= window.from && (window.to === undefined || seq <= window.to),
  );
}

function describeWindows(windows: MembershipWindow[] | undefined): string {
  if (!windows?.length) return 'never a member';
  return windows.map((window) => `[${window.from}, ${window.to ?? '…'}]`).join(' ');
}

export function checkGroups(
  input: GroupHistoryInput,
  conversations: ReadonlyMap<string, { messages: Message[] }>,
  lists: ReadonlyMap<string, ReadonlyMap<string, GroupListEntry>>,
  received: ReceivedMessage[],
): GroupVerdict {
  const groups = new Set(input.groupIds);
  const windowsOf = new Map(
    input.groupIds.map((id) => [id, membershipWindows(conversations.get(id)?.messages ?? [])]),
  );
  const userOf = new Map(input.devices.map((device) => [device.deviceKey, device.userId]));
  const leaked: string[] = [];
  for (const { deviceKey, via, message } of received) {
    if (!groups.has(message.conversationId)) continue;
    const windows = windowsOf.get(message.conversationId)?.get(userOf.get(deviceKey) ?? '');
    if (!inWindows(windows, message.seq)) {
      leaked.push(
        `${deviceKey} got (${via}) ${message.conversationId} seq ${message.seq}, outside its membership ${describeWindows(windows)}`,
      );
    }
  }
  for (const conversationId of input.groupIds) {
    for (const message of conversations.get(conversationId)?.messages ?? []) {
      const windows = windowsOf.get(conversationId)?.get(message.senderId);
      if (!isEvent(message) && !inWindows(windows, message.seq)) {
        leaked.push(
          `${conversationId} seq ${message.seq}: a text by ${message.senderId}, outside its membership ${describeWindows(windows)}`,
        );
      }
    }
  }
  return {
    leaked,
    wrongChanges: changeProblems(input, conversations),
    divergedDevices: input.devices
      .map((device) => ({
        deviceKey: device.deviceKey,
        problems: deviceProblems(device, input, conversations, windowsOf),
      }))
      .filter((device) => device.problems.length > 0),
    divergedLists: listProblems(input, conversations, lists, windowsOf),
  };
}

function deviceProblems(
  device: GroupDeviceSnapshot,
  input: GroupHistoryInput,
  conversations: ReadonlyMap<string, { messages: Message[] }>,
  windowsOf: Map<string, Map<string, MembershipWindow[]>>,
): string[] {
  const problems: string[] = [];
  if (device.pending > 0) problems.push(`${device.pending} request(s) still unanswered`);
  for (const conversationId of input.groupIds) {
    const windows = windowsOf.get(conversationId)?.get(device.userId);
    const expected = (conversations.get(conversationId)?.messages ?? [])
      .filter((message) => inWindows(windows, message.seq))
      .sort((a, b) => a.seq - b.seq)
      .map((message) => `${message.seq}:${message.clientMessageId}`)
      .join(' ');
    const held = (device.timelines.get(conversationId) ?? [])
      .map((message) => `${message.seq}:${message.clientMessageId}`)
      .join(' ');
    if (held !== expected) {
      // The seqs that differ say more than two long lists: a missing tail, a stray message.
      const heldSet = new Set(held.split(' '));
      const expectedSet = new Set(expected.split(' '));
      const missing = [...expectedSet].filter((entry) => entry !== '' && !heldSet.has(entry));
      const extra = [...heldSet].filter((entry) => entry !== '' && !expectedSet.has(entry));
      problems.push(
        `${conversationId} (${describeWindows(windows)}): misses [${clip(missing.join(' '))}], holds beyond its windows or twice [${clip(extra.join(' '))}]`,
      );
    }
  }
  return problems;
}

function listProblems(
  input: GroupHistoryInput,
  conversations: ReadonlyMap<string, { messages: Message[] }>,
  lists: ReadonlyMap<string, ReadonlyMap<string, GroupListEntry>>,
  windowsOf: Map<string, Map<string, MembershipWindow[]>>,
): string[] {
  const problems: string[] = [];
  for (const conversationId of input.groupIds) {
    for (const [userId, windows] of windowsOf.get(conversationId) ?? new Map<string, MembershipWindow[]>()) {
      const last = windows.at(-1);
      if (!last) continue;
      const entry = lists.get(userId)?.get(conversationId);
      if (!entry) {
        problems.push(`${userId}'s list has no entry for ${conversationId}`);
        continue;
      }
      const member = last.to === undefined;
      const lastSeq = (conversations.get(conversationId)?.messages ?? []).reduce(
        (max, m) => Math.max(max, m.seq),
        0,
      );
      const visible = member ? lastSeq : (last.to as number);
      if (entry.lastSeq !== visible || entry.member !== member) {
        problems.push(
          `${userId}'s list: ${conversationId} at last seq ${entry.lastSeq}, member ${entry.member}; ` +
            `its windows ${describeWindows(windows)} say ${visible}, member ${member}`,
        );
      }
    }
  }
  return problems;
}

function changeProblems(
  input: GroupHistoryInput,
  conversations: ReadonlyMap<string, { messages: Message[] }>,
): string[] {
  const problems: string[] = [];
  const matched = new Set<MembershipAction>();
  for (const conversationId of input.groupIds) {
    const actions = input.changes.filter((action) => action.conversationId === conversationId);
    const messages = [...(conversations.get(conversationId)?.messages ?? [])].sort((a, b) => a.seq - b.seq);
    for (const event of messages.filter(isEvent)) {
      if (event.kind === 'admin-changed' || event.kind === 'title-changed') continue;
      const fits = actions.filter((action) => !matched.has(action) && madeBy(action, event));
      const action =
        fits.find((candidate) => candidate.seq === event.seq) ??
        fits.find((candidate) => candidate.seq == null);
      if (!action) {
        problems.push(
          `${conversationId} seq ${event.seq}: ${describeEvent(event)}, which nobody asked for (or asked once and got twice)`,
        );
        continue;
      }
      matched.add(action);
    }
  }
  for (const action of input.changes) {
    if (typeof action.seq === 'number' && !matched.has(action)) {
      const stored = conversations
        .get(action.conversationId)
        ?.messages.find((message) => message.seq === action.seq);
      problems.push(
        `${action.by}'s ${action.kind} ${action.userIds.join(',')} was answered seq ${action.seq}; the store has ${stored ? describeEvent(stored) : 'nothing'} there`,
      );
    }
  }
  return problems;
}

function madeBy(action: MembershipAction, event: Message): boolean {
  if (event.senderId !== action.by) return false;
  const members = new Set(event.members ?? []);
  switch (action.kind) {
    case 'createGroup':
      return (
        event.kind === 'group-created' &&
        [action.by, ...action.userIds].every((userId) => members.has(userId))
      );
    case 'addMembers':
      return (
        event.kind === 'members-added' && [...members].every((userId) => action.userIds.includes(userId))
      );
    case 'removeMember':
      return event.kind === 'member-removed' && event.userId === action.userIds[0];
  }
}

function describeEvent(message: Message): string {
  if (!isEvent(message)) return `a text by ${message.senderId}`;
  const whom = message.members?.join(',') ?? message.userId ?? '';
  return `${message.kind} ${whom} by ${message.senderId}`;
}

/** A long list cut in its middle, so that one report line stays readable. */
export function clip(text: string): string {
  return text.length <= 300 ? text : `${text.slice(0, 140)} … ${text.slice(-140)}`;
}
