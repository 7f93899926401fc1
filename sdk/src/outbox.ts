/**
 * Messages the user sent that the server has not confirmed yet, and groups it created, in
 * the order they were written. Each keeps its `clientMessageId` (a group its id) for life, so
 * a resend after a lost answer or a restart is stored once. Bounded, so an app offline for
 * days cannot grow it forever.
 */
import { OutboxFullError } from './errors.js';

/** What every item of the outbox has. */
interface OutboxItemBase {
  /** A message's idempotency key; for a group's creation, its id in the outbox only. */
  clientMessageId: string;
  conversationId: string;
  senderId: string;
  /** When the user wrote it, by the device's clock: orders pending items. */
  createdAt: number;
  /** `failed` is final: the server refused it (bad_request, forbidden, too_large). */
  status: 'pending' | 'failed';
  /** The server's reason, when failed. */
  error?: string;
  attempts: number;
}

/**
 * One message waiting in the outbox, as it is stored.
 *
 * @example
 * const waiting = (await storage.load('parley/alice/phone/outbox')) as OutboxEntry[];
 * const messages = waiting.filter((entry): entry is OutboxItem => entry.kind !== 'group-created');
 */
export interface OutboxItem extends OutboxItemBase {
  /** Absent: items stored before groups existed are messages too. */
  kind?: 'text';
  /** The peer, for a conversation that may not exist yet (`send` with `to`). */
  to?: string;
  body: string;
}

/**
 * A group created while offline (or not answered yet): it goes out before the messages
 * written into the group after it, and its id (`conversationId`) makes its resend create
 * nothing twice.
 */
export interface OutboxGroupItem extends OutboxItemBase {
  kind: 'group-created';
  title: string;
  /** The other members, not the creator. */
  members: string[];
}

/**
 * One entry of the outbox: a message, or a group's creation.
 *
 * @example
 * const titles = outbox.items().flatMap((entry: OutboxEntry) => (entry.kind === 'group-created' ? [entry.title] : []));
 */
export type OutboxEntry = OutboxItem | OutboxGroupItem;

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
  #items: OutboxEntry[];

  constructor(limit: number, items: OutboxEntry[] = []) {
    this.limit = limit;
    this.#items = [...items];
  }

  /** Replaces the items with those a previous client stored. */
  restore(items: OutboxEntry[]): void {
    this.#items = [...items];
  }

  toJSON(): OutboxEntry[] {
    return this.#items;
  }

  /** Every item, in the order written. */
  items(): readonly OutboxEntry[] {
    return this.#items;
  }

  get pendingCount(): number {
    return this.#items.filter((item) => item.status === 'pending').length;
  }

  add(item: OutboxEntry): void {
    if (this.pendingCount >= this.limit) throw new OutboxFullError(this.limit);
    this.#items.push(item);
  }

  get(clientMessageId: string): OutboxEntry | undefined {
    return this.#items.find((item) => item.clientMessageId === clientMessageId);
  }

  /** The oldest pending item of the conversation: the only one that may be in flight. */
  nextFor(conversationId: string): OutboxEntry | undefined {
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

  markFailed(clientMessageId: string, error: string): OutboxEntry | undefined {
    const item = this.get(clientMessageId);
    if (item) Object.assign(item, { status: 'failed', error });
    return item;
  }

  /** Puts a failed item back in line, with the same `clientMessageId`. */
  retry(clientMessageId: string): OutboxEntry | undefined {
    const item = this.get(clientMessageId);
    if (item?.status !== 'failed') return undefined;
    item.status = 'pending';
    delete item.error;
    return item;
  }
}
