/**
 * The conversations a device holds: one timeline each, the messages and watermarks that
 * come in (from events, answers, the catch-up or the outbox's confirmations), and what an
 * app reads of them: the messages, the list, the unread counts.
 */
import {
  conversationKindOf,
  type Everyone,
  type Message,
  membersOf,
  type Receipt,
  type ReceiptKind,
} from '@parley/protocol';
import type { EmitEvent } from './client-options.js';
import type { Identity } from './identity.js';
import type { Outbox, OutboxEntry } from './outbox.js';
import type { Persistence } from './persistence.js';
import { Timeline } from './timeline.js';
import { type ChatMessage, type ConversationView, viewOf, viewOfPending } from './views.js';

/** One watermark that may move. */
export interface ReceiptChange {
  userId: string;
  kind: ReceiptKind;
  seq: number;
}

/** A member's watermarks as the changes `applyReceipts` takes. */
export function receiptChanges(receipts: Receipt[]): ReceiptChange[] {
  return receipts.flatMap((receipt) => [
    { userId: receipt.userId, kind: 'delivered' as const, seq: receipt.deliveredSeq },
    { userId: receipt.userId, kind: 'read' as const, seq: receipt.readSeq },
  ]);
}

/** What the conversations need of the client. */
export interface ConversationsOptions {
  identity: Identity;
  outbox: Outbox;
  persistence: Persistence;
  emit: EmitEvent;
  /** A peer's message arrived: the peer is no longer typing. */
  onPeerMessage: (conversationId: string, userId: string) => void;
  /** Messages were added to the timeline: a gap may need filling, delivery acknowledging. */
  onAdded: (timeline: Timeline) => void;
}

/**
 * The timelines of a device and their views.
 *
 * @example
 * conversations.receive('dm:alice:bob', [message]); // emits `message`, schedules the list
 * conversations.messages('dm:alice:bob');
 */
