/**
 * The receipts this device sends: `delivered` once per burst of the peers' messages, `read`
 * when the user reads. An ack stays unconfirmed, in storage too, until the server answers
 * `acked`: it goes again after a retryable error and after every reconnect, since a
 * repeated ack is what makes the server publish a receipt whose first publish failed.
 */
import type { AckedFrame, ReceiptKind } from '@parley/protocol';
import { type Backoff, SYSTEM_TIMERS, type TimerHandle, type Timers } from './backoff.js';
import type { ReconnectingConnection } from './connection.js';
import type { Conversations } from './conversations.js';
import { codeOf, isDisconnect, isFinal } from './errors.js';
import type { Identity } from './identity.js';
import type { Persistence, UnconfirmedAcks } from './persistence.js';
import type { Timeline } from './timeline.js';

/** How long the messages of a burst gather before one `delivered` ack covers them all. */
const DELIVERED_GATHER_MS = 50;

/** What the receipts need of the client. */
export interface ReceiptsOptions {
  identity: Identity;
  connection: Pick<ReconnectingConnection, 'request' | 'isOpen'>;
  conversations: Conversations;
  persistence: Persistence;
  /** The delays between the sends of an ack the server failed to take. */
  backoff: Backoff;
  /** The timer that gathers a burst. */
  timers?: Timers;
  report: (error: unknown) => void;
}

/**
 * The acks of one device: gathered, sent, and repeated until confirmed.
 *
 * @example
 * receipts.scheduleDelivered(timeline); // after messages arrive
 * await receipts.markRead('dm:alice:bob');
 * receipts.resendUnconfirmed(); // after a reconnect
 */
export class Receipts {
  readonly #options: ReceiptsOptions;
  readonly #timers: Timers;
  /** Per conversation, the highest seq of each kind the server has not confirmed yet. */
  readonly #unconfirmed = new Map<string, Partial<Record<ReceiptKind, number>>>();
  readonly #gatherTimers = new Map<string, TimerHandle>();
  /** Per conversation and kind: the sends that failed, and the wait before the next. */
  readonly #retries = new Map<string, { attempts: number; timer?: TimerHandle }>();

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

  /** Acks `delivered` up to the contiguous seq, once per change, shortly after a burst. */
  scheduleDelivered(timeline: Timeline): void {
    const { conversationId } = timeline;
    if (this.#gatherTimers.has(conversationId)) return;
    const timer = this.#timers.setTimeout(() => {
      this.#gatherTimers.delete(conversationId);
      const { userId } = this.#options.identity;
      const seq = timeline.contiguousSeq;
      const fromOthers = timeline.messages().some((m) => m.senderId !== userId && m.seq <= seq);
      if (!fromOthers || seq <= timeline.receiptOf(userId).deliveredSeq) return;
      // A group this user left refuses its acks (forbidden): its window is all it has.
      if (!this.#options.conversations.isMember(conversationId)) return;
      void this.#ack(conversationId, 'delivered', seq);
    }, DELIVERED_GATHER_MS);
    this.#gatherTimers.set(conversationId, timer);
  }

  /** Marks everything held of the conversation read: shown at once, confirmed by the server. */
  async markRead(conversationId: string): Promise<void> {
    const { conversations, identity } = this.#options;
    const timeline = conversations.get(conversationId);
    if (!timeline) return;
    const seq = timeline.contiguousSeq;
    if (seq <= timeline.receiptOf(identity.userId).readSeq) return;
    if (!conversations.isMember(conversationId)) return;
    conversations.applyReceipts(timeline, [{ userId: identity.userId, kind: 'read', seq }]);
    await this.#ack(conversationId, 'read', seq);
  }

  /** Sends every unconfirmed ack again: what was read or received while offline. */
  resendUnconfirmed(): void {
    for (const [conversationId, acks] of this.#unconfirmed) {
      for (const kind of Object.keys(acks) as ReceiptKind[]) void this.#send(conversationId, kind);
    }
  }

  close(): void {
    for (const timer of this.#gatherTimers.values()) this.#timers.clearTimeout(timer);
    for (const { timer } of this.#retries.values()) this.#options.backoff.cancel(timer);
  }

  /** Records the ack as unconfirmed, then sends it if the connection is open. */
  async #ack(conversationId: string, kind: ReceiptKind, seq: number): Promise<void> {
    const acks = this.#unconfirmed.get(conversationId) ?? {};
    acks[kind] = Math.max(seq, acks[kind] ?? 0);
    this.#unconfirmed.set(conversationId, acks);
    this.#options.persistence.changed();
    if (this.#options.connection.isOpen) await this.#send(conversationId, kind);
  }

  /**
   * Sends the unconfirmed ack of that kind. A lost connection leaves it for the next open; a
   * retryable error sends it again after a backoff; a final error drops it.
   */
  async #send(conversationId: string, kind: ReceiptKind): Promise<void> {
    const seq = this.#unconfirmed.get(conversationId)?.[kind];
    if (seq === undefined) return;
    const retryKey = `${conversationId} ${kind}`;
    const retry = this.#retries.get(retryKey);
    if (retry?.timer) return; // a retry is already waiting
    const { connection, conversations, identity } = this.#options;
    try {
      const answer = await connection.request<AckedFrame>({ action: 'ack', conversationId, seq, kind });
      const timeline = conversations.timeline(conversationId);
      conversations.applyReceipts(timeline, [{ userId: identity.userId, kind, seq: answer.seq }]);
      this.#retries.delete(retryKey);
      this.#settle(conversationId, kind, answer.seq);
    } catch (error) {
      const code = codeOf(error);
      if (isDisconnect(code)) return;
      if (isFinal(code)) {
        this.#retries.delete(retryKey);
        this.#options.report(error);
        this.#settle(conversationId, kind, seq);
        return;
      }
      const attempts = (retry?.attempts ?? 0) + 1;
      const timer = this.#options.backoff.wait(attempts, () => {
        this.#retries.set(retryKey, { attempts });
        if (this.#options.connection.isOpen) void this.#send(conversationId, kind);
      });
      this.#retries.set(retryKey, { attempts, timer });
    }
  }

  /** The server took the ack up to `settled`: it need not go again unless a higher one waits. */
  #settle(conversationId: string, kind: ReceiptKind, settled: number): void {
    const acks = this.#unconfirmed.get(conversationId);
    if (!acks || (acks[kind] ?? 0) > settled) return;
    delete acks[kind];
    if (acks.read === undefined && acks.delivered === undefined) this.#unconfirmed.delete(conversationId);
    this.#options.persistence.changed();
  }
}
