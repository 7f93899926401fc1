/** `ping`: answered `pong`, so a client can check the connection end to end. */
import { type PingFrame, type PongFrame, pingFrameSchema } from '@parley/protocol';
import { frameRoute, type RouteEvent } from '../middleware/websocket-route.js';
import { type DepsProvider, depsFromEnvironment } from '../runtime.js';

export function createPingHandler(deps: DepsProvider) {
  const serve = async ({ frame }: RouteEvent<PingFrame>): Promise<PongFrame> => ({
    type: 'pong',
    requestId: frame.requestId,
  });
  return frameRoute(pingFrameSchema, deps, serve);
}

export const handler = createPingHandler(depsFromEnvironment('ping'));
