/**
 * `$connect`: checks the device id, registers the connection under its user within the
 * user's cap (replacing the device's older connection, which it closes), indexes it in the
 * user's groups, marks the user online.
 */

import { deviceIdSchema, ID_RULE_MESSAGE } from '@parley/protocol';
import { MetricName } from '../../definitions/metrics.js';
import { indexInGroups } from '../domain/group-index.js';
import type { Connection, ConnectionPusher, OpenConnectionOutcome } from '../domain/ports.js';
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
    const { connections, config, now, conversationList, groupConnections, pusher, metrics } = deps();
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
    const opened = await connections.openConnection(connection, config.maxConnectionsPerUser);
    if (opened.status !== 'opened') {
      metrics.record(MetricName.ConnectionsRefused, 1);
      event.logger.warn('handshake refused: too many connections', { outcome: opened });
      return { statusCode: 429, body: refusalOf(opened, config.maxConnectionsPerUser) };
    }
    await closeReplaced(pusher, opened.replaced, event);
    // After the write: see indexInGroups.
    const groups = await indexInGroups({ conversationList, groupConnections }, connection);
    await recordConnect(presenceDeps(deps()), userId);
    event.logger.info('connected', { groups });
    return { statusCode: 200 };
  };
  return connectionRoute(deps, serve);
}

/** The body of a refused handshake: what the client reads as the reason. */
function refusalOf(outcome: Exclude<OpenConnectionOutcome, { status: 'opened' }>, max: number): string {
  if (outcome.status === 'full') {
    return `too many connections: this user already has ${outcome.open} open, the most allowed is ${max}; close one (or reconnect from the same deviceId, which replaces its older connection) and try again`;
  }
  return 'too many connections: other handshakes of this user are opening at the same moment; try again shortly';
}

/**
 * Closes the connections the new one replaced, whose items are gone already: the device has
 * moved on, and an older socket left open would get nothing more. A connection API Gateway
 * no longer knows (410) is what a phone that lost its network without a close leaves
 * behind. A close that fails is logged, not fatal: the new connection is registered.
 */
async function closeReplaced(
  pusher: ConnectionPusher,
  replaced: readonly Connection[],
  event: LoggedEvent,
): Promise<void> {
  await Promise.all(
    replaced.map(async ({ connectionId }) => {
      try {
        const outcome = await pusher.disconnect(connectionId);
        event.logger.info('closed the connection this one replaces', { replaced: connectionId, outcome });
      } catch (error) {
        event.logger.warn('could not close the connection this one replaces', {
          replaced: connectionId,
          error,
        });
      }
    }),
  );
}

export const handler = createConnectHandler(depsFromEnvironment('connect'));
