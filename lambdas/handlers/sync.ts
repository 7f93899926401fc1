/** `sync`: the messages after `afterSeq`, in seq order, for a member of the conversation. */

import {
  type HistoryFrame,
  isGroupConversationId,
  MAX_FRAME_BYTES,
  type Message,
  type SyncFrame,
  syncFrameSchema,
} from '@parley/protocol';
import { assertMember } from '../domain/conversation.js';
import { readGroupHistory } from '../domain/group-history.js';
import { fitToFrame } from '../domain/paging.js';
import { frameRoute, type RouteEvent } from '../middleware/websocket-route.js';
import { type DepsProvider, depsFromEnvironment, type ParleyDeps } from '../runtime.js';

type HistoryContent = Pick<HistoryFrame, 'messages' | 'lastSeq' | 'receipts' | 'everyone' | 'goneThrough'>;

export function createSyncHandler(deps: DepsProvider) {
  const serve = async ({ frame, caller }: RouteEvent<SyncFrame>): Promise<HistoryFrame> => {
    const { messages, lastSeq, ...receipts } = isGroupConversationId(frame.conversationId)
      ? await readGroupContent(deps(), frame, caller.userId)
      : await readDirectContent(deps(), frame, caller.userId);
    const envelope = {
      type: 'history' as const,
      requestId: frame.requestId,
      conversationId: frame.conversationId,
      lastSeq,
      hasMore: true,
      ...receipts,
    };
    const fitted = fitToFrame(messages, envelope);
    // Seqs past the retention period are answered by `goneThrough` alone: the read moves past them.
    const lastReturned = fitted.at(-1)?.seq ?? Math.max(frame.afterSeq, receipts.goneThrough ?? 0);
    return { ...envelope, messages: fitted, hasMore: lastReturned < lastSeq };
  };
  return frameRoute(syncFrameSchema, deps, serve);
}

async function readDirectContent(
  deps: ParleyDeps,
  frame: SyncFrame,
  userId: string,
): Promise<HistoryContent> {
  const members = assertMember(frame.conversationId, userId);
  const [{ messages, lastSeq, goneThrough }, stored] = await Promise.all([
    deps.messages.listMessages(frame.conversationId, frame.afterSeq, frame.limit, MAX_FRAME_BYTES),
    deps.receipts.listReceipts(frame.conversationId),
  ]);
  // A member who never acked stands at 0.
  const receipts = members.map(
    (member) =>
      stored.find((receipt) => receipt.userId === member) ?? { userId: member, deliveredSeq: 0, readSeq: 0 },
  );
  // The page and the last seq are read side by side: a message stored in between can be
  // in the page but not in lastSeq. Never answer a lastSeq below what the page holds.
  const knownLast = Math.max(lastSeq, messages.at(-1)?.seq ?? 0);
  return { messages, lastSeq: knownLast, receipts, ...(goneThrough ? { goneThrough } : {}) };
}

async function readGroupContent(deps: ParleyDeps, frame: SyncFrame, userId: string): Promise<HistoryContent> {
  const history = await readGroupHistory(deps, { ...frame, userId });
  const messages: Message[] = history.messages;
  return {
    messages,
    lastSeq: history.lastSeq,
    receipts: [history.receipt],
    everyone: history.everyone,
    ...(history.goneThrough ? { goneThrough: history.goneThrough } : {}),
  };
}

export const handler = createSyncHandler(depsFromEnvironment('sync'));
