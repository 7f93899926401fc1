/**
 * Push registration (protocol 1.4) over real WebSockets on the local stack: a device
 * registers its push address, which outlives its connection; a malformed or disallowed
 * address is `bad_request` naming the field, stores nothing, and leaves the connection up.
 * The registrations are read back from the push-devices table the stack uses.
 */

import { describe, expect, it } from 'vitest';
import webPush from 'web-push';
import { DynamoDbPushRegistrationStore } from '../../lambdas/adapters/dynamodb-push-registration-store.js';
import type { PushSettings } from '../../lambdas/config.js';
import { TEST_STACK_MODE, uniqueId, useTestStack } from '../support/stack.js';
import type { TestClient } from '../support/ws-client.js';

const vapid = webPush.generateVAPIDKeys();
/**
 * Web Push on, to the browsers' push services: what the deployed mode's template gives
 * the routes too. (Only the in-process stack takes settings from a test.)
 */
const PUSH: PushSettings = {
  vapid: { publicKey: vapid.publicKey, privateKey: vapid.privateKey, subject: 'mailto:ops@example.com' },
  preview: false,
  coalesceWindowMs: 5000,
  ttlSeconds: 86_400,
  endpointHosts: ['fcm.googleapis.com', 'push.services.mozilla.com'],
};

const KEYS = { p256dh: `B${'A'.repeat(86)}`, auth: 'A'.repeat(22) };
const subscription = (id: string) => ({
  kind: 'webpush',
  endpoint: `https://fcm.googleapis.com/fcm/send/${id}`,
  keys: KEYS,
});

describe('push registration over a real WebSocket', () => {
  const { stack, connect } = useTestStack(TEST_STACK_MODE === 'local' ? { push: PUSH } : {});
  const store = () =>
    new DynamoDbPushRegistrationStore({
      client: stack().deps.clients.dynamodb,
      tableName: stack().config.names.pushDevicesTable,
    });

  /** The connection still answers: a refusal never closes it. */
  const stillUp = async (device: TestClient) =>
    expect(await device.request({ action: 'ping' })).toMatchObject({ type: 'pong' });

  it('answers registerPush with pushRegistered and its requestId, and stores the address under the device', async () => {
    const alice = uniqueId('alice');
    const phone = await connect(alice, 'phone');

    const answer = await phone.request({
      action: 'registerPush',
      requestId: 'reg-1',
      push: subscription('a'),
    });

    expect(answer).toEqual({ type: 'pushRegistered', requestId: 'reg-1' });
    expect(await store().listRegistrations(alice)).toEqual([
      { userId: alice, deviceId: 'phone', address: subscription('a'), registeredAt: expect.any(Number) },
    ]);
  });

  it.each([
    [
      'a p256dh key of the wrong length',
      { ...subscription('b'), keys: { ...KEYS, p256dh: 'BAAA' } },
      'push.keys.p256dh: ',
    ],
    [
      'a subscription without auth',
      { ...subscription('b'), keys: { p256dh: KEYS.p256dh } },
      'push.keys.auth: ',
    ],
    ['an unknown kind', { kind: 'pigeon', token: 'coo' }, 'push.kind: '],
    ['an endpoint that is not a URL', { ...subscription('b'), endpoint: 'not a url' }, 'push.endpoint: '],
    [
      'an endpoint on a host the deployment does not send to',
      { ...subscription('b'), endpoint: 'https://collector.example/push' },
      'push.endpoint: collector.example is not a push service this deployment sends to',
    ],
  ])(
    'refuses %s with bad_request naming the field, stores nothing and keeps the connection',
    async (_what, push, message) => {
      const alice = uniqueId('alice');
      const phone = await connect(alice, 'phone');

      const answer = await phone.request({ action: 'registerPush', requestId: 'bad-1', push });

      expect(answer).toMatchObject({ type: 'error', code: 'bad_request', requestId: 'bad-1' });
      expect(String(answer.message).startsWith(message), String(answer.message)).toBe(true);
      expect(await store().listRegistrations(alice)).toEqual([]);
      await stillUp(phone);
    },
  );

  it('keeps the registration after the device disconnects, and a new connection replaces it', async () => {
    const alice = uniqueId('alice');
    const phone = await connect(alice, 'phone');
    await phone.request({ action: 'registerPush', push: subscription('first') });
    await phone.close();

    const again = await connect(alice, 'phone');
    expect((await store().listRegistrations(alice)).map((r) => r.address)).toEqual([subscription('first')]);
    await again.request({ action: 'registerPush', push: subscription('second') });

    expect((await store().listRegistrations(alice)).map((r) => r.address)).toEqual([subscription('second')]);
  });

  it("unregisters only the caller's device, and answers a device with no registration all the same", async () => {
    const alice = uniqueId('alice');
    const phone = await connect(alice, 'phone');
    const laptop = await connect(alice, 'laptop');
    await phone.request({ action: 'registerPush', push: subscription('phone') });
    await laptop.request({ action: 'registerPush', push: subscription('laptop') });

    expect(await phone.request({ action: 'unregisterPush', requestId: 'un-1' })).toEqual({
      type: 'pushUnregistered',
      requestId: 'un-1',
    });
    expect(await phone.request({ action: 'unregisterPush', requestId: 'un-2' })).toEqual({
      type: 'pushUnregistered',
      requestId: 'un-2',
    });

    expect((await store().listRegistrations(alice)).map((r) => r.deviceId)).toEqual(['laptop']);
  });
});
