/**
 * `conversations`: the caller's conversations that changed after the cursor, oldest change
 * first, read with one strongly consistent query of the user's partition: the cost follows
 * what changed, not the number of conversations or the size of their history.
 */

import {
  type ConversationsFrame,
  type ConversationsPageFrame,
  conversationsFrameSchema,
} from '@parley/protocol';
import { decodeCursor, encodeCursor } from '../domain/conversation-list.js';
import { BadRequestError } from '../domain/errors.js';
import { fitToFrame } from '../domain/paging.js';
import { frameRoute, type RouteEvent } from '../middleware/websocket-route.js';
import { type DepsProvider, depsFromEnvironment } from '../runtime.js';

export function createConversationsHandler(deps: DepsProvider) {
  const serve = async ({
    frame,
    caller,
  }: RouteEvent<ConversationsFrame>): Promise<ConversationsPageFrame> => {
    const after = frame.since === undefined ? 0 : decodeCursor(frame.since);
    if (after === undefined) throw new BadRequestError('since: must be a cursor from an earlier answer');
    const page = await deps().conversationList.listChangedSince(caller.userId, after, frame.limit);
    const envelope = {
      type: 'conversations' as const,
      requestId: frame.requestId,
      cursor: encodeCursor(after),
      hasMore: true,
    };
    const entries = fitToFrame(page.entries, envelope);
    const last = entries.at(-1);
    return {
      ...envelope,
      conversations: entries,
      cursor: encodeCursor(last ? last.updatedAt : after),
      hasMore: page.hasMore || entries.length < page.entries.length,
    };
  };
  return frameRoute(conversationsFrameSchema, deps, serve);
}

export const handler = createConversationsHandler(depsFromEnvironment('conversations'));
