import type { PushAddress, PushKind } from '@parley/protocol';
import { describe, expect, it, vi } from 'vitest';
import { isAllowedPushEndpoint } from '../../lambdas/config.js';
import { BadRequestError } from '../../lambdas/domain/errors.js';
import type { PlatformEndpoints } from '../../lambdas/domain/ports.js';
import { pushErasureStep, registerPush, unregisterPush } from '../../lambdas/domain/push-registration.js';
import { InMemoryPushRegistrationStore } from '../support/in-memory/index.js';

const NOW = 1_764_290_000_123;
const CALLER = { userId: 'alice', deviceId: 'phone' };
const ENDPOINT_ARN = 'arn:aws:sns:us-east-1:123456789012:endpoint/APNS/parley/5e3e9847';
const KEYS = { p256dh: `B${'A'.repeat(86)}`, auth: 'A'.repeat(22) };

const webPush = (endpoint: string): PushAddress => ({ kind: 'webpush', endpoint, keys: KEYS });

function setup(
  options: {
    kinds?: PushKind[];
    hosts?: string[];
    deleteEndpoint?: PlatformEndpoints['deleteEndpoint'];
  } = {},
) {
  const registrations = new InMemoryPushRegistrationStore();
  const platformEndpoints = { deleteEndpoint: vi.fn(options.deleteEndpoint ?? (async () => {})) };
  const onEndpointNotDeleted = vi.fn();
  const hosts = options.hosts ?? ['fcm.googleapis.com', 'http://127.0.0.1:8093'];
  const deps = {
    registrations,
    platformEndpoints,
    kindsOn: new Set<PushKind>(options.kinds ?? ['webpush', 'apns', 'fcm']),
    allowsEndpoint: (endpoint: string) => isAllowedPushEndpoint(endpoint, hosts),
    now: () => NOW,
    onEndpointNotDeleted,
  };
  return { deps, registrations, platformEndpoints, onEndpointNotDeleted };
}

/** The registration of alice's phone from an earlier `registerPush`, with the SNS endpoint a push made for it. */
async function withEarlierApnsRegistration(registrations: InMemoryPushRegistrationStore) {
  await registrations.putRegistration({
    ...CALLER,
    address: { kind: 'apns', token: 'ab12' },
    registeredAt: NOW - 60_000,
  });
  await registrations.setPlatformEndpoint('alice', 'phone', NOW - 60_000, ENDPOINT_ARN);
}

/** Alice's phone as above, and her laptop registered for Web Push. */
async function withPhoneAndLaptop(
  deps: ReturnType<typeof setup>['deps'],
  registrations: InMemoryPushRegistrationStore,
) {
  await withEarlierApnsRegistration(registrations);
  await registerPush(deps, { userId: 'alice', deviceId: 'laptop' }, webPush('https://fcm.googleapis.com/x'));
}

