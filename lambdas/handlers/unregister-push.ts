/** `unregisterPush` (protocol 1.4): the caller's device gets no more pushes; answered `pushUnregistered`. */

import {
  type PushUnregisteredFrame,
  type UnregisterPushFrame,
  unregisterPushFrameSchema,
} from '@parley/protocol';
import { unregisterPush } from '../domain/push-registration.js';
import { frameRoute, type RouteEvent } from '../middleware/websocket-route.js';
import { type DepsProvider, depsFromEnvironment, pushRegistrationDeps } from '../runtime.js';

export function createUnregisterPushHandler(deps: DepsProvider) {
  const serve = async ({
    frame,
    caller,
  }: RouteEvent<UnregisterPushFrame>): Promise<PushUnregisteredFrame> => {
    await unregisterPush(pushRegistrationDeps(deps()), caller);
    return { type: 'pushUnregistered', requestId: frame.requestId };
  };
  return frameRoute(unregisterPushFrameSchema, deps, serve);
}

export const handler = createUnregisterPushHandler(depsFromEnvironment('unregister-push'));
