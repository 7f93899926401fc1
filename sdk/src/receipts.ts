/**
 * The receipts this device sends: per conversation, the `delivered` and `read` acks of a
 * short window go as one ack of the highest seq of each kind (watermarks make that exact),
 * and a `read` ack alone when it covers `delivered`, since the server lifts `delivered`
 * with it. Acks go without a `requestId` (protocol 1.2), so the server answers nothing:
 * the `receipt` event of this user, or the watermarks a `conversations` entry reports
 * (which move only once a receipt was published; `history`'s are stored before that),
 * confirm them. An ack stays unconfirmed, in storage too, until the server reports
 * a watermark that covers it; it goes again after every reconnect while the reported one
 * is still below, and while connected if no confirmation comes in time, since a repeated
 * ack is what makes the server publish a receipt whose first publish failed.
 */
import type { Receipt, ReceiptKind } from '@parley/protocol';
import { SYSTEM_TIMERS, type TimerHandle, type Timers } from './backoff.js';
import type { ReconnectingConnection } from './connection.js';
import type { Conversations } from './conversations.js';
import type { Identity } from './identity.js';
import type { Persistence, UnconfirmedAcks } from './persistence.js';
import type { Timeline } from './timeline.js';

/**
 * How long the acks of a conversation gather before they go, by default. Long enough to
 * take in a burst of messages arriving together (a catch-up page, a peer sending several
 * in a row) and the `read` an open conversation makes right after them, so that one ack
 * goes instead of one per message and kind; short enough that the peer's ticks still
 * follow within a blink.
 */
export const DEFAULT_ACK_WINDOW_MS = 250;

/** The longest wait between two sends of an ack the server does not confirm. */
const MAX_CONFIRM_WAIT_MS = 5 * 60_000;

/** What the receipts need of the client. */
export interface ReceiptsOptions {
  identity: Identity;
  connection: Pick<ReconnectingConnection, 'send' | 'isOpen'>;
  conversations: Conversations;
  persistence: Persistence;
  /** How long acks gather before one goes per conversation and kind. */
  windowMs: number;
  /**
   * How long a sent ack waits for the watermark that confirms it before it goes again;
   * each wait after that is twice the one before.
   */
  confirmTimeoutMs: number;
  /** The timers that gather a window and wait for a confirmation. */
  timers?: Timers;
}

/**
 * The acks of one device: gathered, sent, and repeated until the server reports them.
 *
 * @example
 * receipts.scheduleDelivered(timeline); // after messages arrive
 * await receipts.markRead('dm:alice:bob');
 * receipts.learn('dm:alice:bob', entry.receipts); // what a `conversations` entry said
 * receipts.resendUnconfirmed(); // after a reconnect's catch-up
 */
export class Receipts {
  readonly #options: ReceiptsOptions;
  readonly #timers: Timers;
  /** Per conversation, the highest seq of each kind the server has not confirmed yet. */
  readonly #unconfirmed = new Map<string, Partial<Record<ReceiptKind, number>>>();
  /** Per conversation, this user's watermarks as the server last reported them. */
  readonly #reported = new Map<string, Receipt>();
  readonly #windows = new Map<string, TimerHandle>();
  /** Per conversation: the sends not confirmed yet, and the wait for the next. */
  readonly #confirmations = new Map<string, { attempts: number; timer: TimerHandle }>();

  constructor(options: ReceiptsOptions) {
    this.#options = options;
    this.#timers = options.timers ?? SYSTEM_TIMERS;
  }

