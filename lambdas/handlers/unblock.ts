/** `unblock` (protocol 1.3): the caller takes a block back; answered `unblocked`, and told to its other devices. */

import { type UnblockedFrame, type UnblockFrame, unblockFrameSchema } from '@parley/protocol';
import { unblockUser } from '../domain/blocking.js';
import { frameRoute, type RouteEvent } from '../middleware/websocket-route.js';
import { blockingDeps, type DepsProvider, depsFromEnvironment } from '../runtime.js';

export function createUnblockHandler(deps: DepsProvider) {
  const serve = async ({ frame, caller }: RouteEvent<UnblockFrame>): Promise<UnblockedFrame> => {
    await unblockUser(blockingDeps(deps()), caller, frame.userId);
    return { type: 'unblocked', requestId: frame.requestId, userId: frame.userId };
  };
  return frameRoute(unblockFrameSchema, deps, serve);
}

export const handler = createUnblockHandler(depsFromEnvironment('unblock'));
