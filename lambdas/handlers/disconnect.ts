/** `$disconnect`: best effort; the connection item's TTL and 410 answers clean up what it misses. */
import { recordDisconnect } from '../domain/presence.js';
import {
  callerOf,
  connectionRoute,
  type LoggedEvent,
  type RouteResult,
} from '../middleware/websocket-route.js';
import { type DepsProvider, depsFromEnvironment, presenceDeps } from '../runtime.js';

export function createDisconnectHandler(deps: DepsProvider) {
  const serve = async (event: LoggedEvent): Promise<RouteResult> => {
    const { userId, connectionId } = callerOf(event);
    await deps().connections.deleteConnection(userId, connectionId);
    await recordDisconnect(presenceDeps(deps()), userId);
    event.logger.info('disconnected');
    return { statusCode: 200 };
  };
  return connectionRoute(deps, serve);
}

export const handler = createDisconnectHandler(depsFromEnvironment('disconnect'));
