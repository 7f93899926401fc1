/** `typing`: straight to the other members' connected devices; nothing is stored, no answer. */

import {
  isGroupConversationId,
  type TypingEventFrame,
  type TypingFrame,
  typingFrameSchema,
} from '@parley/protocol';
import { mayType } from '../domain/blocking.js';
import { assertMember } from '../domain/conversation.js';
import { postToUsers } from '../domain/fanout.js';
import { forwardGroupTyping } from '../domain/group-typing.js';
import { frameRoute, type RouteEvent } from '../middleware/websocket-route.js';
import { type DepsProvider, depsFromEnvironment } from '../runtime.js';

export function createTypingHandler(deps: DepsProvider) {
  const serve = async ({ frame, caller }: RouteEvent<TypingFrame>): Promise<undefined> => {
    const event: TypingEventFrame = {
      type: 'typing',
      conversationId: frame.conversationId,
      userId: caller.userId,
      state: frame.state,
    };
    const { connections, pusher, metrics, config, now } = deps();
    if (isGroupConversationId(frame.conversationId)) {
      const { groups, groupConnections, typingGate } = deps();
      await forwardGroupTyping(
        {
          groups,
          groupConnections,
          connections,
          typingGate,
          pusher,
          metrics,
          now,
          postConcurrency: config.postConcurrency,
        },
        event,
      );
      return undefined;
    }
    const members = assertMember(frame.conversationId, caller.userId);
    // Between a blocker and the user it blocks, typing goes nowhere, and silently.
    if (!(await mayType(deps().privacy, caller.userId, frame.conversationId))) return undefined;
    await postToUsers(
      { connections, pusher, metrics, now, postConcurrency: config.postConcurrency },
      members.filter((member) => member !== caller.userId),
      [JSON.stringify(event)],
      // A typing indicator is stale by the time a retry could land; the next one replaces it.
      { throttled: 'leave' },
    );
    return undefined;
  };
  return frameRoute(typingFrameSchema, deps, serve);
}

export const handler = createTypingHandler(depsFromEnvironment('typing'));
