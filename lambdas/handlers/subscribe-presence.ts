/** `subscribePresence`: the users' presence now, and their changes until the connection closes. */

import {
  type PresenceFrame,
  type SubscribePresenceFrame,
  subscribePresenceFrameSchema,
} from '@parley/protocol';
import { subscribeToPresence } from '../domain/presence.js';
import { frameRoute, type RouteEvent } from '../middleware/websocket-route.js';
import { type DepsProvider, depsFromEnvironment, presenceDeps } from '../runtime.js';

export function createSubscribePresenceHandler(deps: DepsProvider) {
  const serve = async ({ frame, caller }: RouteEvent<SubscribePresenceFrame>): Promise<PresenceFrame> => {
    const users = await subscribeToPresence(presenceDeps(deps()), caller, frame.userIds);
    return { type: 'presence', requestId: frame.requestId, users };
  };
  return frameRoute(subscribePresenceFrameSchema, deps, serve);
}

export const handler = createSubscribePresenceHandler(depsFromEnvironment('subscribe-presence'));
