/**
 * What a device holds of one conversation: the messages it has, by `seq`, the highest
 * `seq` up to which it holds them all (`contiguousSeq`), the last `seq` it knows exists,
 * and each member's watermarks. Repeats are dropped; a hole below `lastSeq` is a gap to
 * fill with `sync`. A group's timeline also holds the group's state, and starts where this
 * user joined (its floor): the messages before it will never come.
 */
import {
  type ConversationSummary,
  type Everyone,
  isGroupConversationId,
  type Message,
  type Receipt,
  type ReceiptKind,
} from '@parley/protocol';
import { GroupState, type StoredGroup } from './group-state.js';

/** The JSON a timeline is stored as. */
export interface StoredTimeline {
  conversationId: string;
  messages: Message[];
  receipts: Receipt[];
  lastSeq: number;
  updatedAt: number;
  /** Groups: the seq before the first this user may see (it joined after it). */
  floor?: number;
  /** The seqs up to it are gone from the server (past its retention period). */
  goneThrough?: number;
  group?: StoredGroup;
}

export class Timeline {
  readonly conversationId: string;
  #group: GroupState | undefined;
  readonly #messages = new Map<number, Message>();
  readonly #receipts = new Map<string, Receipt>();
  #contiguousSeq = 0;
  #lastSeq = 0;
  #updatedAt = 0;
  #floor = 0;
  #goneThrough = 0;
  #sorted: Message[] | undefined;

  constructor(conversationId: string) {
    this.conversationId = conversationId;
    this.#group = isGroupConversationId(conversationId) ? new GroupState() : undefined;
  }

  static fromJSON(stored: StoredTimeline): Timeline {
    const timeline = new Timeline(stored.conversationId);
    if (stored.group && timeline.#group) timeline.#group = GroupState.fromJSON(stored.group);
    if (stored.floor) timeline.raiseFloor(stored.floor);
    if (stored.goneThrough) timeline.applyGone(stored.goneThrough);
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
      ...(this.#floor > 0 ? { floor: this.#floor } : {}),
      ...(this.#goneThrough > 0 ? { goneThrough: this.#goneThrough } : {}),
      ...(this.group ? { group: this.group.toJSON() } : {}),
    };
  }

  /** Adds a message; false when this `seq` is already held (a repeat, dropped). */
  add(message: Message): boolean {
    if (this.#messages.has(message.seq)) return false;
    this.#messages.set(message.seq, message);
    this.#sorted = undefined;
    this.#lastSeq = Math.max(this.#lastSeq, message.seq);
    this.#updatedAt = Math.max(this.#updatedAt, message.serverTs);
    if (message.kind !== undefined && message.kind !== 'text') this.group?.eventAdded();
    this.#extendContiguous();
    return true;
  }

  /**
   * The user joined a group after `seq`: the messages up to it will never come, so they are
   * no gap. True if it moved.
   */
  raiseFloor(seq: number): boolean {
    if (seq <= this.#floor) return false;
    this.#floor = seq;
    this.#lastSeq = Math.max(this.#lastSeq, seq);
    this.#extendContiguous();
    return true;
  }

  /**
   * The server says the seqs up to `seq` are gone (past its retention period): those not
   * held will never come, so they are no gap, and no sync asks for them again. True if it moved.
   */
  applyGone(seq: number): boolean {
    if (seq <= this.#goneThrough) return false;
    this.#goneThrough = seq;
    this.#lastSeq = Math.max(this.#lastSeq, seq);
    this.#extendContiguous();
    return true;
  }

  /** The seqs up to it are gone from the server; 0 when none is known to be. */
  get goneThrough(): number {
    return this.#goneThrough;
  }

  /** Groups only: title, members, everyone's receipt. */
  get group(): GroupState | undefined {
    return this.#group;
  }

  /** Groups: everyone's watermarks; undefined for a one-to-one conversation. */
  get everyone(): Everyone | undefined {
    return this.group?.everyone;
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
    if (this.group) {
      const { lastSeq: seq, title, memberCount, member } = summary;
      const basis = {
        seq,
        ...(title !== undefined ? { title } : {}),
        ...(memberCount !== undefined ? { memberCount } : {}),
      };
      changed = this.group.setBasis({ ...basis, ...(member !== undefined ? { member } : {}) }) || changed;
    }
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

  #extendContiguous(): void {
    this.#contiguousSeq = Math.max(this.#contiguousSeq, this.#floor, this.#goneThrough);
    while (this.#messages.has(this.#contiguousSeq + 1)) this.#contiguousSeq += 1;
  }

  /** The newest message held. */
  get lastMessage(): Message | undefined {
    return this.messages().at(-1);
  }
}
