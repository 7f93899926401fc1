/**
 * The small interfaces the domain needs from the outside world; the AWS adapters
 * implement them, unit tests may fake them.
 */
import type { Message, MessageEventFrame } from './protocol.js';

export interface StoredMessageRef {
  seq: number;
  messageId: string;
  serverTs: number;
}

export type StoreMessageOutcome =
  | { status: 'stored' }
  /** The sender already sent this clientMessageId into this conversation. */
  | { status: 'duplicate'; original: StoredMessageRef }
  /** Another sender took this seq first. */
  | { status: 'seq_taken' }
  /** DynamoDB cancelled the transaction for a concurrent one on the same items. */
  | { status: 'conflict' };

export interface MessagePage {
  messages: Message[];
  lastSeq: number;
}

export interface MessageStore {
  /** The conversation's highest seq, read strongly consistent; 0 when it has none. */
  lastSeq(conversationId: string): Promise<number>;
  /** Stores the message and its idempotency key together, or neither. */
  storeMessage(message: Message): Promise<StoreMessageOutcome>;
  getMessage(conversationId: string, seq: number): Promise<Message | undefined>;
  /** Messages with seq > afterSeq, ascending, at most `limit`, and the conversation's last seq. */
  listMessages(conversationId: string, afterSeq: number, limit: number): Promise<MessagePage>;
}

/** What travels on the events stream: the wire event itself, so fanout forwards it as is. */
export type ConversationEvent = MessageEventFrame;

export interface EventPublisher {
  /** Hands the event to delivery; ordered per conversation. */
  publish(event: ConversationEvent): Promise<void>;
}

export interface Connection {
  userId: string;
  connectionId: string;
  deviceId: string;
  connectedAt: number;
  /** Epoch seconds after which the item is dead even if DynamoDB has not deleted it yet. */
  expiresAt: number;
}

export interface ConnectionStore {
  putConnection(connection: Connection): Promise<void>;
  deleteConnection(userId: string, connectionId: string): Promise<void>;
  /** The user's live connections (expired items are left out). */
  listConnections(userId: string): Promise<Connection[]>;
}

export type PostOutcome = 'delivered' | 'gone';

export interface ConnectionPusher {
  /** Posts one frame; 'gone' when API Gateway no longer knows the connection (410). */
  post(connectionId: string, frame: string): Promise<PostOutcome>;
}
