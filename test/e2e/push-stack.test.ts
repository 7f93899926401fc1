/**
 * Push notifications through the stack as it deploys (protocol 1.4): in the deployed mode
 * the template's own push-notifier bundle reads the VAPID private key from the secret the
 * template names, and the routes' bundles check the endpoint against the template's hosts;
 * in the engines mode the same handlers run in-process. Only what both modes share is used:
 * real WebSocket clients, the local push service, and the tables. test/e2e/push.test.ts
 * covers the rest (coalescing, retries, previews) with the in-process hooks.
 */
import { randomUUID } from 'node:crypto';
import { directConversationId } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import type { PushSubscriptionJson, SubscriptionPushes } from '../../local/push-service/index.js';
import { registeredDevice as registeredDeviceOf, until } from '../support/push-devices.js';
import { uniqueId, useTestStack } from '../support/stack.js';
import type { TestClient } from '../support/ws-client.js';

describe('push through the stack as it deploys', () => {
  const test = useTestStack();
  const pushService = () => {
    const push = test.stack().push;
    if (!push) throw new Error('the stack runs no local push service: is Web Push on in its template?');
    return push.serviceUrl;
  };
  const idOf = (subscription: PushSubscriptionJson) => subscription.endpoint.split('/').pop();
  const pushesOf = async (subscription: PushSubscriptionJson) =>
    (await (
      await fetch(`${pushService()}/subscriptions/${idOf(subscription)}/pushes`)
    ).json()) as SubscriptionPushes;

  const registeredDevice = (userId: string, deviceId: string, options?: { offline?: boolean }) =>
    registeredDeviceOf(test.stack(), test.connect, userId, deviceId, options);

  async function send(device: TestClient, to: string) {
    const sent = await device.request({
      action: 'send',
      to,
      clientMessageId: randomUUID(),
      body: 'the secret plan',
    });
    expect(sent).toMatchObject({ type: 'sent' });
    return sent.seq as number;
  }

  it('pushes a message, decrypted with the template’s VAPID key, to the device that went away, and none to the connected one', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const away = await registeredDevice(bob, 'phone');
    const connected = await registeredDevice(bob, 'laptop', { offline: false });
    const alicePhone = await test.connect(alice, 'phone');

    const seq = await send(alicePhone, bob);
    const { arrivals } = await until(
      () => pushesOf(away.subscription),
      (pushes) => pushes.arrivals.length > 0,
      'the push to the device that went away',
    );

    expect(arrivals).toEqual([
      expect.objectContaining({
        payload: {
          type: 'message',
          conversationId: directConversationId(alice, bob),
          seq,
          senderId: alice,
          unread: 1,
          text: 'New message',
        },
      }),
    ]);
    await connected.device.waitFor((frame) => frame.type === 'message' && frame.seq === seq);
    expect((await pushesOf(connected.subscription)).arrivals).toEqual([]);
  });

  it('removes the registration when the push service answers 410', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const { subscription } = await registeredDevice(bob, 'phone');
    await fetch(`${pushService()}/subscriptions/${idOf(subscription)}/respond`, {
      method: 'POST',
      body: JSON.stringify({ status: 410 }),
    });
    const alicePhone = await test.connect(alice, 'phone');

    await send(alicePhone, bob);

    await until(
      () => test.stack().deps.pushRegistrations.listRegistrations(bob),
      (registrations) => registrations.length === 0,
      'the removal of the gone registration',
    );
    expect((await pushesOf(subscription)).refused).toEqual([expect.objectContaining({ status: 410 })]);
  });

  it('answers bad_request for an endpoint that is not an allowed push service', async () => {
    const bob = uniqueId('bob');
    const device = await test.connect(bob, 'phone');
    const answer = await device.request({
      action: 'registerPush',
      push: {
        kind: 'webpush',
        endpoint: 'https://attacker.example.com/push/1',
        keys: { p256dh: `B${'A'.repeat(86)}`, auth: 'A'.repeat(22) },
      },
    });
    expect(answer).toMatchObject({
      type: 'error',
      code: 'bad_request',
      message: expect.stringContaining('push.endpoint'),
    });
  });
});
