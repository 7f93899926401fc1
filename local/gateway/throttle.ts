/** Stage and route throttling, as an `AWS::ApiGatewayV2::Stage` sets it. */

import { messageOf } from './log.js';
import { type ThrottleLimit, TokenBucket } from './token-bucket.js';
import type { WebSocketThrottle } from './types.js';

/**
 * Whether a request to `routeKey` may go on, taking a token if so. A route with its own
 * settings uses its own bucket in place of the stage's: the API Gateway guide says route-level
 * throttling overrides the stage's default route settings for that route ("Protect your
 * WebSocket APIs in API Gateway"), and `RouteSettings.{routeKey}` replaces
 * `DefaultRouteSettings` for that route. Every other route shares the stage's bucket.
 *
 * Throws a `RangeError` naming the setting when a limit is not valid or names a route the API
 * does not have, so that a bad limit fails the start, not every connection.
 */
export function createThrottle(
  throttle: WebSocketThrottle | undefined,
  routes: Readonly<Record<string, unknown>>,
): (routeKey: string) => boolean {
  if (!throttle) return () => true;
  const bucketOf = (path: string, limit: ThrottleLimit) => {
    try {
      return new TokenBucket(limit);
    } catch (error) {
      throw new RangeError(`${path}.${messageOf(error)}`, { cause: error });
    }
  };
  const stage = throttle.stage ? bucketOf('throttle.stage', throttle.stage) : undefined;
  const own = new Map<string, TokenBucket>();
  for (const [routeKey, limit] of Object.entries(throttle.routes ?? {})) {
    // As AWS refuses the settings of a route key the API does not have.
    if (!Object.hasOwn(routes, routeKey)) {
      throw new RangeError(`throttle.routes.${routeKey}: the API has no route ${routeKey}`);
    }
    own.set(routeKey, bucketOf(`throttle.routes.${routeKey}`, limit));
  }
  return (routeKey) => (own.get(routeKey) ?? stage)?.take() ?? true;
}
