/** `ack`: moves the caller's delivered or read watermark forward and answers `acked`. */

import { type AckedFrame, type AckFrame, ackFrameSchema } from '@parley/protocol';
import { assertMember } from '../domain/conversation.js';
import { acknowledge } from '../domain/receipts.js';
import { frameRoute, type RouteEvent } from '../middleware/websocket-route.js';
import { type DepsProvider, depsFromEnvironment } from '../runtime.js';

export function createAckHandler(deps: DepsProvider) {
  const serve = async ({ frame, caller }: RouteEvent<AckFrame>): Promise<AckedFrame> => {
    assertMember(frame.conversationId, caller.userId);
    const { seq } = await acknowledge(deps(), {
      conversationId: frame.conversationId,
      userId: caller.userId,
      kind: frame.kind,
      seq: frame.seq,
    });
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
