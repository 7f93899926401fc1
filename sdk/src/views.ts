/**
 * What an app shows: messages and conversations as views over the timelines and the
 * outbox, with each message's status read from the members' watermarks.
 */
import { type ConversationKind, type Message, membersOf } from '@parley/protocol';
import type { OutboxEntry } from './outbox.js';
import type { Timeline } from './timeline.js';

/**
 * Where one message stands, as its sender sees it.
 *
 * @example
 * const ticks = { [MessageStatus.Sent]: '✓', [MessageStatus.Delivered]: '✓✓' }[message.status];
 */
export enum MessageStatus {
  /** In the outbox, not confirmed by the server yet (a clock). */
  Pending = 'pending',
  /** Stored by the server (one tick); for a message from someone else: not read yet. */
  Sent = 'sent',
  /** On at least one of the recipient's devices (two ticks). */
  Delivered = 'delivered',
  /** Read by the recipient (two coloured ticks); for a message from someone else: read by you. */
  Read = 'read',
  /** Refused by the server; it will not be sent again unless retried. */
  Failed = 'failed',
}

/** What every message view has, text or membership event. */
interface ChatMessageBase {
  conversationId: string;
  clientMessageId: string;
  /** Absent while pending. */
  seq?: number;
  messageId?: string;
  /** The author, or the member who changed the group. */
  senderId: string;
  senderDeviceId?: string;
  /** The text; empty for a membership event and for an erased message. */
  body: string;
  /** Its sender was erased: it keeps its place (its seq) and has no text (protocol 1.3). */
  erased?: boolean;
  /** When the server stored it; absent while pending. */
  serverTs?: number;
  /** When it was written (the server's time once stored). */
  createdAt: number;
  /** Sent by this user, from any of its devices. */
  mine: boolean;
  /**
   * For this user's messages: in a one-to-one conversation, what the peer has; in a group,
   * what every member has (`delivered` to all, `read` by all).
   */
  status: MessageStatus;
  /** Why the server refused it, when failed. */
  error?: string;
  /** Groups only, once stored: every current member has it (the `groupReceipt` watermarks). */
  deliveredToAll?: boolean;
  /** Groups only, once stored: every current member has read it. */
  readByAll?: boolean;
}

/**
 * A text message. The SDK always sets `kind`; the type leaves it optional so that views an
 * app built itself before groups existed still compile: absent means text.
 */
export interface TextMessage extends ChatMessageBase {
  kind?: 'text';
}

/** The group was created: its title and every member, the creator included. */
export interface GroupCreatedMessage extends ChatMessageBase {
  kind: 'group-created';
  title: string;
  members: string[];
}

/** Users joined the group. */
export interface MembersAddedMessage extends ChatMessageBase {
  kind: 'members-added';
  members: string[];
}

/** A member left (`userId === senderId`) or was removed. */
export interface MemberRemovedMessage extends ChatMessageBase {
  kind: 'member-removed';
  userId: string;
}

export interface TitleChangedMessage extends ChatMessageBase {
  kind: 'title-changed';
  title: string;
}

/** A member became admin, or stopped being one. */
export interface AdminChangedMessage extends ChatMessageBase {
  kind: 'admin-changed';
  userId: string;
  admin: boolean;
}

/** A group's membership event, as a message of its timeline. */
export type GroupEventMessage =
  | GroupCreatedMessage
  | MembersAddedMessage
  | MemberRemovedMessage
  | TitleChangedMessage
  | AdminChangedMessage;

/**
 * A message as an app shows it: stored (with a `seq`) or still in the outbox; text, or one
 * of a group's membership events, told apart by `kind`.
 *
 * @example
 * client.on('message', (m: ChatMessage) => {
 *   if (m.kind === 'members-added') render(m.clientMessageId, `${m.senderId} added ${m.members.join(', ')}`);
 *   else if (!isGroupEvent(m)) render(m.clientMessageId, m.body, m.status);
 * });
 */
export type ChatMessage = TextMessage | GroupEventMessage;

/**
 * True for a group's membership event, false for a text message.
 *
 * @example
 * const text = client.messages(id).filter((m) => !isGroupEvent(m));
 */
export function isGroupEvent(message: ChatMessage): message is GroupEventMessage {
  return message.kind !== undefined && message.kind !== 'text';
}

/** "Everyone has … up to": the lowest watermarks over a group's current members. */
export interface EveryoneView {
  deliveredSeq: number;
  readSeq: number;
}

/**
 * One entry of the conversation list: a one-to-one conversation or a group.
 *
 * @example
 * client.on('conversations', (list: ConversationView[]) =>
 *   list.forEach((c) => console.log(c.kind === 'group' ? c.title : c.peerId, c.unread)));
 */
