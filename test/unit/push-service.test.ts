import { request as httpRequest } from 'node:http';
import type { PushPayload } from '@parley/protocol';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import webPush from 'web-push';
import {
  type PushSubscriptionJson,
  type RunningPushService,
  type SubscriptionPushes,
  startPushService,
} from '../../local/push-service/index.js';

const vapid = webPush.generateVAPIDKeys();
const SUBJECT = 'mailto:ops@parley.example';
const PAYLOAD: PushPayload = {
  type: 'message',
  conversationId: 'dm:alice:bob',
  seq: 3,
  senderId: 'alice',
  unread: 2,
  text: 'New message',
};

let service: RunningPushService;
const lines: string[] = [];

beforeAll(async () => {
  service = await startPushService({
    port: 0,
    vapidPublicKey: vapid.publicKey,
    log: (line) => lines.push(line),
  });
});
afterAll(async () => {
  await service.stop();
});

async function subscribe(label = 'bob/phone'): Promise<PushSubscriptionJson> {
  const response = await fetch(`${service.origin}/subscriptions`, {
    method: 'POST',
    body: JSON.stringify({ label }),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as PushSubscriptionJson;
}

async function pushesOf(subscription: PushSubscriptionJson): Promise<SubscriptionPushes> {
  const id = subscription.endpoint.split('/').pop();
  return (await (await fetch(`${service.origin}/subscriptions/${id}/pushes`)).json()) as SubscriptionPushes;
}

/** What a Web Push sender sends, built by `web-push` itself. */
function requestOf(
  subscription: PushSubscriptionJson,
  payload: unknown,
  options: { topic?: string; keys?: { publicKey: string; privateKey: string } } = {},
) {
  const keys = options.keys ?? vapid;
  return webPush.generateRequestDetails(subscription, JSON.stringify(payload), {
    vapidDetails: { subject: SUBJECT, publicKey: keys.publicKey, privateKey: keys.privateKey },
    TTL: 60,
    urgency: 'high',
    ...(options.topic ? { topic: options.topic } : {}),
  });
}

async function send(request: ReturnType<typeof requestOf>, headers: Record<string, string> = {}) {
  return fetch(request.endpoint, {
    method: 'POST',
    headers: { ...(request.headers as Record<string, string>), ...headers },
    body: request.body,
  });
}

describe('the local push service', () => {
  it('answers a subscription as PushSubscription.toJSON() does, on its own origin', async () => {
    const subscription = await subscribe();

    expect(subscription.endpoint).toMatch(new RegExp(`^${service.origin}/push/[0-9a-f-]{36}$`));
    expect(Buffer.from(subscription.keys.p256dh, 'base64url')).toHaveLength(65);
    expect(Buffer.from(subscription.keys.auth, 'base64url')).toHaveLength(16);
  });

  it('decrypts a push sent with web-push, keeps it with its TTL, topic and urgency, and logs one line', async () => {
    const subscription = await subscribe('bob/laptop');

    const response = await send(requestOf(subscription, PAYLOAD, { topic: 'abc' }));

    expect(response.status).toBe(201);
    const { arrivals, pending, refused } = await pushesOf(subscription);
    expect(arrivals).toEqual([
      expect.objectContaining({ payload: PAYLOAD, ttl: 60, topic: 'abc', urgency: 'high' }),
    ]);
    expect(pending).toEqual(arrivals);
    expect(refused).toEqual([]);
    expect(lines).toContain('push → bob/laptop: dm:alice:bob seq 3 from alice, 2 unread: "New message"');
  });

  it('keeps only the newest pending push of a topic, and every arrival', async () => {
    const subscription = await subscribe();

    await send(requestOf(subscription, PAYLOAD, { topic: 'same' }));
    await send(requestOf(subscription, { ...PAYLOAD, seq: 4 }, { topic: 'same' }));
    await send(requestOf(subscription, { ...PAYLOAD, seq: 5 }, { topic: 'other' }));

    const { arrivals, pending } = await pushesOf(subscription);
    expect(arrivals.map((push) => push.payload.seq)).toEqual([3, 4, 5]);
    expect(pending.map((push) => push.payload.seq)).toEqual([4, 5]);
  });

  it('refuses a push signed with another VAPID key than the deployment’s, with 403', async () => {
    const subscription = await subscribe();

    const response = await send(requestOf(subscription, PAYLOAD, { keys: webPush.generateVAPIDKeys() }));

    expect(response.status).toBe(403);
    expect((await pushesOf(subscription)).refused).toEqual([
      expect.objectContaining({ status: 403, reason: "k is not the deployment's VAPID public key" }),
    ]);
  });

  it('refuses a JWT whose signature does not match k, with 403', async () => {
    const subscription = await subscribe();
    const request = requestOf(subscription, PAYLOAD);
    const other = webPush.generateVAPIDKeys();
    const forged = webPush.getVapidHeaders(
      service.origin,
      SUBJECT,
      other.publicKey,
      other.privateKey,
      'aes128gcm',
    );
    const token = /t=([^,]+)/.exec(forged.Authorization)?.[1];

    const response = await send(request, { Authorization: `vapid t=${token}, k=${vapid.publicKey}` });

    expect(response.status).toBe(403);
    expect((await pushesOf(subscription)).refused[0]?.reason).toMatch(/^the VAPID JWT: signature/);
  });

  it('refuses a JWT for another audience, or expiring more than a day ahead', async () => {
    const subscription = await subscribe();
    const key = await importVapidPrivateKey();
    const sign = (claims: { aud: string; exp: number }) =>
      new SignJWT({ sub: SUBJECT })
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
        .setAudience(claims.aud)
        .setExpirationTime(claims.exp)
        .sign(key);
    const inAnHour = Math.floor(Date.now() / 1000) + 3600;

    const otherAudience = await send(requestOf(subscription, PAYLOAD), {
      Authorization: `vapid t=${await sign({ aud: 'https://push.example', exp: inAnHour })}, k=${vapid.publicKey}`,
    });
    const tooLong = await send(requestOf(subscription, PAYLOAD), {
      Authorization: `vapid t=${await sign({ aud: service.origin, exp: inAnHour + 2 * 86_400 })}, k=${vapid.publicKey}`,
    });

    expect([otherAudience.status, tooLong.status]).toEqual([403, 403]);
    expect((await pushesOf(subscription)).refused.map((refused) => refused.reason)).toEqual([
      expect.stringMatching(/^the VAPID JWT: unexpected "aud"/),
      'the VAPID JWT expires more than 24 hours ahead',
    ]);
  });

  it('refuses a body encrypted for another subscription, and a push without TTL, with 400', async () => {
    const subscription = await subscribe();
    const other = await subscribe();
    const forOther = requestOf(other, PAYLOAD);

    const wrongKeys = await fetch(subscription.endpoint, {
      method: 'POST',
      headers: forOther.headers as Record<string, string>,
      body: forOther.body,
    });
    const { TTL: _ttl, ...withoutTtl } = requestOf(subscription, PAYLOAD).headers as Record<string, string>;
    const noTtl = await fetch(subscription.endpoint, {
      method: 'POST',
      headers: withoutTtl,
      body: forOther.body,
    });

    expect([wrongKeys.status, noTtl.status]).toEqual([400, 400]);
    const reasons = (await pushesOf(subscription)).refused.map((refused) => refused.reason);
    expect(reasons[0]).toMatch(/^the body cannot be decrypted for this subscription/);
    expect(reasons[1]).toBe('TTL header: required, a whole number of seconds');
    expect((await pushesOf(subscription)).arrivals).toEqual([]);
  });

  it('refuses a payload that is not a push payload, and a topic longer than 32 characters', async () => {
    const subscription = await subscribe();

    const notPayload = await send(requestOf(subscription, { hello: 'world' }));
    const longTopic = await send(requestOf(subscription, PAYLOAD), { Topic: 'a'.repeat(33) });

    expect([notPayload.status, longTopic.status]).toEqual([400, 400]);
    const reasons = (await pushesOf(subscription)).refused.map((refused) => refused.reason);
    expect(reasons[0]).toMatch(/^the payload is not a push payload/);
    expect(reasons[1]).toBe('Topic header: at most 32 base64url characters');
  });

  it('answers the status it is told to, for as many pushes as it is told, with Retry-After', async () => {
    const subscription = await subscribe();
    const id = subscription.endpoint.split('/').pop();
    await fetch(`${service.origin}/subscriptions/${id}/respond`, {
      method: 'POST',
      body: JSON.stringify({ status: 429, count: 1, retryAfterSeconds: 1 }),
    });

    const throttled = await send(requestOf(subscription, PAYLOAD));
    const accepted = await send(requestOf(subscription, PAYLOAD));

    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('1');
    expect(accepted.status).toBe(201);
    expect((await pushesOf(subscription)).arrivals).toHaveLength(1);
  });

  it('refuses a request addressed to another host name, as a DNS rebinding page would send it', async () => {
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const request = httpRequest(
        `${service.origin}/subscriptions`,
        { method: 'POST', headers: { host: 'attacker.example' } },
        (response) => {
          response.resume();
          resolve(response.statusCode);
        },
      );
      request.on('error', reject);
      request.end();
    });

    expect(status).toBe(403);
  });

  it('answers 404 to a push for a subscription it does not know', async () => {
    const subscription = await subscribe();

    const response = await send(
      requestOf({ ...subscription, endpoint: `${service.origin}/push/unknown` }, PAYLOAD),
    );

    expect(response.status).toBe(404);
  });
});

/** The VAPID private key (raw d) as a key jose signs with. */
async function importVapidPrivateKey() {
  const { importJWK } = await import('jose');
  const point = Buffer.from(vapid.publicKey, 'base64url');
  return importJWK(
    {
      kty: 'EC',
      crv: 'P-256',
      d: vapid.privateKey,
      x: point.subarray(1, 33).toString('base64url'),
      y: point.subarray(33).toString('base64url'),
    },
    'ES256',
  );
}
