/**
 * What a device holds of one conversation: the messages it has, by `seq`, the highest
 * `seq` up to which it holds them all (`contiguousSeq`), the last `seq` it knows exists,
 * and each member's watermarks. Repeats are dropped; a hole below `lastSeq` is a gap to
 * fill with `sync`.
 */
import type { ConversationSummary, Message, Receipt, ReceiptKind } from '@parley/protocol';

/** The JSON a timeline is stored as. */
export interface StoredTimeline {
  conversationId: string;
  messages: Message[];
  receipts: Receipt[];
  lastSeq: number;
  updatedAt: number;
}

export class Timeline {
  readonly conversationId: string;
  readonly #messages = new Map<number, Message>();
  readonly #receipts = new Map<string, Receipt>();
  #contiguousSeq = 0;
  #lastSeq = 0;
  #updatedAt = 0;
  #sorted: Message[] | undefined;

  constructor(conversationId: string) {
    this.conversationId = conversationId;
  }

  static fromJSON(stored: StoredTimeline): Timeline {
    const timeline = new Timeline(stored.conversationId);
    for (const message of stored.messages) timeline.add(message);
    for (const receipt of stored.receipts) {
      timeline.applyReceipt(receipt.userId, 'delivered', receipt.deliveredSeq);
      timeline.applyReceipt(receipt.userId, 'read', receipt.readSeq);
    }
    timeline.#lastSeq = Math.max(timeline.#lastSeq, stored.lastSeq);
    timeline.#updatedAt = stored.updatedAt;
    return timeline;
  }

  toJSON(): StoredTimeline {
    return {
      conversationId: this.conversationId,
      messages: this.messages(),
      receipts: [...this.#receipts.values()],
      lastSeq: this.#lastSeq,
      updatedAt: this.#updatedAt,
    };
  }

  /** Adds a message; false when this `seq` is already held (a repeat, dropped). */
  add(message: Message): boolean {
    if (this.#messages.has(message.seq)) return false;
    this.#messages.set(message.seq, message);
    this.#sorted = undefined;
    this.#lastSeq = Math.max(this.#lastSeq, message.seq);
    this.#updatedAt = Math.max(this.#updatedAt, message.serverTs);
    while (this.#messages.has(this.#contiguousSeq + 1)) this.#contiguousSeq += 1;
    return true;
  }

  /** Moves a watermark forward (never back); `read` lifts `delivered` with it. True if it moved. */
  applyReceipt(userId: string, kind: ReceiptKind, seq: number): boolean {
    const current = this.#receipts.get(userId) ?? { userId, deliveredSeq: 0, readSeq: 0 };
    const next = {
      userId,
      deliveredSeq: Math.max(current.deliveredSeq, seq),
      readSeq: kind === 'read' ? Math.max(current.readSeq, seq) : current.readSeq,
    };
    if (next.deliveredSeq === current.deliveredSeq && next.readSeq === current.readSeq) return false;
    this.#receipts.set(userId, next);
    this.#lastSeq = Math.max(this.#lastSeq, next.deliveredSeq);
    return true;
  }

  /** Takes in what the `conversations` list says; false when it says nothing new. */
  applySummary(summary: ConversationSummary): boolean {
    let changed = false;
    if (summary.lastSeq > this.#lastSeq) {
      this.#lastSeq = summary.lastSeq;
      changed = true;
    }
    if (summary.updatedAt > this.#updatedAt) {
      this.#updatedAt = summary.updatedAt;
      changed = true;
    }
    for (const receipt of summary.receipts) {
      changed = this.applyReceipt(receipt.userId, 'delivered', receipt.deliveredSeq) || changed;
      changed = this.applyReceipt(receipt.userId, 'read', receipt.readSeq) || changed;
    }
    if (summary.lastMessage) changed = this.add(summary.lastMessage) || changed;
    return changed;
  }

  /** Records that the conversation has `lastSeq` messages, as a `history` answer says. */
  noteLastSeq(lastSeq: number): void {
    this.#lastSeq = Math.max(this.#lastSeq, lastSeq);
  }

  /** The messages held, ascending by seq. */
  messages(): Message[] {
    this.#sorted ??= [...this.#messages.values()].sort((a, b) => a.seq - b.seq);
    return this.#sorted;
  }

  has(seq: number): boolean {
    return this.#messages.has(seq);
  }

  /** The highest seq up to which every message is held. */
  get contiguousSeq(): number {
    return this.#contiguousSeq;
  }

  /** The highest seq known to exist. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  get updatedAt(): number {
    return this.#updatedAt;
  }

  /** True when a message below `lastSeq` is missing: `sync` from `contiguousSeq`. */
  get hasGap(): boolean {
    return this.#lastSeq > this.#contiguousSeq;
  }

  receiptOf(userId: string): Receipt {
    return this.#receipts.get(userId) ?? { userId, deliveredSeq: 0, readSeq: 0 };
  }

  /** The newest message held. */
  get lastMessage(): Message | undefined {
    return this.messages().at(-1);
  }
}