export interface ConversationView {
  conversationId: string;
  /**
   * `dm` or `group`. The SDK always sets it; optional in the type so that views an app
   * built itself before groups existed still compile: absent means `dm`.
   */
  kind?: ConversationKind;
  /** The other member of a one-to-one conversation; empty for a group. */
  peerId: string;
  /** Group: its title, once known (from the list, an event or `groupInfo`). */
  title?: string;
  /** Group: its current members, once known. */
  memberCount?: number;
  /** Group: false once this user left or was removed (the conversation stays, up to then). */
  member?: boolean;
  /** Group: the lowest watermarks over its members. */
  everyone?: EveryoneView;
  lastMessage?: ChatMessage;
  lastSeq: number;
  /**
   * The messages up to this seq are gone from the server (past its retention period): those
   * this device did not get in time never come. Absent while none is known to be.
   */
  goneThrough?: number;
  /** Messages from others after this user's read watermark (membership events not counted). */
  unread: number;
  updatedAt: number;
}

/**
 * A user's presence.
 *
 * @example
 * client.on('presence', (users: PresenceView[]) => users.forEach((u) => dot(u.userId, u.online)));
 */
export interface PresenceView {
  userId: string;
  online: boolean;
  /** When the user's last connection closed; null while online or never seen. */
  lastSeen: number | null;
}

/**
 * A peer started or stopped typing.
 *
 * @example
 * client.on('typing', (e: TypingEvent) => (indicator.hidden = !e.typing));
 */
export interface TypingEvent {
  conversationId: string;
  userId: string;
  typing: boolean;
}

/** The fields of a message or event that say what it is, as the protocol carries them. */
type KindFields = Pick<Message, 'kind' | 'title' | 'members' | 'userId' | 'admin'>;

/** The view with its `kind` and the event's fields (a message without kind is text). */
function withKind(base: ChatMessageBase, fields: KindFields): ChatMessage {
  switch (fields.kind) {
    case 'group-created':
      return { ...base, kind: fields.kind, title: fields.title ?? '', members: fields.members ?? [] };
    case 'members-added':
      return { ...base, kind: fields.kind, members: fields.members ?? [] };
    case 'member-removed':
      return { ...base, kind: fields.kind, userId: fields.userId ?? '' };
    case 'title-changed':
      return { ...base, kind: fields.kind, title: fields.title ?? '' };
    case 'admin-changed':
      return { ...base, kind: fields.kind, userId: fields.userId ?? '', admin: fields.admin ?? false };
    default:
      return { ...base, kind: 'text' };
  }
}

/** Where this user's stored message stands: the peer's watermarks, or in a group everyone's. */
function statusOfMine(timeline: Timeline, seq: number, userId: string): MessageStatus {
  const everyone = timeline.everyone;
  if (everyone) {
    if (everyone.readSeq >= seq) return MessageStatus.Read;
    return everyone.deliveredSeq >= seq ? MessageStatus.Delivered : MessageStatus.Sent;
  }
  const peers = (membersOf(timeline.conversationId) ?? []).filter((member) => member !== userId);
  const receipts = peers.map((peer) => timeline.receiptOf(peer));
  if (receipts.length > 0 && receipts.every((receipt) => receipt.readSeq >= seq)) return MessageStatus.Read;
  return receipts.length > 0 && receipts.every((receipt) => receipt.deliveredSeq >= seq)
    ? MessageStatus.Delivered
    : MessageStatus.Sent;
}

/**
 * The view of a stored message for `userId`: mine or not, and its status from the
 * watermarks (for mine, the peers' or in a group everyone's; for someone else's, mine).
 */
export function viewOf(timeline: Timeline, message: Message, userId: string): ChatMessage {
  const mine = message.senderId === userId;
  const status = mine
    ? statusOfMine(timeline, message.seq, userId)
    : timeline.receiptOf(userId).readSeq >= message.seq
      ? MessageStatus.Read
      : MessageStatus.Sent;
  const everyone = timeline.everyone;
  const base: ChatMessageBase = {
    conversationId: message.conversationId,
    clientMessageId: message.clientMessageId,
    seq: message.seq,
    messageId: message.messageId,
    senderId: message.senderId,
    senderDeviceId: message.senderDeviceId,
    body: message.body ?? '',
    ...(message.erased ? { erased: true } : {}),
    serverTs: message.serverTs,
    createdAt: message.serverTs,
    mine,
    status,
    ...(everyone
      ? { deliveredToAll: everyone.deliveredSeq >= message.seq, readByAll: everyone.readSeq >= message.seq }
      : {}),
  };
  return withKind(base, message);
}

/** The view of a message (or a group's creation) still in the outbox of device `deviceId`. */
export function viewOfPending(item: OutboxEntry, deviceId: string): ChatMessage {
  const base: ChatMessageBase = {
    conversationId: item.conversationId,
    clientMessageId: item.clientMessageId,
    senderId: item.senderId,
    senderDeviceId: deviceId,
    body: item.kind === 'group-created' ? '' : item.body,
    createdAt: item.createdAt,
    mine: true,
    status: item.status === 'failed' ? MessageStatus.Failed : MessageStatus.Pending,
    ...(item.error ? { error: item.error } : {}),
  };
  if (item.kind !== 'group-created') return withKind(base, {});
  return withKind(base, { kind: item.kind, title: item.title, members: [item.senderId, ...item.members] });
}

/** The presence of a user nothing is known of yet. */
export function unknownPresence(userId: string): PresenceView {
  return { userId, online: false, lastSeen: null };
}