describe('registerPush', () => {
  it("stores the address under the caller's user and device, stamped with the time", async () => {
    const { deps, registrations } = setup();
    const address = webPush('https://fcm.googleapis.com/fcm/send/abc');

    await registerPush(deps, CALLER, address);

    expect(await registrations.listRegistrations('alice')).toEqual([
      { userId: 'alice', deviceId: 'phone', address, registeredAt: NOW },
    ]);
  });

  it.each([
    ['webpush', webPush('https://fcm.googleapis.com/fcm/send/abc'), 'a VAPID key'],
    ['apns', { kind: 'apns', token: 'ab12' }, 'an APNs platform application'],
    ['fcm', { kind: 'fcm', token: 'tok:en' }, 'an FCM platform application'],
  ] as const)(
    'refuses a %s address where the deployment has that kind off, storing nothing',
    async (kind, address, setting) => {
      const { deps, registrations } = setup({
        kinds: (['webpush', 'apns', 'fcm'] as const).filter((k) => k !== kind),
      });

      const refusal = registerPush(deps, CALLER, address);

      await expect(refusal).rejects.toThrow(BadRequestError);
      await expect(refusal).rejects.toThrow(
        `push.kind: ${kind} is not enabled in this deployment (it has no ${setting})`,
      );
      expect(await registrations.listRegistrations('alice')).toEqual([]);
    },
  );

  it('refuses a Web Push endpoint on a host the deployment does not send to, naming push.endpoint', async () => {
    const { deps, registrations } = setup();

    await expect(registerPush(deps, CALLER, webPush('https://attacker.example/collect'))).rejects.toThrow(
      'push.endpoint: attacker.example is not a push service this deployment sends to',
    );
    // A name that only ends like an allowed host is another host.
    await expect(
      registerPush(deps, CALLER, webPush('https://evilfcm.googleapis.com.example/x')),
    ).rejects.toThrow(BadRequestError);
    expect(await registrations.listRegistrations('alice')).toEqual([]);
  });

  it('refuses an http endpoint where only https is allowed, and an http origin other than the one listed', async () => {
    const { deps, registrations } = setup();

    for (const endpoint of ['http://fcm.googleapis.com/fcm/send/abc', 'http://127.0.0.1:9999/push/abc']) {
      await expect(registerPush(deps, CALLER, webPush(endpoint))).rejects.toThrow(
        'push.endpoint: must be an https URL (http only at an origin the deployment allows, such as its local push service)',
      );
    }
    expect(await registrations.listRegistrations('alice')).toEqual([]);
  });

  it('accepts an http endpoint at exactly the origin the deployment lists (the local push service)', async () => {
    const { deps, registrations } = setup();

    await registerPush(deps, CALLER, webPush('http://127.0.0.1:8093/push/abc'));

    expect(await registrations.listRegistrations('alice')).toHaveLength(1);
  });

  it('replaces the earlier registration of the device and deletes the SNS endpoint made for it', async () => {
    const { deps, registrations, platformEndpoints } = setup();
    await withEarlierApnsRegistration(registrations);

    await registerPush(deps, CALLER, { kind: 'apns', token: 'cd34' });

    expect(await registrations.listRegistrations('alice')).toEqual([
      { ...CALLER, address: { kind: 'apns', token: 'cd34' }, registeredAt: NOW },
    ]);
    expect(platformEndpoints.deleteEndpoint).toHaveBeenCalledExactlyOnceWith(ENDPOINT_ARN);
  });

  it('deletes no endpoint when the registration it replaces had none', async () => {
    const { deps, platformEndpoints } = setup();
    await registerPush(deps, CALLER, { kind: 'fcm', token: 'first' });

    await registerPush(deps, CALLER, { kind: 'fcm', token: 'second' });

    expect(platformEndpoints.deleteEndpoint).not.toHaveBeenCalled();
  });

  it('still registers when the old SNS endpoint cannot be deleted, and tells the operator', async () => {
    const failure = new Error('SNS is down');
    const { deps, registrations, onEndpointNotDeleted } = setup({
      deleteEndpoint: async () => {
        throw failure;
      },
    });
    await withEarlierApnsRegistration(registrations);

    await registerPush(deps, CALLER, webPush('https://fcm.googleapis.com/fcm/send/abc'));

    expect((await registrations.listRegistrations('alice'))[0]?.address.kind).toBe('webpush');
    expect(onEndpointNotDeleted).toHaveBeenCalledExactlyOnceWith(ENDPOINT_ARN, failure);
  });
});

describe('unregisterPush', () => {
  it("deletes the caller's registration and its SNS endpoint, leaving the user's other devices", async () => {
    const { deps, registrations, platformEndpoints } = setup();
    await withPhoneAndLaptop(deps, registrations);

    await unregisterPush(deps, CALLER);

    expect((await registrations.listRegistrations('alice')).map(({ deviceId }) => deviceId)).toEqual([
      'laptop',
    ]);
    expect(platformEndpoints.deleteEndpoint).toHaveBeenCalledExactlyOnceWith(ENDPOINT_ARN);
  });

  it('is answered all the same when the device has no registration', async () => {
    const { deps, platformEndpoints } = setup();

    await expect(unregisterPush(deps, CALLER)).resolves.toBeUndefined();

    expect(platformEndpoints.deleteEndpoint).not.toHaveBeenCalled();
  });
});

describe('the erasure step of push registrations', () => {
  it("removes every registration and window of the user and deletes each SNS endpoint, leaving other users'", async () => {
    const { deps, registrations, platformEndpoints } = setup();
    await withPhoneAndLaptop(deps, registrations);
    await registerPush(deps, { userId: 'bob', deviceId: 'phone' }, webPush('https://fcm.googleapis.com/y'));
    await registrations.claimPushWindow('alice', 'laptop', 'dm:alice:bob', NOW, 5000);
    const step = pushErasureStep(registrations, platformEndpoints);

    expect(await step.run('alice')).toBe(2);

    expect(await registrations.listRegistrations('alice')).toEqual([]);
    expect(await registrations.claimPushWindow('alice', 'laptop', 'dm:alice:bob', NOW + 1, 5000)).toBe(true);
    expect(await registrations.listRegistrations('bob')).toHaveLength(1);
    expect(platformEndpoints.deleteEndpoint).toHaveBeenCalledExactlyOnceWith(ENDPOINT_ARN);
    expect(await step.run('alice')).toBe(0);
  });

  it('keeps the registrations when an SNS endpoint cannot be deleted, so that the next run finds it again', async () => {
    const { registrations, platformEndpoints } = setup({
      deleteEndpoint: async () => {
        throw new Error('SNS is down');
      },
    });
    await withEarlierApnsRegistration(registrations);

    await expect(pushErasureStep(registrations, platformEndpoints).run('alice')).rejects.toThrow(
      'SNS is down',
    );

    expect((await registrations.listRegistrations('alice'))[0]?.platformEndpointArn).toBe(ENDPOINT_ARN);
  });
});
