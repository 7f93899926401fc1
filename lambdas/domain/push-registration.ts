/**
 * Push registration (protocol 1.4): a device stores the address pushes reach it at while
 * it has no open connection, under the caller's user and device; the registration outlives
 * the connection. The schema has checked the address's shape; this checks what only the
 * deployment knows: that it pushes to this kind of address at all, and that a Web Push
 * endpoint is on a push service it posts to (else a client could make the push function
 * post to an address of its choosing).
 */
import type { PushAddress, PushKind } from '@parley/protocol';
import type { ErasureStep } from './erasure.js';
import { BadRequestError } from './errors.js';
import type { PlatformEndpoints, PushRegistration, PushRegistrationStore } from './ports.js';

export interface PushRegistrationDeps {
  registrations: PushRegistrationStore;
  platformEndpoints: PlatformEndpoints;
  /** The kinds of address this deployment pushes to (`pushSettingsFrom`). */
  kindsOn: ReadonlySet<PushKind>;
  /** True when the deployment posts to this Web Push endpoint (`isAllowedPushEndpoint`). */
  allowsEndpoint: (endpoint: string) => boolean;
  now: () => number;
  /**
   * Told when the SNS endpoint of a registration replaced or removed could not be deleted:
   * the registration itself has changed, and the endpoint left behind receives no push.
   */
  onEndpointNotDeleted: (endpointArn: string, error: unknown) => void;
}

export interface PushCaller {
  userId: string;
  deviceId: string;
}

/** What setting turns each kind on, for the refusal to name. */
const SETTING_OF: Record<PushKind, string> = {
  webpush: 'a VAPID key',
  apns: 'an APNs platform application',
  fcm: 'an FCM platform application',
};

/** Refuses, naming the field, an address this deployment does not push to. */
function assertAccepted(deps: PushRegistrationDeps, address: PushAddress): void {
  if (!deps.kindsOn.has(address.kind)) {
    throw new BadRequestError(
      `push.kind: ${address.kind} is not enabled in this deployment (it has no ${SETTING_OF[address.kind]})`,
    );
  }
  if (address.kind !== 'webpush' || deps.allowsEndpoint(address.endpoint)) return;
  const url = new URL(address.endpoint);
  if (url.protocol !== 'https:') {
    throw new BadRequestError(
      'push.endpoint: must be an https URL (http only at an origin the deployment allows, such as its local push service)',
    );
  }
  throw new BadRequestError(`push.endpoint: ${url.hostname} is not a push service this deployment sends to`);
}

/**
 * Stores the address of the caller's device, replacing its earlier one, then deletes the
 * SNS endpoint the earlier one had (a token replaced must not keep an endpoint).
 */
export async function registerPush(
  deps: PushRegistrationDeps,
  caller: PushCaller,
  address: PushAddress,
): Promise<void> {
  assertAccepted(deps, address);
  const replaced = await deps.registrations.putRegistration({
    userId: caller.userId,
    deviceId: caller.deviceId,
    address,
    registeredAt: deps.now(),
  });
  await deletePlatformEndpointOf(deps, replaced);
}

/** Deletes the registration of the caller's device and its SNS endpoint; none registered is fine. */
export async function unregisterPush(deps: PushRegistrationDeps, caller: PushCaller): Promise<void> {
  const removed = await deps.registrations.deleteRegistration(caller.userId, caller.deviceId);
  await deletePlatformEndpointOf(deps, removed);
}

/**
 * The registration has changed by now: a failure here must not answer the client with an
 * error it would retry for nothing, so it is told to `onEndpointNotDeleted` instead.
 */
async function deletePlatformEndpointOf(
  deps: PushRegistrationDeps,
  registration: PushRegistration | undefined,
): Promise<void> {
  const endpointArn = registration?.platformEndpointArn;
  if (!endpointArn) return;
  try {
    await deps.platformEndpoints.deleteEndpoint(endpointArn);
  } catch (error) {
    deps.onEndpointNotDeleted(endpointArn, error);
  }
}

/**
 * Erasure's step for push (docs/adr/0015-retention-and-erasure.md): every item of the user in
 * push-devices, and the SNS endpoint of each registration. The endpoints go first, while the
 * registrations still name them: a run that fails there leaves them listed for the next run.
 * Counts the registrations removed.
 */
export function pushErasureStep(
  registrations: PushRegistrationStore,
  platformEndpoints: PlatformEndpoints,
): ErasureStep {
  const deleteEndpoints = async (of: readonly PushRegistration[], done: Set<string>) => {
    for (const { platformEndpointArn } of of) {
      if (!platformEndpointArn || done.has(platformEndpointArn)) continue;
      await platformEndpoints.deleteEndpoint(platformEndpointArn);
      done.add(platformEndpointArn);
    }
  };
  return {
    name: 'push registrations',
    run: async (userId) => {
      const deleted = new Set<string>();
      await deleteEndpoints(await registrations.listRegistrations(userId), deleted);
      const removed = await registrations.removeAllForUser(userId);
      // A device that registered meanwhile: its endpoint goes too.
      await deleteEndpoints(removed, deleted);
      return removed.length;
    },
  };
}
