/** `$disconnect`: best effort; the connection item's TTL and 410 answers clean up what it misses. */
import { removeFromGroups } from '../domain/group-index.js';
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
    const { connections, conversationList, groupConnections } = deps();
    await connections.deleteConnection(userId, connectionId);
    const groups = await removeFromGroups({ conversationList, groupConnections }, userId, connectionId);
    await recordDisconnect(presenceDeps(deps()), userId);
    event.logger.info('disconnected', { groups });
    return { statusCode: 200 };
  };
  return connectionRoute(deps, serve);
}

export const handler = createDisconnectHandler(depsFromEnvironment('disconnect'));
