/** `$disconnect`: best effort; the connection item's TTL and 410 answers clean up what it misses. */
import type { Context } from 'aws-lambda';
import { recordDisconnect } from '../domain/presence.js';
import {
  callerOf,
  type RouteResult,
  routeLogger,
  type WebSocketEvent,
} from '../middleware/websocket-route.js';
import { type DepsProvider, depsFromEnvironment, presenceDeps } from '../runtime.js';

export function createDisconnectHandler(deps: DepsProvider) {
  return async (event: WebSocketEvent, context?: Context): Promise<RouteResult> => {
    const { userId, connectionId } = callerOf(event);
    await deps().connections.deleteConnection(userId, connectionId);
    await recordDisconnect(presenceDeps(deps()), userId);
    routeLogger(deps().logger, event, context).info('disconnected');
    return { statusCode: 200 };
  };
}

export const handler = createDisconnectHandler(depsFromEnvironment('disconnect'));
