/**
 * Catching up after time away: after each (re)connect, the conversation list since the
 * stored cursor, page after page, then a `sync` of each conversation that moved; and at
 * any time, the filling of a gap in a conversation (one sync at a time per conversation).
 * A read the server fails, refuses as over the user's limit, or leaves unanswered is made
 * again after a backoff on the same connection: a device that stayed connected would
 * otherwise stay behind until its next reconnect, which a keep-alive may put off for hours.
 */
import {
  type ConversationsPageFrame,
  type HistoryFrame,
  type Receipt,
  SYNC_MAX_LIMIT,
} from '@parley/protocol';
import { type Backoff, KeyedWaits } from './backoff.js';
import type { ReconnectingConnection } from './connection.js';
import { type Conversations, receiptChanges } from './conversations.js';
import { codeOf, isDisconnect, isTransient } from './errors.js';
import type { Persistence } from './persistence.js';
import { TransientRetry } from './retry.js';

/** How many entries of the conversation list one page asks for. */
const LIST_PAGE_SIZE = 100;

/** What the catch-up needs of the client. */
export interface CatchUpOptions {
  connection: Pick<ReconnectingConnection, 'request' | 'isOpen'>;
  conversations: Conversations;
  persistence: Persistence;
  /** The list is read and its cursor saved: the conversations that moved. */
  caughtUp: (moved: string[]) => void;
  /**
   * The watermarks a `conversations` entry reports for a conversation: they confirm this
   * device's acks, since the entry moves only when an ack's receipt was published.
   */
  reported?: (conversationId: string, receipts: readonly Receipt[]) => void;
  report: (error: unknown) => void;
  /** Waits before a failed read is made again. */
  backoff: Backoff;
}

/**
 * The conversations cursor and the syncs under way.
 *
 * @example
 * connection.on('open', () => void catchUp.run());
 * catchUp.requestSync('dm:alice:bob'); // a gap showed up
 */
export class CatchUp {
  readonly #options: CatchUpOptions;
  /** The `cursor` of the last `conversations` page: the next catch-up asks from there. */
  #cursor: string | undefined;
  /** Conversations with a sync in flight, whether another is wanted after it, and its end. */
  readonly #syncing = new Map<string, { again: boolean; done: Promise<void> }>();
  /** Syncs that failed for a transient reason in a row, by conversation, and their waits. */
  readonly #syncFailures = new Map<string, number>();
  readonly #syncWaits: KeyedWaits;
  /** Counts the runs: a run that waits out a backoff ends if a newer one (a new connection) began. */
  #runs = 0;
  readonly #retry: TransientRetry;

  constructor(options: CatchUpOptions) {
    this.#options = options;
    this.#retry = new TransientRetry(options.backoff);
    this.#syncWaits = new KeyedWaits(options.backoff);
  }

  get cursor(): string | undefined {
    return this.#cursor;
  }

  /** Takes the cursor a previous client stored. */
  restore(cursor: string | undefined): void {
    this.#cursor = cursor;
  }

