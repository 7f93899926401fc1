/**
 * What `sync` answers in a group: the caller's windows of the conversation and receipts that
 * do not grow with the group. A member added at seq j reads from j on (the messages before
 * it are not its); a member removed at seq r reads up to r, its removal included, and learns
 * nothing of what came after, not even how far the conversation went. A user added back
 * reads its earlier windows too, and nothing of the seqs between them.
 */
import { type Everyone, MAX_FRAME_BYTES, type Message, type Receipt } from '@parley/protocol';
import { assertReader, type ReadWindow } from './conversation.js';
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
  /** Every seq up to it is gone (past the retention period); absent when none read is. */
  goneThrough?: number;
}

/** The caller's window after `afterSeq`, for a current or former member; `forbidden` for anyone else. */
export async function readGroupHistory(
  deps: GroupHistoryDeps,
  request: GroupHistoryRequest,
): Promise<GroupHistory> {
  const { conversationId, userId, limit } = request;
  const first = await assertReader(deps.groups, conversationId, userId);
  const afterSeq = startOfRead(windowsOf(first), request.afterSeq);
  const firstEnd = first.removedSeq ?? Number.POSITIVE_INFINITY;
  const [page, stored, everyone] = await Promise.all([
    afterSeq < firstEnd
      ? deps.messages.listMessages(conversationId, afterSeq, limit, MAX_FRAME_BYTES)
      : { messages: [], lastSeq: firstEnd },
    deps.receipts.getReceipt(conversationId, userId),
    deps.groups.getEveryone(conversationId),
  ]);
  // A removal that commits between the membership read and the page read takes a seq the
  // page may hold, with messages after it. Reading the membership again once the page is in
  // closes that race: a removal this read does not see commits later, so its seq is above
  // every message of the page.
  const { joinedSeq, removedSeq, earlierWindows } =
    first.removedSeq === undefined && page.messages.length > 0
      ? await assertReader(deps.groups, conversationId, userId)
      : first;
  const end = removedSeq ?? Number.POSITIVE_INFINITY;
  const windows = windowsOf({ joinedSeq, removedSeq, earlierWindows });
  // The page starts inside a window, so its first message is the caller's: a page is never
  // empty while the window goes on, and paging moves forward.
  const messages = page.messages.filter((message) => inWindows(windows, message.seq));
  // The page and the last seq are read side by side: never answer a last seq below the page.
  const lastSeq = Math.min(Math.max(page.lastSeq, page.messages.at(-1)?.seq ?? 0), end);
  const cap = (seq: number) => Math.min(seq, end);
  const gone = 'goneThrough' in page && page.goneThrough !== undefined ? cap(page.goneThrough) : undefined;
  return {
    messages,
    lastSeq,
    ...(gone !== undefined ? { goneThrough: gone } : {}),
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

/** The caller's windows, its current one open-ended. */
function windowsOf(window: ReadWindow): MembershipPeriod[] {
  return [
    ...window.earlierWindows,
    { joinedSeq: window.joinedSeq, removedSeq: window.removedSeq ?? Number.POSITIVE_INFINITY },
  ];
}

/** True when `seq` falls in one of the windows. */
export function inWindows(windows: readonly MembershipPeriod[], seq: number): boolean {
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
