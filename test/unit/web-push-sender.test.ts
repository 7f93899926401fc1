import type { PushPayload } from '@parley/protocol';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import webPush from 'web-push';
import {
  retryAfterMs,
  WebPushSender,
  type WebPushSenderOptions,
} from '../../lambdas/adapters/web-push-sender.js';
import { DEFAULT_PUSH_ENDPOINT_HOSTS } from '../../lambdas/config.js';
import type { PushRegistration } from '../../lambdas/domain/ports.js';
import {
  type PushSubscriptionJson,
  type RunningPushService,
  type SubscriptionPushes,
  startPushService,
} from '../../local/push-service/index.js';

const vapid = webPush.generateVAPIDKeys();
const PAYLOAD: PushPayload = {
  type: 'message',
  conversationId: 'dm:alice:bob',
  seq: 7,
  senderId: 'alice',
  unread: 1,
  text: 'New message',
};
const OPTIONS = { collapseKey: 'Zm9vYmFyYmF6', ttlSeconds: 90 };

let service: RunningPushService;
beforeAll(async () => {
  service = await startPushService({ port: 0, vapidPublicKey: vapid.publicKey });
});
afterAll(async () => {
  await service.stop();
});

function logger() {
  return { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
}

function senderOf(overrides: Partial<WebPushSenderOptions> = {}) {
  const sleeps: number[] = [];
  const log = logger();
  const sender = new WebPushSender({
    vapid: {
      publicKey: vapid.publicKey,
      subject: 'mailto:ops@parley.example',
      privateKey: async () => vapid.privateKey,
    },
    endpointHosts: [...DEFAULT_PUSH_ENDPOINT_HOSTS, service.origin],
    logger: log,
    backoff: {
      random: () => 0.5,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    },
    ...overrides,
  });
  return { sender, sleeps, log };
}

async function subscribe(): Promise<PushSubscriptionJson> {
  return (await (
    await fetch(`${service.origin}/subscriptions`, { method: 'POST' })
  ).json()) as PushSubscriptionJson;
}

const idOf = (subscription: PushSubscriptionJson) => subscription.endpoint.split('/').pop();

async function pushesOf(subscription: PushSubscriptionJson): Promise<SubscriptionPushes> {
  return (await (
    await fetch(`${service.origin}/subscriptions/${idOf(subscription)}/pushes`)
  ).json()) as SubscriptionPushes;
}

async function respond(subscription: PushSubscriptionJson, answer: Record<string, number>) {
  await fetch(`${service.origin}/subscriptions/${idOf(subscription)}/respond`, {
    method: 'POST',
    body: JSON.stringify(answer),
  });
}

function registrationOf(subscription: PushSubscriptionJson): PushRegistration {
  return {
    userId: 'bob',
    deviceId: 'phone',
    address: { kind: 'webpush', ...subscription },
    registeredAt: 1,
  };
}

describe('the Web Push sender', () => {
  it('sends the payload encrypted and signed, with TTL, the collapse key as Topic and high urgency', async () => {
    const subscription = await subscribe();

    const outcome = await senderOf().sender.send(registrationOf(subscription), PAYLOAD, OPTIONS);

    expect(outcome).toBe('sent');
    expect((await pushesOf(subscription)).arrivals).toEqual([
      expect.objectContaining({ payload: PAYLOAD, ttl: 90, topic: OPTIONS.collapseKey, urgency: 'high' }),
    ]);
  });

  it.each([404, 410])('answers gone when the push service answers %i', async (status) => {
    const subscription = await subscribe();
    await respond(subscription, { status });

    expect(await senderOf().sender.send(registrationOf(subscription), PAYLOAD, OPTIONS)).toBe('gone');
  });

  it('retries a 429 after its Retry-After, and answers sent when the next try is accepted', async () => {
    const subscription = await subscribe();
    await respond(subscription, { status: 429, count: 1, retryAfterSeconds: 1 });
    const { sender, sleeps } = senderOf();

    const outcome = await sender.send(registrationOf(subscription), PAYLOAD, OPTIONS);

    expect(outcome).toBe('sent');
    expect(sleeps).toEqual([1000]);
    expect((await pushesOf(subscription)).arrivals).toHaveLength(1);
  });

  it('answers throttled after three tries of 5xx, waiting a bounded backoff between them', async () => {
    const subscription = await subscribe();
    await respond(subscription, { status: 503 });
    const { sender, sleeps } = senderOf();

    const outcome = await sender.send(registrationOf(subscription), PAYLOAD, OPTIONS);

    expect(outcome).toBe('throttled');
    expect((await pushesOf(subscription)).refused).toHaveLength(3);
    expect(sleeps).toEqual([100, 200]);
  });

  it('waits no longer than its bound when Retry-After asks for an hour', async () => {
    const subscription = await subscribe();
    await respond(subscription, { status: 429, count: 1, retryAfterSeconds: 3600 });
    const { sender, sleeps } = senderOf();

    expect(await sender.send(registrationOf(subscription), PAYLOAD, OPTIONS)).toBe('sent');
    expect(sleeps).toEqual([2000]);
  });

  it('answers failed without retrying when the push service refuses the VAPID signature (403)', async () => {
    const subscription = await subscribe();
    const other = webPush.generateVAPIDKeys();
    const { sender, sleeps, log } = senderOf({
      vapid: {
        publicKey: other.publicKey,
        subject: 'mailto:ops@parley.example',
        privateKey: async () => other.privateKey,
      },
    });

    expect(await sender.send(registrationOf(subscription), PAYLOAD, OPTIONS)).toBe('failed');
    expect(sleeps).toEqual([]);
    // The endpoint's path is the subscription's capability: only its origin is logged.
    expect(log.error).toHaveBeenCalledWith('web push refused', { endpoint: service.origin, status: 403 });
    expect(JSON.stringify(log.error.mock.calls)).not.toContain(idOf(subscription));
  });

  it.each([400, 413])('answers failed for a %i', async (status) => {
    const subscription = await subscribe();
    await respond(subscription, { status });

    expect(await senderOf().sender.send(registrationOf(subscription), PAYLOAD, OPTIONS)).toBe('failed');
    expect((await pushesOf(subscription)).refused).toHaveLength(1);
  });

  it('refuses, without a request, an endpoint on a host that is not allowed', async () => {
    const subscription = await subscribe();
    const fetchSpy = vi.fn<typeof fetch>();
    const { sender, log } = senderOf({ endpointHosts: DEFAULT_PUSH_ENDPOINT_HOSTS, fetch: fetchSpy });

    expect(await sender.send(registrationOf(subscription), PAYLOAD, OPTIONS)).toBe('failed');
    expect(fetchSpy).not.toHaveBeenCalled();
    expect(log.warn).toHaveBeenCalledWith('web push refused: the endpoint is not on an allowed host', {
      endpoint: service.origin,
    });
  });

  it('does not follow a redirect: a push service cannot send the request elsewhere', async () => {
    const subscription = await subscribe();
    await respond(subscription, { status: 307 });

    expect(await senderOf().sender.send(registrationOf(subscription), PAYLOAD, OPTIONS)).toBe('failed');
  });

  it('treats a try that gets no answer as throttled, and retries it', async () => {
    const subscription = await subscribe();
    const fetchSpy = vi.fn<typeof fetch>().mockRejectedValue(new DOMException('timed out', 'TimeoutError'));
    const { sender } = senderOf({ fetch: fetchSpy });

    expect(await sender.send(registrationOf(subscription), PAYLOAD, OPTIONS)).toBe('throttled');
    expect(fetchSpy).toHaveBeenCalledTimes(3);
  });

  it('reads the private key once, and again only after a read failed', async () => {
    const subscription = await subscribe();
    const privateKey = vi
      .fn<() => Promise<string>>()
      .mockRejectedValueOnce(new Error('Secrets Manager unavailable'))
      .mockResolvedValue(vapid.privateKey);
    const { sender } = senderOf({
      vapid: { publicKey: vapid.publicKey, subject: 'mailto:ops@parley.example', privateKey },
    });

    await expect(sender.send(registrationOf(subscription), PAYLOAD, OPTIONS)).rejects.toThrow(
      'Secrets Manager unavailable',
    );
    expect(await sender.send(registrationOf(subscription), PAYLOAD, OPTIONS)).toBe('sent');
    expect(await sender.send(registrationOf(subscription), PAYLOAD, OPTIONS)).toBe('sent');
    expect(privateKey).toHaveBeenCalledTimes(2);
  });
});

describe('Retry-After', () => {
  it('reads seconds and HTTP dates, and nothing else', () => {
    const now = Date.parse('2026-12-05T07:00:00Z');

    expect(retryAfterMs('3', now)).toBe(3000);
    expect(retryAfterMs('Sat, 05 Dec 2026 07:00:02 GMT', now)).toBe(2000);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });
});