  /**
   * Reads the list since the cursor, syncs what moved, and says `caughtUp` once the cursor is
   * saved. A transient failure is retried after a backoff; it rejects with `connection_lost`
   * when the connection ends meanwhile (the next open runs again), and with a final error.
   */
  async run(): Promise<void> {
    const run = ++this.#runs;
    // A new connection: the syncs waiting out a backoff go now (the list read ends by asking them).
    this.#dropSyncRetries();
    await this.#retry.run(
      () => this.#readList(),
      () => run === this.#runs && this.#options.connection.isOpen,
    );
  }

  /** Ends the waits for a retry: nothing is asked after this. */
  close(): void {
    this.#retry.close();
    this.#dropSyncRetries();
  }

  #dropSyncRetries(): void {
    this.#syncWaits.cancelAll();
    this.#syncFailures.clear();
  }

  async #readList(): Promise<void> {
    const { connection, conversations, persistence } = this.#options;
    let since = this.#cursor;
    const moved: string[] = [];
    for (;;) {
      const page = await connection.request<ConversationsPageFrame>({
        action: 'conversations',
        ...(since ? { since } : {}),
        limit: LIST_PAGE_SIZE,
      });
      for (const summary of page.conversations) {
        moved.push(summary.conversationId);
        const timeline = conversations.timeline(summary.conversationId);
        if (summary.lastMessage) conversations.receive(summary.conversationId, [summary.lastMessage]);
        conversations.applyReceipts(timeline, receiptChanges(summary.receipts));
        this.#options.reported?.(summary.conversationId, summary.receipts);
        if (summary.everyone) conversations.applyEveryone(timeline, summary.everyone);
        if (timeline.applySummary(summary)) conversations.changed(timeline);
        if (timeline.hasGap) this.requestSync(summary.conversationId);
      }
      since = page.cursor;
      this.#cursor = page.cursor;
      persistence.changed();
      if (!page.hasMore) break;
    }
    // Conversations held locally may also have gaps (a sync cut short by a disconnect).
    for (const timeline of conversations.timelines.values())
      if (timeline.hasGap) this.requestSync(timeline.conversationId);
    await persistence.flush();
    this.#options.caughtUp(moved);
  }

  /**
   * Fills the conversation from its contiguous seq; a second request while one runs runs once
   * more after it. A sync that fails for a transient reason goes again after a backoff (a
   * request meanwhile waits for it), until it succeeds, the gap is filled or the connection ends.
   */
  requestSync(conversationId: string): void {
    const running = this.#syncing.get(conversationId);
    if (running) {
      running.again = true;
      return;
    }
    if (this.#retry.closed || !this.#options.connection.isOpen) return;
    if (this.#syncWaits.has(conversationId)) return;
    const marker = { again: false, done: Promise.resolve() };
    this.#syncing.set(conversationId, marker);
    marker.done = this.#sync(conversationId, marker)
      .then(
        () => {
          this.#syncFailures.delete(conversationId);
        },
        (error: unknown) => {
          const code = codeOf(error);
          if (isTransient(code)) this.#retrySyncLater(conversationId);
          else if (!isDisconnect(code)) this.#options.report(error);
        },
      )
      .finally(() => {
        this.#syncing.delete(conversationId);
        if (marker.again && this.#options.conversations.timeline(conversationId).hasGap)
          this.requestSync(conversationId);
      });
  }

  #retrySyncLater(conversationId: string): void {
    if (this.#retry.closed) return;
    const failures = this.#syncFailures.get(conversationId) ?? 0;
    this.#syncFailures.set(conversationId, failures + 1);
    this.#syncWaits.wait(conversationId, failures, () => {
      if (this.#options.conversations.timeline(conversationId).hasGap) this.requestSync(conversationId);
    });
  }

  /** Resolves once no sync of the conversation is under way, one it requested again included. */
  async settled(conversationId: string): Promise<void> {
    for (
      let running = this.#syncing.get(conversationId);
      running;
      running = this.#syncing.get(conversationId)
    ) {
      await running.done;
    }
  }

  async #sync(conversationId: string, marker: { again: boolean }): Promise<void> {
    const { connection, conversations } = this.#options;
    const timeline = conversations.timeline(conversationId);
    for (;;) {
      const afterSeq = timeline.contiguousSeq;
      // A request made while this page is out may need what the page does not bring: it
      // is taken up once the loop ends (see requestSync), so it is cleared only here.
      marker.again = false;
      const page = await connection.request<HistoryFrame>({
        action: 'sync',
        conversationId,
        afterSeq,
        limit: SYNC_MAX_LIMIT,
      });
      timeline.noteLastSeq(page.lastSeq);
      // Seqs past the server's retention period: never asked for again (protocol 1.3).
      if (page.goneThrough && timeline.applyGone(page.goneThrough)) conversations.changed(timeline);
      conversations.receive(conversationId, page.messages);
      conversations.applyReceipts(timeline, receiptChanges(page.receipts));
      // `history`'s receipts are the stored watermarks, which an ack raises before its
      // receipt is published: they do not prove that the publish happened, so they confirm
      // no ack. An ack whose publish failed goes again, and the server publishes it again.
      if (page.everyone) conversations.applyEveryone(timeline, page.everyone);
      // Stop when the page brought nothing new, so a server that keeps saying hasMore cannot loop us.
      if (!page.hasMore || timeline.contiguousSeq === afterSeq || !timeline.hasGap) return;
    }
  }
}
