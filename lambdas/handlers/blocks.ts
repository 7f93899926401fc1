/** `blocks` (protocol 1.3): a page of the users the caller blocks, from its own partition. */

import { type BlocksFrame, type BlocksPageFrame, blocksFrameSchema } from '@parley/protocol';
import { listBlocks } from '../domain/blocking.js';
import { frameRoute, type RouteEvent } from '../middleware/websocket-route.js';
import { type DepsProvider, depsFromEnvironment } from '../runtime.js';

export function createBlocksHandler(deps: DepsProvider) {
  const serve = ({ frame, caller }: RouteEvent<BlocksFrame>): Promise<BlocksPageFrame> =>
    listBlocks(deps().privacy, caller.userId, frame.after, frame.requestId);
  return frameRoute(blocksFrameSchema, deps, serve);
}

export const handler = createBlocksHandler(depsFromEnvironment('blocks'));
