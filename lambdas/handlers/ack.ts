/**
 * `ack`: moves the caller's delivered or read watermark forward, and answers `acked` when
 * the frame has a `requestId`. Without one (protocol 1.2) it answers nothing: the `receipt`
 * event already tells the caller's devices, and an answer would be one more frame to pay for.
 */

import { type AckedFrame, type AckFrame, ackFrameSchema, isGroupConversationId } from '@parley/protocol';
import { assertCurrentMember, assertMember } from '../domain/conversation.js';
import { settleEveryone } from '../domain/group-receipts.js';
import { acknowledge } from '../domain/receipts.js';
import { frameRoute, type RouteEvent } from '../middleware/websocket-route.js';
import { type DepsProvider, depsFromEnvironment } from '../runtime.js';

export function createAckHandler(deps: DepsProvider) {
  const serve = async ({ frame, caller }: RouteEvent<AckFrame>): Promise<AckedFrame | undefined> => {
    const input = {
      conversationId: frame.conversationId,
      userId: caller.userId,
      kind: frame.kind,
      seq: frame.seq,
    };
    let seq: number;
    if (isGroupConversationId(frame.conversationId)) {
      // Current members only; a member who held the lowest watermark may move `everyone`.
      const member = await assertCurrentMember(deps().groups, frame.conversationId, caller.userId);
      ({ seq } = await acknowledge(deps(), input, (outcomes) =>
        settleEveryone(deps(), frame.conversationId, member, outcomes),
      ));
    } else {
      assertMember(frame.conversationId, caller.userId);
      ({ seq } = await acknowledge(deps(), input));
    }
    if (frame.requestId === undefined) return undefined;
    return {
      type: 'acked',
      requestId: frame.requestId,
      conversationId: frame.conversationId,
      kind: frame.kind,
      seq,
    };
  };
  return frameRoute(ackFrameSchema, deps, serve);
}

export const handler = createAckHandler(depsFromEnvironment('ack'));
