/** `block` (protocol 1.3): the caller blocks a user; answered `blocked`, and told to its other devices. */

import { type BlockedFrame, type BlockFrame, blockFrameSchema } from '@parley/protocol';
import { blockUser } from '../domain/blocking.js';
import { frameRoute, type RouteEvent } from '../middleware/websocket-route.js';
import { blockingDeps, type DepsProvider, depsFromEnvironment } from '../runtime.js';

export function createBlockHandler(deps: DepsProvider) {
  const serve = async ({ frame, caller }: RouteEvent<BlockFrame>): Promise<BlockedFrame> => {
    await blockUser(blockingDeps(deps()), caller, frame.userId);
    return { type: 'blocked', requestId: frame.requestId, userId: frame.userId };
  };
  return frameRoute(blockFrameSchema, deps, serve);
}

export const handler = createBlockHandler(depsFromEnvironment('block'));