export class Conversations {
  readonly #options: ConversationsOptions;
  readonly #timelines = new Map<string, Timeline>();
  #listTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: ConversationsOptions) {
    this.#options = options;
  }

  get timelines(): ReadonlyMap<string, Timeline> {
    return this.#timelines;
  }

  /** Takes in the timelines a previous client stored. */
  restore(timelines: Timeline[]): void {
    for (const timeline of timelines) this.#timelines.set(timeline.conversationId, timeline);
  }

  get(conversationId: string): Timeline | undefined {
    return this.#timelines.get(conversationId);
  }

  /** The conversation's timeline, made empty if it is new. */
  timeline(conversationId: string): Timeline {
    let timeline = this.#timelines.get(conversationId);
    if (!timeline) {
      timeline = new Timeline(conversationId);
      this.#timelines.set(conversationId, timeline);
    }
    return timeline;
  }

  /**
   * Adds stored messages: each new one is reported, repeats are dropped, and a message
   * of this user's removes its outbox item (whichever came first, the event or the answer).
   */
  receive(conversationId: string, messages: Message[]): void {
    const { outbox, identity, emit } = this.#options;
    const timeline = this.timeline(conversationId);
    let added = false;
    let confirmed = false;
    for (const message of messages) {
      if (outbox.get(message.clientMessageId)?.senderId === message.senderId) {
        confirmed = outbox.remove(message.clientMessageId) || confirmed;
      }
      if (!timeline.add(message)) continue;
      added = true;
      if (joins(message, identity.userId)) timeline.raiseFloor(message.seq - 1);
      emit('message', this.viewOf(timeline, message));
      if (message.senderId !== identity.userId) this.#options.onPeerMessage(conversationId, message.senderId);
    }
    if (confirmed) void this.#options.persistence.saveOutbox();
    if (!added) return;
    this.changed(timeline);
    this.#options.onAdded(timeline);
  }

  /**
   * Moves watermarks, and reports the messages whose status they changed: the sender's
   * messages up to a peer's new watermark, or the peer's up to this user's read one.
   */
  applyReceipts(timeline: Timeline, changes: ReceiptChange[]): void {
    const { userId } = this.#options.identity;
    let moved = false;
    for (const change of changes) {
      const before = timeline.receiptOf(change.userId);
      if (!timeline.applyReceipt(change.userId, change.kind, change.seq)) continue;
      moved = true;
      const after = timeline.receiptOf(change.userId);
      const from = Math.min(before.deliveredSeq, before.readSeq);
      const to = Math.max(after.deliveredSeq, after.readSeq);
      const ownReceipt = change.userId === userId;
      for (const message of timeline.messages()) {
        if (message.seq <= from || message.seq > to) continue;
        if ((message.senderId === userId) !== ownReceipt)
          this.#options.emit('message', this.viewOf(timeline, message));
      }
    }
    if (moved) this.changed(timeline);
  }

  /**
   * Raises a group's "everyone has … up to" watermarks, and reports the messages whose
   * ticks they changed.
   */
  applyEveryone(timeline: Timeline, everyone: Partial<Everyone>): void {
    const { group } = timeline;
    if (!group) return;
    const before = group.everyone;
    let moved = false;
    if (everyone.deliveredSeq !== undefined)
      moved = group.raiseEveryone('delivered', everyone.deliveredSeq) || moved;
    if (everyone.readSeq !== undefined) moved = group.raiseEveryone('read', everyone.readSeq) || moved;
    if (!moved) return;
    timeline.noteLastSeq(group.everyone.deliveredSeq);
    const from = Math.min(before.deliveredSeq, before.readSeq);
    const to = Math.max(group.everyone.deliveredSeq, group.everyone.readSeq);
    for (const message of timeline.messages())
      if (message.seq > from && message.seq <= to)
        this.#options.emit('message', this.viewOf(timeline, message));
    this.changed(timeline);
  }

  /** False for a group this user left or was removed from: it may no longer ack there. */
  isMember(conversationId: string): boolean {
    const timeline = this.#timelines.get(conversationId);
    if (!timeline?.group) return true;
    return timeline.group.facts(timeline.messages(), this.#options.identity.userId).member;
  }

  /** Marks the timeline for saving and the list as changed. */
  changed(timeline: Timeline): void {
    this.#options.persistence.changed(timeline.conversationId);
    this.scheduleListChanged();
  }

  /** Emits the list once, after whatever else changes in this turn. */
  scheduleListChanged(): void {
    if (this.#listTimer) return;
    this.#listTimer = setTimeout(() => {
      this.#listTimer = undefined;
      this.#options.emit('conversations', this.list());
    }, 0);
  }

  /** The conversation's messages: stored ones by `seq`, then pending ones in the order written. */
  messages(conversationId: string): ChatMessage[] {
    const timeline = this.#timelines.get(conversationId);
    const stored = timeline ? timeline.messages().map((message) => this.viewOf(timeline, message)) : [];
    const storedIds = new Set(stored.map((message) => message.clientMessageId));
    const pending = this.#pendingIn(conversationId)
      .filter((item) => !storedIds.has(item.clientMessageId))
      .map((item) => viewOfPending(item, this.#options.identity.deviceId));
    return [...stored, ...pending];
  }

  /** The conversation list, newest first. */
  list(): ConversationView[] {
    const ids = new Set([
      ...this.#timelines.keys(),
      ...this.#options.outbox.items().map((item) => item.conversationId),
    ]);
    return [...ids].map((id) => this.#conversationView(id)).sort((a, b) => b.updatedAt - a.updatedAt);
  }

  /** Messages from others after this user's read watermark. */
  unreadCount(conversationId: string): number {
    const { userId } = this.#options.identity;
    const timeline = this.#timelines.get(conversationId);
    if (!timeline) return 0;
    const readSeq = timeline.receiptOf(userId).readSeq;
    let unread = 0;
    for (const message of timeline.messages())
      if (message.seq > readSeq && message.senderId !== userId && isText(message)) unread++;
    // Messages this device has not fetched yet still count: assume they are the peer's.
    const unseen = timeline.lastSeq - Math.max(readSeq, timeline.messages().at(-1)?.seq ?? 0);
    return unread + Math.max(0, unseen);
  }

  viewOf(timeline: Timeline, message: Message): ChatMessage {
    return viewOf(timeline, message, this.#options.identity.userId);
  }

  /** Stops the pending list event. */
  close(): void {
    clearTimeout(this.#listTimer);
  }

  #conversationView(conversationId: string): ConversationView {
    const { identity } = this.#options;
    const timeline = this.#timelines.get(conversationId);
    const kind = conversationKindOf(conversationId) ?? 'dm';
    const members = membersOf(conversationId) ?? [];
    const peerId =
      kind === 'group' ? '' : (members.find((member) => member !== identity.userId) ?? identity.userId);
    const pending = this.#pendingIn(conversationId);
    const lastStored = timeline?.lastMessage;
    const lastPending = pending.at(-1);
    const lastMessage = lastPending
      ? viewOfPending(lastPending, identity.deviceId)
      : lastStored && timeline
        ? this.viewOf(timeline, lastStored)
        : undefined;
    return {
      conversationId,
      kind,
      peerId,
      ...(kind === 'group' ? this.#groupFields(timeline, pending) : {}),
      ...(lastMessage ? { lastMessage } : {}),
      lastSeq: timeline?.lastSeq ?? 0,
      ...(timeline?.goneThrough ? { goneThrough: timeline.goneThrough } : {}),
      unread: this.unreadCount(conversationId),
      updatedAt: Math.max(timeline?.updatedAt ?? 0, lastPending?.createdAt ?? 0),
    };
  }

  /**
   * The outbox items of the conversation, but for a group's creation whose event the
   * timeline holds already (it stays in the outbox until its answer comes).
   */
  #pendingIn(conversationId: string): OutboxEntry[] {
    const created = this.#timelines.get(conversationId)?.messages()[0]?.kind === 'group-created';
    return this.#options.outbox
      .items()
      .filter(
        (item) => item.conversationId === conversationId && !(created && item.kind === 'group-created'),
      );
  }

  /** A group's entry: what its timeline knows, or what its creation waiting in the outbox says. */
  #groupFields(timeline: Timeline | undefined, pending: OutboxEntry[]): Partial<ConversationView> {
    const creation = pending.find((item) => item.kind === 'group-created');
    const facts = timeline?.group?.facts(timeline.messages(), this.#options.identity.userId);
    const title = facts?.title ?? creation?.title;
    const memberCount = facts?.memberCount ?? (creation ? creation.members.length + 1 : undefined);
    return {
      ...(title !== undefined ? { title } : {}),
      ...(memberCount !== undefined ? { memberCount } : {}),
      member: facts?.member ?? true,
      everyone: { ...(timeline?.everyone ?? { deliveredSeq: 0, readSeq: 0 }) },
    };
  }
}

/** A text message (a message without kind is one), not a membership event. */
function isText(message: Message): boolean {
  return message.kind === undefined || message.kind === 'text';
}

/** A group's event that made `userId` a member: it sees the group from there on. */
function joins(message: Message, userId: string): boolean {
  const { kind, members } = message;
  return (kind === 'group-created' || kind === 'members-added') && (members ?? []).includes(userId);
}
