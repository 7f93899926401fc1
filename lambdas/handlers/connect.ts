/** `$connect`: checks the device id, registers the connection under its user, marks the user online. */

import { deviceIdSchema, ID_RULE_MESSAGE } from '@parley/protocol';
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
    const { connections, config, now } = deps();
    const deviceId = event.queryStringParameters?.deviceId;
    if (!deviceIdSchema.safeParse(deviceId).success) {
      return { statusCode: 400, body: `deviceId: ${ID_RULE_MESSAGE}` };
    }
    const { userId, connectionId } = callerOf(event);
    const connectedAt = now();
    await connections.putConnection({
      userId,
      connectionId,
      deviceId: deviceId as string,
      connectedAt,
      expiresAt: Math.floor(connectedAt / 1000) + config.connectionTtlSeconds,
    });
    await recordConnect(presenceDeps(deps()), userId);
    event.logger.info('connected');
    return { statusCode: 200 };
  };
  return connectionRoute(deps, serve);
}

export const handler = createConnectHandler(depsFromEnvironment('connect'));
