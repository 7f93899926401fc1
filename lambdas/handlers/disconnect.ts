/** `$disconnect`: best effort; the connection item's TTL and 410 answers clean up what it misses. */

import { recordDisconnect } from '../domain/presence.js';
import { callerOf, type RouteResult, type WebSocketEvent } from '../middleware/websocket-route.js';
import { type DepsProvider, depsFromEnvironment, presenceDeps } from '../runtime.js';

export function createDisconnectHandler(deps: DepsProvider) {
  return async (event: WebSocketEvent): Promise<RouteResult> => {
    const { userId, connectionId } = callerOf(event);
    await deps().connections.deleteConnection(userId, connectionId);
    await recordDisconnect(presenceDeps(deps()), userId);
    deps().logger.info('disconnected', { userId, connectionId });
    return { statusCode: 200 };
  };
}

export const handler = createDisconnectHandler(depsFromEnvironment());
