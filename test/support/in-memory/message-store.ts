/**
 * The conversation partition in memory, with the contract of `DynamoDbMessageStore`: a
 * message and its idempotency key are stored together or not at all, a taken key answers
 * with the first send (even when the seq is taken as well), a taken seq is refused, and
 * pages come in seq order. Every call completes before another starts, so a transaction
 * never conflicts here: a test that needs `conflict` makes `storeMessage` answer it.
 */
import type { Message } from '@parley/protocol';
import { frameBytesOf } from '../../../lambdas/domain/paging.js';
import type {
  MessagePage,
  MessageStore,
  StoredMessageRef,
  StoreMessageOutcome,
} from '../../../lambdas/domain/ports.js';

interface Conversation {
  messages: Map<number, Message>;
  /** `${senderId}#${clientMessageId}` → the seq, messageId and serverTs of the first send. */
  keys: Map<string, StoredMessageRef>;
}

export class InMemoryMessageStore implements MessageStore {
  readonly #conversations = new Map<string, Conversation>();

  #conversation(conversationId: string): Conversation {
    let conversation = this.#conversations.get(conversationId);
    if (!conversation) {
      conversation = { messages: new Map(), keys: new Map() };
      this.#conversations.set(conversationId, conversation);
    }
    return conversation;
  }

  async lastSeq(conversationId: string): Promise<number> {
    return Math.max(0, ...(this.#conversations.get(conversationId)?.messages.keys() ?? []));
  }

  async storeMessage(message: Message): Promise<StoreMessageOutcome> {
    const conversation = this.#conversation(message.conversationId);
    const key = `${message.senderId}#${message.clientMessageId}`;
    const original = conversation.keys.get(key);
    if (original) return { status: 'duplicate', original: { ...original } };
    if (conversation.messages.has(message.seq)) return { status: 'seq_taken' };
    conversation.messages.set(message.seq, structuredClone(message));
    conversation.keys.set(key, {
      seq: message.seq,
      messageId: message.messageId,
      serverTs: message.serverTs,
    });
    return { status: 'stored' };
  }

  /**
   * Stores a group change's events if every one of their seqs is free, else none
   * (`InMemoryGroupStore` commits through it, as its DynamoDB adapter writes the events in
   * the change's transaction).
   */
  storeEvents(events: readonly Message[]): 'stored' | 'seq_taken' {
    for (const event of events) {
      if (this.#conversation(event.conversationId).messages.has(event.seq)) return 'seq_taken';
    }
    for (const event of events) {
      this.#conversation(event.conversationId).messages.set(event.seq, structuredClone(event));
    }
    return 'stored';
  }

  async getMessage(conversationId: string, seq: number): Promise<Message | undefined> {
    return structuredClone(this.#conversations.get(conversationId)?.messages.get(seq));
  }

  async listMessages(
    conversationId: string,
    afterSeq: number,
    limit: number,
    maxBytes = Number.POSITIVE_INFINITY,
  ): Promise<MessagePage> {
    const messages: Message[] = [];
    let bytes = 0;
    for (const message of [...(this.#conversations.get(conversationId)?.messages.values() ?? [])]
      .filter((stored) => stored.seq > afterSeq)
      .sort((a, b) => a.seq - b.seq)
      .slice(0, limit)) {
      if (bytes >= maxBytes) break;
      bytes += frameBytesOf(message);
      messages.push(structuredClone(message));
    }
    return { messages, lastSeq: await this.lastSeq(conversationId) };
  }

  /** The conversation's messages in seq order, as stored. */
  messages(conversationId: string): Message[] {
    return [...(this.#conversations.get(conversationId)?.messages.values() ?? [])]
      .sort((a, b) => a.seq - b.seq)
      .map((message) => structuredClone(message));
  }

  /** How many idempotency keys the conversation holds: one per message stored. */
  keyCount(conversationId: string): number {
    return this.#conversations.get(conversationId)?.keys.size ?? 0;
  }
}