  /** The acks to store. */
  unconfirmed(): UnconfirmedAcks {
    return [...this.#unconfirmed];
  }

  /** Takes in the acks a previous client stored. */
  restore(acks: UnconfirmedAcks): void {
    for (const [conversationId, kinds] of acks) this.#unconfirmed.set(conversationId, kinds);
  }

  /** Acks `delivered` up to the contiguous seq at the end of the window, if that moved it. */
  scheduleDelivered(timeline: Timeline): void {
    this.#schedule(timeline.conversationId);
  }

  /** Marks everything held of the conversation read: shown at once, acked at the end of the window. */
  async markRead(conversationId: string): Promise<void> {
    const { conversations, identity } = this.#options;
    const timeline = conversations.get(conversationId);
    if (!timeline) return;
    const seq = timeline.contiguousSeq;
    if (seq <= timeline.receiptOf(identity.userId).readSeq) return;
    if (!conversations.isMember(conversationId)) return;
    conversations.applyReceipts(timeline, [{ userId: identity.userId, kind: 'read', seq }]);
    this.#want(conversationId, 'read', seq);
    this.#schedule(conversationId);
  }

  /**
   * Takes in this user's watermarks as a `conversations` entry reports them: an ack they
   * cover is confirmed. (Not `history`'s: those are stored before the receipt is published.)
   */
  learn(conversationId: string, receipts: readonly Receipt[]): void {
    const own = receipts.find((receipt) => receipt.userId === this.#options.identity.userId);
    if (!own) return;
    this.#report(conversationId, 'delivered', own.deliveredSeq);
    this.#report(conversationId, 'read', own.readSeq);
  }

  /** Takes in a `receipt` event: one of this user's is a watermark the server reports. */
  learnEvent(conversationId: string, userId: string, kind: ReceiptKind, seq: number): void {
    if (userId === this.#options.identity.userId) this.#report(conversationId, kind, seq);
  }

  /** Sends every ack the server has not reported yet: what was read or received while offline. */
  resendUnconfirmed(): void {
    for (const conversationId of [...this.#unconfirmed.keys()]) this.#send(conversationId);
  }

  close(): void {
    for (const timer of this.#windows.values()) this.#timers.clearTimeout(timer);
    for (const { timer } of this.#confirmations.values()) this.#timers.clearTimeout(timer);
    this.#windows.clear();
    this.#confirmations.clear();
  }

  /** Opens the conversation's window, unless one is open: its acks go when it closes. */
  #schedule(conversationId: string): void {
    if (this.#windows.has(conversationId)) return;
    const timer = this.#timers.setTimeout(() => {
      this.#windows.delete(conversationId);
      this.#gatherDelivered(conversationId);
      this.#send(conversationId);
    }, this.#options.windowMs);
    this.#windows.set(conversationId, timer);
  }

  /** Wants `delivered` up to the contiguous seq, when the peers' messages there are not acked yet. */
  #gatherDelivered(conversationId: string): void {
    const timeline = this.#options.conversations.get(conversationId);
    if (!timeline) return;
    const { userId } = this.#options.identity;
    const seq = timeline.contiguousSeq;
    const fromOthers = timeline.messages().some((m) => m.senderId !== userId && m.seq <= seq);
    // The user's own watermark here includes a read made on this device: it covers delivered.
    if (!fromOthers || seq <= timeline.receiptOf(userId).deliveredSeq) return;
    this.#want(conversationId, 'delivered', seq);
  }

  #want(conversationId: string, kind: ReceiptKind, seq: number): void {
    const acks = this.#unconfirmed.get(conversationId) ?? {};
    acks[kind] = Math.max(seq, acks[kind] ?? 0);
    this.#unconfirmed.set(conversationId, acks);
    this.#options.persistence.changed();
  }

  /**
   * Sends the conversation's acks the server has not reported, `read` alone when it covers
   * `delivered`. A closed connection leaves them for the next open.
   */
  #send(conversationId: string): void {
    this.#settle(conversationId);
    const acks = this.#unconfirmed.get(conversationId);
    if (!acks) return;
    const { connection, conversations } = this.#options;
    // A group this user left refuses its acks (forbidden): its window is all it has.
    if (!conversations.isMember(conversationId)) {
      this.#forget(conversationId);
      return;
    }
    if (!connection.isOpen) return;
    const kinds: ReceiptKind[] =
      acks.read !== undefined && acks.read >= (acks.delivered ?? 0) ? ['read'] : ['read', 'delivered'];
    for (const kind of kinds) {
      const seq = acks[kind];
      if (seq !== undefined) connection.send({ action: 'ack', conversationId, seq, kind });
    }
    this.#awaitConfirmation(conversationId);
  }

  /** Sends again if the server has not reported the acks when the wait ends. */
  #awaitConfirmation(conversationId: string): void {
    const previous = this.#confirmations.get(conversationId);
    if (previous) this.#timers.clearTimeout(previous.timer);
    const attempts = (previous?.attempts ?? 0) + 1;
    const wait = Math.min(this.#options.confirmTimeoutMs * 2 ** (attempts - 1), MAX_CONFIRM_WAIT_MS);
    const timer = this.#timers.setTimeout(() => this.#send(conversationId), wait);
    this.#confirmations.set(conversationId, { attempts, timer });
  }

  /** The server reports a watermark: `read` lifts `delivered` with it. */
  #report(conversationId: string, kind: ReceiptKind, seq: number): void {
    const { userId } = this.#options.identity;
    const reported = this.#reported.get(conversationId) ?? { userId, deliveredSeq: 0, readSeq: 0 };
    const readSeq = kind === 'read' ? Math.max(reported.readSeq, seq) : reported.readSeq;
    const deliveredSeq = Math.max(reported.deliveredSeq, readSeq, kind === 'delivered' ? seq : 0);
    this.#reported.set(conversationId, { ...reported, deliveredSeq, readSeq });
    this.#settle(conversationId);
  }

  /** Drops the acks the reported watermarks cover; with none left, stops waiting for them. */
  #settle(conversationId: string): void {
    const acks = this.#unconfirmed.get(conversationId);
    const reported = this.#reported.get(conversationId);
    if (!acks || !reported) return;
    let changed = false;
    if (acks.read !== undefined && acks.read <= reported.readSeq) {
      delete acks.read;
      changed = true;
    }
    if (acks.delivered !== undefined && acks.delivered <= reported.deliveredSeq) {
      delete acks.delivered;
      changed = true;
    }
    if (acks.read === undefined && acks.delivered === undefined) this.#forget(conversationId);
    else if (changed) this.#options.persistence.changed();
  }

  #forget(conversationId: string): void {
    this.#unconfirmed.delete(conversationId);
    const confirmation = this.#confirmations.get(conversationId);
    if (confirmation) this.#timers.clearTimeout(confirmation.timer);
    this.#confirmations.delete(conversationId);
    this.#options.persistence.changed();
  }
}
