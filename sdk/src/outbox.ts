/**
 * Messages the user sent that the server has not confirmed yet, in the order they were
 * written. Each keeps its `clientMessageId` for life, so a resend after a lost answer or a
 * restart is stored once. Bounded, so an app offline for days cannot grow it forever.
 */
import { OutboxFullError } from './errors.js';

/**
 * One message waiting in the outbox, as it is stored.
 *
 * @example
 * const waiting: OutboxItem[] = (await storage.load('parley/alice/phone/outbox')) as OutboxItem[];
 */
export interface OutboxItem {
  clientMessageId: string;
  conversationId: string;
  /** The peer, for a conversation that may not exist yet (`send` with `to`). */
  to?: string;
  body: string;
  senderId: string;
  /** When the user wrote it, by the device's clock: orders pending messages. */
  createdAt: number;
  /** `failed` is final: the server refused the message (bad_request, forbidden, too_large). */
  status: 'pending' | 'failed';
  /** The server's reason, when failed. */
  error?: string;
  attempts: number;
}

/**
 * The outbox's items and the rules of their order; the client's outbox sender sends them.
 *
 * @example
 * const outbox = new Outbox(1_000);
 * outbox.add(item);
 * outbox.nextFor(item.conversationId); // the one to send
 */
export class Outbox {
  readonly limit: number;
  #items: OutboxItem[];

  constructor(limit: number, items: OutboxItem[] = []) {
    this.limit = limit;
    this.#items = [...items];
  }

  /** Replaces the items with those a previous client stored. */
  restore(items: OutboxItem[]): void {
    this.#items = [...items];
  }

  toJSON(): OutboxItem[] {
    return this.#items;
  }

  /** Every item, in the order written. */
  items(): readonly OutboxItem[] {
    return this.#items;
  }

  get pendingCount(): number {
    return this.#items.filter((item) => item.status === 'pending').length;
  }

  add(item: OutboxItem): void {
    if (this.pendingCount >= this.limit) throw new OutboxFullError(this.limit);
    this.#items.push(item);
  }

  get(clientMessageId: string): OutboxItem | undefined {
    return this.#items.find((item) => item.clientMessageId === clientMessageId);
  }

  /** The oldest pending item of the conversation: the only one that may be in flight. */
  nextFor(conversationId: string): OutboxItem | undefined {
    return this.#items.find((item) => item.conversationId === conversationId && item.status === 'pending');
  }

  /** The conversations that have something pending, in the order of their oldest item. */
  conversationsWithPending(): string[] {
    return [
      ...new Set(this.#items.filter((item) => item.status === 'pending').map((item) => item.conversationId)),
    ];
  }

  /** Removes a confirmed item; false when it was not there. */
  remove(clientMessageId: string): boolean {
    const before = this.#items.length;
    this.#items = this.#items.filter((item) => item.clientMessageId !== clientMessageId);
    return this.#items.length !== before;
  }

  markFailed(clientMessageId: string, error: string): OutboxItem | undefined {
    const item = this.get(clientMessageId);
    if (item) Object.assign(item, { status: 'failed', error });
    return item;
  }

  /** Puts a failed item back in line, with the same `clientMessageId`. */
  retry(clientMessageId: string): OutboxItem | undefined {
    const item = this.get(clientMessageId);
    if (item?.status !== 'failed') return undefined;
    item.status = 'pending';
    delete item.error;
    return item;
  }
}
