/**
 * `$connect`: checks the device id, registers the connection under its user, indexes it in
 * the user's groups, marks the user online.
 */

import { deviceIdSchema, ID_RULE_MESSAGE } from '@parley/protocol';
import { indexInGroups } from '../domain/group-index.js';
import { recordConnect } from '../domain/presence.js';
import {
  callerOf,
  connectionRoute,
  type LoggedEvent,
  type RouteResult,
} from '../middleware/websocket-route.js';
import { type DepsProvider, depsFromEnvironment, presenceDeps } from '../runtime.js';

export function createConnectHandler(deps: DepsProvider) {
  const serve = async (event: LoggedEvent): Promise<RouteResult> => {
    const { connections, config, now, conversationList, groupConnections } = deps();
    const deviceId = event.queryStringParameters?.deviceId;
    if (!deviceIdSchema.safeParse(deviceId).success) {
      return { statusCode: 400, body: `deviceId: ${ID_RULE_MESSAGE}` };
    }
    const { userId, connectionId } = callerOf(event);
    const limit = await deps().rateLimiter.take(userId, 'connect');
    if (!limit.admitted) return { statusCode: 429, body: limit.message };
    const connectedAt = now();
    const connection = {
      userId,
      connectionId,
      deviceId: deviceId as string,
      connectedAt,
      expiresAt: Math.floor(connectedAt / 1000) + config.connectionTtlSeconds,
    };
    await connections.putConnection(connection);
    // After the write: see indexInGroups.
    const groups = await indexInGroups({ conversationList, groupConnections }, connection);
    await recordConnect(presenceDeps(deps()), userId);
    event.logger.info('connected', { groups });
    return { statusCode: 200 };
  };
  return connectionRoute(deps, serve);
}

export const handler = createConnectHandler(depsFromEnvironment('connect'));
