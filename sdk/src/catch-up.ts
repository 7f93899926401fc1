/**
 * Catching up after time away: after each (re)connect, the conversation list since the
 * stored cursor, page after page, then a `sync` of each conversation that moved; and at
 * any time, the filling of a gap in a conversation (one sync at a time per conversation).
 */
import {
  type ConversationsPageFrame,
  type HistoryFrame,
  type Receipt,
  SYNC_MAX_LIMIT,
} from '@parley/protocol';
import type { ReconnectingConnection } from './connection.js';
import { type Conversations, receiptChanges } from './conversations.js';
import { codeOf, ParleyErrorCode } from './errors.js';
import type { Persistence } from './persistence.js';

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

  constructor(options: CatchUpOptions) {
    this.#options = options;
  }

  get cursor(): string | undefined {
    return this.#cursor;
  }

  /** Takes the cursor a previous client stored. */
  restore(cursor: string | undefined): void {
    this.#cursor = cursor;
  }

  /** Reads the list since the cursor, syncs what moved, and says `caughtUp` once the cursor is saved. */
  async run(): Promise<void> {
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

  /** Fills the conversation from its contiguous seq; a second request while one runs runs once more after it. */
  requestSync(conversationId: string): void {
    const running = this.#syncing.get(conversationId);
    if (running) {
      running.again = true;
      return;
    }
    if (!this.#options.connection.isOpen) return;
    const marker = { again: false, done: Promise.resolve() };
    this.#syncing.set(conversationId, marker);
    marker.done = this.#sync(conversationId, marker)
      .catch((error: unknown) => {
        if (codeOf(error) !== ParleyErrorCode.ConnectionLost) this.#options.report(error);
      })
      .finally(() => {
        this.#syncing.delete(conversationId);
        if (marker.again && this.#options.conversations.timeline(conversationId).hasGap)
          this.requestSync(conversationId);
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
