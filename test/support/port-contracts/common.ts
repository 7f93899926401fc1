/** What every part of the port contracts shares: how to make the stores, ids, a clock, a message. */
import { randomBytes } from 'node:crypto';
import type { Message } from '@parley/protocol';
import type {
  ConnectionStore,
  ConversationListStore,
  EventPublisher,
  GroupConnectionStore,
  GroupStore,
  MessageStore,
  PresenceStore,
  PresenceSubscriptionStore,
  PushRegistrationStore,
  ReceiptStore,
  StreamEvent,
  TypingGate,
} from '../../../lambdas/domain/ports.js';

/** How to make each store; those that read a clock read `now`. */
export interface PortFactories {
  messages: () => MessageStore;
  /** Receipts live beside the messages of a conversation: made on the same table as `messages`. */
  receipts: () => ReceiptStore;
  conversationList: (now: () => number) => ConversationListStore;
  connections: (now: () => number) => ConnectionStore;
  presence: () => PresenceStore;
  /** A group store and the message store of the same conversations, where it writes the events. */
  groups: () => { groups: GroupStore; messages: MessageStore };
  presenceSubscriptions: (now: () => number) => PresenceSubscriptionStore;
  /** The typing gate keeps its items beside the messages of a conversation. */
  typingGate: () => TypingGate;
  groupConnections: (now: () => number) => GroupConnectionStore;
  pushRegistrations: () => PushRegistrationStore;
  /** A publisher, and what a consumer of the stream reads of it: every record so far, in stream order. */
  publisher: () => {
    publisher: EventPublisher;
    published: () => Promise<Array<{ partitionKey: string; event: StreamEvent }>>;
  };
}

export const uniqueId = (prefix: string) => `${prefix}${randomBytes(4).toString('hex')}`;

/** 2025-11-28T00:33:20.123Z, in milliseconds, and in the seconds the expiries are given in. */
export const NOW = 1_764_290_000_123;
export const NOW_SECONDS = Math.floor(NOW / 1000);

export const message = (
  conversationId: string,
  seq: number,
  clientMessageId: string,
  senderId = 'alice',
): Message => ({
  conversationId,
  seq,
  messageId: `id-${seq}-${clientMessageId}`,
  clientMessageId,
  senderId,
  senderDeviceId: 'phone',
  body: `body ${seq}`,
  serverTs: 1_700_000_000_000 + seq,
});
