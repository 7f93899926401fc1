/** `sync`: the messages after `afterSeq`, in seq order, for a member of the conversation. */
import { assertMember } from '../domain/conversation.js';
import { type HistoryFrame, type SyncFrame, syncFrameSchema } from '../domain/protocol.js';
import { frameRoute, type RouteEvent } from '../middleware/websocket-route.js';
import { type DepsProvider, depsFromEnvironment } from '../runtime.js';

export function createSyncHandler(deps: DepsProvider) {
  const serve = async ({ frame, caller }: RouteEvent<SyncFrame>): Promise<HistoryFrame> => {
    const members = assertMember(frame.conversationId, caller.userId);
    const { messages, lastSeq } = await deps().messages.listMessages(
      frame.conversationId,
      frame.afterSeq,
      frame.limit,
    );
    const lastReturned = messages.at(-1)?.seq ?? frame.afterSeq;
    return {
      type: 'history',
      requestId: frame.requestId,
      conversationId: frame.conversationId,
      messages,
      lastSeq,
      hasMore: lastReturned < lastSeq,
      // Receipt watermarks arrive with `ack`; until a member acks, both stand at 0.
      receipts: members.map((userId) => ({ userId, deliveredSeq: 0, readSeq: 0 })),
    };
  };
  return frameRoute(syncFrameSchema, () => deps().logger, serve);
}

export const handler = createSyncHandler(depsFromEnvironment());
