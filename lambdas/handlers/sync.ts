/** `sync`: the messages after `afterSeq`, in seq order, for a member of the conversation. */

import { type HistoryFrame, type SyncFrame, syncFrameSchema } from '@parley/protocol';
import { assertMember } from '../domain/conversation.js';
import { fitToFrame } from '../domain/paging.js';
import { frameRoute, type RouteEvent } from '../middleware/websocket-route.js';
import { type DepsProvider, depsFromEnvironment } from '../runtime.js';

export function createSyncHandler(deps: DepsProvider) {
  const serve = async ({ frame, caller }: RouteEvent<SyncFrame>): Promise<HistoryFrame> => {
    const members = assertMember(frame.conversationId, caller.userId);
    const [{ messages, lastSeq }, stored] = await Promise.all([
      deps().messages.listMessages(frame.conversationId, frame.afterSeq, frame.limit),
      deps().receipts.listReceipts(frame.conversationId),
    ]);
    // A member who never acked stands at 0.
    const receipts = members.map(
      (userId) =>
        stored.find((receipt) => receipt.userId === userId) ?? { userId, deliveredSeq: 0, readSeq: 0 },
    );
    const envelope = {
      type: 'history' as const,
      requestId: frame.requestId,
      conversationId: frame.conversationId,
      lastSeq,
      hasMore: true,
      receipts,
    };
    const fitted = fitToFrame(messages, envelope);
    const lastReturned = fitted.at(-1)?.seq ?? frame.afterSeq;
    // The page and the last seq are read side by side: a message stored in between can be
    // in the page but not in lastSeq. Never answer a lastSeq below what the page holds.
    const knownLast = Math.max(lastSeq, messages.at(-1)?.seq ?? 0);
    return { ...envelope, lastSeq: knownLast, messages: fitted, hasMore: lastReturned < knownLast };
  };
  return frameRoute(syncFrameSchema, deps, serve);
}

export const handler = createSyncHandler(depsFromEnvironment('sync'));
