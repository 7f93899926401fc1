/** `registerPush` (protocol 1.4): the push address of the caller's device; answered `pushRegistered`. */

import { type PushRegisteredFrame, type RegisterPushFrame, registerPushFrameSchema } from '@parley/protocol';
import { registerPush } from '../domain/push-registration.js';
import { frameRoute, type RouteEvent } from '../middleware/websocket-route.js';
import { type DepsProvider, depsFromEnvironment, pushRegistrationDeps } from '../runtime.js';

export function createRegisterPushHandler(deps: DepsProvider) {
  const serve = async ({ frame, caller }: RouteEvent<RegisterPushFrame>): Promise<PushRegisteredFrame> => {
    await registerPush(pushRegistrationDeps(deps()), caller, frame.push);
    return { type: 'pushRegistered', requestId: frame.requestId };
  };
  return frameRoute(registerPushFrameSchema, deps, serve);
}

export const handler = createRegisterPushHandler(depsFromEnvironment('register-push'));
