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
    // An entry written before protocol 1.1 has no kind: only one-to-one entries existed then.
    const entries = page.entries.map((entry) => (entry.kind ? entry : { ...entry, kind: 'dm' as const }));
    const envelope = {
      type: 'conversations' as const,
      requestId: frame.requestId,
      cursor: encodeCursor(after),
      hasMore: true,
    };
    const fitting = fitToFrame(entries, envelope);
    const last = fitting.at(-1);
    return {
      ...envelope,
      conversations: fitting,
      cursor: encodeCursor(last ? last.updatedAt : after),
      hasMore: page.hasMore || fitting.length < entries.length,
    };
  };
  return frameRoute(conversationsFrameSchema, deps, serve);
}

export const handler = createConversationsHandler(depsFromEnvironment('conversations'));
