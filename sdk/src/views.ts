/**
 * What an app shows: messages and conversations as views over the timelines and the
 * outbox, with each message's status read from the members' watermarks.
 */
import { type Message, membersOf } from '@parley/protocol';
import type { OutboxItem } from './outbox.js';
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

/**
 * A message as an app shows it: stored (with a `seq`) or still in the outbox.
 *
 * @example
 * client.on('message', (m: ChatMessage) => render(m.clientMessageId, m.body, m.status));
 */
export interface ChatMessage {
  conversationId: string;
  clientMessageId: string;
  /** Absent while pending. */
  seq?: number;
  messageId?: string;
  senderId: string;
  senderDeviceId?: string;
  body: string;
  /** When the server stored it; absent while pending. */
  serverTs?: number;
  /** When it was written (the server's time once stored). */
  createdAt: number;
  /** Sent by this user, from any of its devices. */
  mine: boolean;
  status: MessageStatus;
  /** Why the server refused it, when failed. */
  error?: string;
}

/**
 * One entry of the conversation list.
 *
 * @example
 * client.on('conversations', (list: ConversationView[]) => list.forEach((c) => console.log(c.peerId, c.unread)));
 */
export interface ConversationView {
  conversationId: string;
  /** The other member. */
  peerId: string;
  lastMessage?: ChatMessage;
  lastSeq: number;
  /** Messages from the peer after this user's read watermark. */
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

/**
 * The view of a stored message for `userId`: mine or not, and its status from the
 * watermarks (for mine, the peers'; for the peer's, mine).
 */
export function viewOf(timeline: Timeline, message: Message, userId: string): ChatMessage {
  const mine = message.senderId === userId;
  let status: MessageStatus;
  if (mine) {
    const peers = (membersOf(timeline.conversationId) ?? []).filter((member) => member !== userId);
    const receipts = peers.map((peer) => timeline.receiptOf(peer));
    status =
      receipts.length > 0 && receipts.every((receipt) => receipt.readSeq >= message.seq)
        ? MessageStatus.Read
        : receipts.length > 0 && receipts.every((receipt) => receipt.deliveredSeq >= message.seq)
          ? MessageStatus.Delivered
          : MessageStatus.Sent;
  } else {
    status = timeline.receiptOf(userId).readSeq >= message.seq ? MessageStatus.Read : MessageStatus.Sent;
  }
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
    mine,
    status,
  };
}

/** The view of a message still in the outbox of device `deviceId`. */
export function viewOfPending(item: OutboxItem, deviceId: string): ChatMessage {
  return {
    conversationId: item.conversationId,
    clientMessageId: item.clientMessageId,
    senderId: item.senderId,
    senderDeviceId: deviceId,
    body: item.body,
    createdAt: item.createdAt,
    mine: true,
    status: item.status === 'failed' ? MessageStatus.Failed : MessageStatus.Pending,
    ...(item.error ? { error: item.error } : {}),
  };
}

/** The presence of a user nothing is known of yet. */
export function unknownPresence(userId: string): PresenceView {
  return { userId, online: false, lastSeen: null };
}
