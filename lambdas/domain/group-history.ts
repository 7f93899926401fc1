/**
 * What `sync` answers in a group: the caller's windows of the conversation and receipts that
 * do not grow with the group. A member added at seq j reads from j on (the messages before
 * it are not its); a member removed at seq r reads up to r, its removal included, and learns
 * nothing of what came after, not even how far the conversation went. A user added back
 * reads its earlier windows too, and nothing of the seqs between them.
 */
import type { Everyone, Message, Receipt } from '@parley/protocol';
import { assertReader } from './conversation.js';
import { effectiveWatermark } from './group-receipts.js';
import type { GroupStore, MembershipPeriod, MessageStore, ReceiptStore } from './ports.js';

export interface GroupHistoryDeps {
  groups: GroupStore;
  messages: MessageStore;
  receipts: ReceiptStore;
}

export interface GroupHistoryRequest {
  conversationId: string;
  userId: string;
  afterSeq: number;
  limit: number;
}

export interface GroupHistory {
  /** The messages of the caller's window after `afterSeq`, ascending. */
  messages: Message[];
  /** The conversation's last seq as the caller may know it: at most its removal. */
  lastSeq: number;
  /** The caller's own receipt, counting the messages before it joined as read. */
  receipt: Receipt;
  everyone: Everyone;
}

/** The caller's window after `afterSeq`, for a current or former member; `forbidden` for anyone else. */
export async function readGroupHistory(
  deps: GroupHistoryDeps,
  request: GroupHistoryRequest,
): Promise<GroupHistory> {
  const { conversationId, userId, limit } = request;
  const { joinedSeq, removedSeq, earlierWindows } = await assertReader(deps.groups, conversationId, userId);
  const end = removedSeq ?? Number.POSITIVE_INFINITY;
  const windows = [...earlierWindows, { joinedSeq, removedSeq: end }];
  const afterSeq = startOfRead(windows, request.afterSeq);
  const [page, stored, everyone] = await Promise.all([
    afterSeq < end
      ? deps.messages.listMessages(conversationId, afterSeq, limit)
      : { messages: [], lastSeq: end },
    deps.receipts.getReceipt(conversationId, userId),
    deps.groups.getEveryone(conversationId),
  ]);
  // The page starts inside a window, so its first message is the caller's: a page is never
  // empty while the window goes on, and paging moves forward.
  const messages = page.messages.filter((message) => inWindows(windows, message.seq));
  // The page and the last seq are read side by side: never answer a last seq below the page.
  const lastSeq = Math.min(Math.max(page.lastSeq, page.messages.at(-1)?.seq ?? 0), end);
  const cap = (seq: number) => Math.min(seq, end);
  return {
    messages,
    lastSeq,
    receipt: {
      userId,
      deliveredSeq: cap(effectiveWatermark(stored.deliveredSeq, joinedSeq)),
      readSeq: cap(effectiveWatermark(stored.readSeq, joinedSeq)),
    },
    everyone: {
      deliveredSeq: cap(everyone?.deliveredSeq ?? 0),
      readSeq: cap(everyone?.readSeq ?? 0),
    },
  };
}

/** True when `seq` falls in one of the windows. */
function inWindows(windows: readonly MembershipPeriod[], seq: number): boolean {
  return windows.some((window) => window.joinedSeq <= seq && seq <= window.removedSeq);
}

/**
 * Where a read after `afterSeq` starts: at the caller's first window at the earliest, and
 * past the seqs between two of its windows (what happened while it was away is not its).
 */
function startOfRead(windows: readonly MembershipPeriod[], afterSeq: number): number {
  for (const window of windows) {
    if (afterSeq < window.removedSeq) return Math.max(afterSeq, window.joinedSeq - 1);
  }
  return afterSeq;
}
