/** The contract of the push registration store (protocol 1.4): registrations, windows, erasure. */
import type { PushAddress } from '@parley/protocol';
import { expect, it } from 'vitest';
import type { PushRegistration } from '../../../lambdas/domain/ports.js';
import { NOW, type PortFactories, uniqueId } from './common.js';

const WINDOW_MS = 5000;

const webPush = (n: number): PushAddress => ({
  kind: 'webpush',
  endpoint: `https://fcm.googleapis.com/fcm/send/device-${n}`,
  keys: { p256dh: 'B'.repeat(87), auth: 'A'.repeat(22) },
});

const registration = (
  userId: string,
  deviceId: string,
  registeredAt = NOW,
  address: PushAddress = webPush(1),
): PushRegistration => ({ userId, deviceId, address, registeredAt });

export function describePushRegistrationStore(factories: PortFactories): void {
  it('stores a registration and lists it with its address as given', async () => {
    const store = factories.pushRegistrations();
    const userId = uniqueId('u');
    const phone = registration(userId, 'phone', NOW, { kind: 'apns', token: 'ab12' });
    const laptop = registration(userId, 'laptop');

    expect(await store.putRegistration(phone)).toBeUndefined();
    expect(await store.putRegistration(laptop)).toBeUndefined();

    expect(await store.listRegistrations(userId)).toEqual([laptop, phone]);
    expect(await store.listRegistrations(uniqueId('u'))).toEqual([]);
  });

  it('replaces the earlier registration of the same device and answers it', async () => {
    const store = factories.pushRegistrations();
    const userId = uniqueId('u');
    const first = registration(userId, 'phone', NOW, { kind: 'fcm', token: 'first' });
    await store.putRegistration(first);
    await store.setPlatformEndpoint(
      userId,
      'phone',
      NOW,
      'arn:aws:sns:us-east-1:123456789012:endpoint/GCM/a/1',
    );
    const second = registration(userId, 'phone', NOW + 1, { kind: 'fcm', token: 'second' });

    expect(await store.putRegistration(second)).toEqual({
      ...first,
      platformEndpointArn: 'arn:aws:sns:us-east-1:123456789012:endpoint/GCM/a/1',
    });
    expect(await store.listRegistrations(userId)).toEqual([second]);
  });

  it('deletes a registration and answers it, and answers undefined when there is none', async () => {
    const store = factories.pushRegistrations();
    const userId = uniqueId('u');
    const phone = registration(userId, 'phone');
    await store.putRegistration(phone);

    expect(await store.deleteRegistration(userId, 'phone')).toEqual(phone);
    expect(await store.deleteRegistration(userId, 'phone')).toBeUndefined();
    expect(await store.listRegistrations(userId)).toEqual([]);
  });

  it('deletes a registration only if it is unchanged, keeping a newer one of the same device', async () => {
    const store = factories.pushRegistrations();
    const userId = uniqueId('u');
    await store.putRegistration(registration(userId, 'phone', NOW));
    const newer = registration(userId, 'phone', NOW + 5, webPush(2));
    await store.putRegistration(newer);

    expect(await store.deleteRegistrationIfUnchanged(userId, 'phone', NOW)).toBe(false);
    expect(await store.listRegistrations(userId)).toEqual([newer]);
    expect(await store.deleteRegistrationIfUnchanged(userId, 'phone', NOW + 5)).toBe(true);
    expect(await store.listRegistrations(userId)).toEqual([]);
    expect(await store.deleteRegistrationIfUnchanged(userId, 'phone', NOW + 5)).toBe(false);
  });

  it('keeps a platform endpoint only on the registration it was made for', async () => {
    const store = factories.pushRegistrations();
    const userId = uniqueId('u');
    const current = registration(userId, 'phone', NOW + 1, { kind: 'apns', token: 'cd34' });
    await store.putRegistration(current);

    await store.setPlatformEndpoint(
      userId,
      'phone',
      NOW,
      'arn:aws:sns:us-east-1:123456789012:endpoint/APNS/a/old',
    );
    await store.setPlatformEndpoint(
      userId,
      'gone',
      NOW,
      'arn:aws:sns:us-east-1:123456789012:endpoint/APNS/a/x',
    );
    expect(await store.listRegistrations(userId)).toEqual([current]);

    await store.setPlatformEndpoint(
      userId,
      'phone',
      NOW + 1,
      'arn:aws:sns:us-east-1:123456789012:endpoint/APNS/a/new',
    );
    expect(await store.listRegistrations(userId)).toEqual([
      { ...current, platformEndpointArn: 'arn:aws:sns:us-east-1:123456789012:endpoint/APNS/a/new' },
    ]);
  });

  it('claims a window once until it ends, then again, each device and conversation apart', async () => {
    const store = factories.pushRegistrations();
    const userId = uniqueId('u');
    const claim = (at: number, deviceId = 'phone', conversationId = 'dm:a:b') =>
      store.claimPushWindow(userId, deviceId, conversationId, NOW + at, WINDOW_MS);

    expect(await claim(0)).toBe(true);
    expect(await claim(1)).toBe(false);
    expect(await claim(WINDOW_MS - 1)).toBe(false);
    expect(await claim(1, 'laptop')).toBe(true);
    expect(await claim(1, 'phone', 'dm:a:c')).toBe(true);
    expect(await claim(WINDOW_MS)).toBe(true);
    expect(await claim(WINDOW_MS + 1)).toBe(false);
  });

  it('lets exactly one of several claims of the same window at the same moment through', async () => {
    const store = factories.pushRegistrations();
    const userId = uniqueId('u');

    const claims = await Promise.all(
      Array.from({ length: 5 }, () => store.claimPushWindow(userId, 'phone', 'dm:a:b', NOW, WINDOW_MS)),
    );

    expect(claims.filter(Boolean)).toHaveLength(1);
  });

  it('writes no window a list of registrations shows', async () => {
    const store = factories.pushRegistrations();
    const userId = uniqueId('u');
    const phone = registration(userId, 'phone');
    await store.putRegistration(phone);

    await store.claimPushWindow(userId, 'phone', 'dm:a:b', NOW, WINDOW_MS);

    expect(await store.listRegistrations(userId)).toEqual([phone]);
  });

  it("removes every item of the user, answering its registrations, and leaves other users' alone", async () => {
    const store = factories.pushRegistrations();
    const userId = uniqueId('u');
    const other = uniqueId('u');
    // More than one BatchWriteItem's 25 deletes.
    const devices = Array.from({ length: 27 }, (_, n) =>
      registration(userId, `d${String(n).padStart(2, '0')}`),
    );
    for (const device of devices) await store.putRegistration(device);
    await store.claimPushWindow(userId, 'd00', 'dm:a:b', NOW, WINDOW_MS);
    const kept = registration(other, 'phone');
    await store.putRegistration(kept);
    await store.claimPushWindow(other, 'phone', 'dm:a:b', NOW, WINDOW_MS);

    expect(await store.removeAllForUser(userId)).toEqual(devices);

    expect(await store.listRegistrations(userId)).toEqual([]);
    // The window went too: a claim right away is let through.
    expect(await store.claimPushWindow(userId, 'd00', 'dm:a:b', NOW + 1, WINDOW_MS)).toBe(true);
    expect(await store.listRegistrations(other)).toEqual([kept]);
    expect(await store.claimPushWindow(other, 'phone', 'dm:a:b', NOW + 1, WINDOW_MS)).toBe(false);
    expect(await store.removeAllForUser(uniqueId('u'))).toEqual([]);
  });
}
