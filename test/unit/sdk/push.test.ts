/** Push registration in the SDK (protocol 1.4), against a fake server the test drives. */
import { checkedPushAddress, ParleyErrorCode, webPushAddressOf } from '@parley/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanUpSdkTest, connectedClient, expectNothingSent, offlineClient } from './support/clients.js';
import { startFakeServer } from './support/fake-server.js';

afterEach(cleanUpSdkTest);

const KEYS = { p256dh: `B${'A'.repeat(86)}`, auth: 'A'.repeat(22) };
const SUBSCRIPTION = {
  endpoint: 'https://fcm.googleapis.com/fcm/send/abc',
  expirationTime: null,
  keys: KEYS,
};

describe('push registration', () => {
  it('registers the address with a registerPush frame and resolves on pushRegistered', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    const registering = client.registerPush(webPushAddressOf(SUBSCRIPTION));
    const frame = await connection.nextFrame();
    connection.answer(frame, { type: 'pushRegistered' });
    await registering;

    expect(frame).toEqual({
      action: 'registerPush',
      requestId: expect.any(String),
      push: { kind: 'webpush', endpoint: SUBSCRIPTION.endpoint, keys: KEYS },
    });
  });

  it('unregisters with an unregisterPush frame and resolves on pushUnregistered', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    const unregistering = client.unregisterPush();
    const frame = await connection.nextFrame();
    connection.answer(frame, { type: 'pushUnregistered' });
    await unregistering;

    expect(frame).toEqual({ action: 'unregisterPush', requestId: expect.any(String) });
  });

  it('rejects with the server’s error, such as a kind the deployment has off', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    const registering = client.registerPush({ kind: 'apns', token: 'ab12' });
    const frame = await connection.nextFrame();
    connection.answer(frame, {
      type: 'error',
      code: 'bad_request',
      message: 'push.kind: apns is not enabled in this deployment',
    });

    await expect(registering).rejects.toMatchObject({
      code: ParleyErrorCode.BadRequest,
      message: 'push.kind: apns is not enabled in this deployment',
    });
  });

  it('refuses a malformed address itself, naming the field, and sends nothing', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    await expect(
      client.registerPush({
        kind: 'webpush',
        endpoint: SUBSCRIPTION.endpoint,
        keys: { ...KEYS, auth: 'short' },
      }),
    ).rejects.toMatchObject({
      code: ParleyErrorCode.BadRequest,
      message: expect.stringMatching(/^push\.keys\.auth: /),
    });

    await expectNothingSent(connection, client);
  });

  it('rejects with connection_lost while offline, queueing nothing', async () => {
    const server = await startFakeServer();
    const client = await offlineClient(server);

    await expect(client.registerPush({ kind: 'fcm', token: 'tok:en' })).rejects.toMatchObject({
      code: ParleyErrorCode.ConnectionLost,
    });
    await expect(client.unregisterPush()).rejects.toMatchObject({ code: ParleyErrorCode.ConnectionLost });
  });
});

describe('webPushAddressOf and checkedPushAddress', () => {
  it('makes the address of a PushSubscription.toJSON(), dropping what the server does not take', () => {
    expect(webPushAddressOf(SUBSCRIPTION)).toEqual({
      kind: 'webpush',
      endpoint: SUBSCRIPTION.endpoint,
      keys: KEYS,
    });
  });

  it('names the missing field of a subscription without keys', () => {
    expect(() => webPushAddressOf({ endpoint: SUBSCRIPTION.endpoint })).toThrow(/^push\.keys\.p256dh: /);
  });

  it('names push.kind for an unknown kind', () => {
    expect(() => checkedPushAddress({ kind: 'pigeon' })).toThrow(/^push\.kind: /);
  });
});
