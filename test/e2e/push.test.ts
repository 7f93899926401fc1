/**
 * Push notifications end to end (protocol 1.4): a device registers a subscription of the
 * local push service over a real WebSocket and goes away; messages to its user reach the
 * push service through the stream, the push notifier and the Web Push sender, and are read
 * back there, decrypted. No fixed waits: each test polls the push service, the tables or
 * the push notifier's finished batches, with a bound.
 */
import { randomUUID } from 'node:crypto';
import { directConversationId, PUSH_PREVIEW_CHARS } from '@parley/protocol';
import type { KinesisStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { MetricName } from '../../definitions/metrics.js';
import type { InMemoryMetrics } from '../../lambdas/adapters/in-memory-metrics.js';
import type { PushSubscriptionJson, SubscriptionPushes } from '../../local/push-service/index.js';
import type { FunctionWrapper, LocalStackOptions } from '../../local/stack.js';
import { registeredDevice, until } from '../support/push-devices.js';
import { uniqueId, useTestStack } from '../support/stack.js';
import type { TestClient } from '../support/ws-client.js';

/** Long enough that every message of one test falls in one window: a second push would be a defect. */
const LONG_WINDOW_MS = 60_000;

/**
 * The messages (conversation and seq) the push notifier has finished with: a push it was
 * going to make has been made once its record is here.
 */
function finishedPushWork() {
  const finished = new Set<string>();
  const wrapFunction: FunctionWrapper = (functionId, handler) => {
    if (functionId !== 'push-notifier') return handler;
    return async (event, context) => {
      const result = await handler(event, context);
      for (const record of (event as KinesisStreamEvent).Records) {
        const data = JSON.parse(Buffer.from(record.kinesis.data, 'base64').toString('utf8'));
        finished.add(`${data.conversationId}#${data.seq}`);
      }
      return result;
    };
  };
  return { finished, wrapFunction };
}

function usePushStack(options: LocalStackOptions['pushService'] = {}) {
  const work = finishedPushWork();
  const test = useTestStack({
    pushService: { coalesceWindowMs: LONG_WINDOW_MS, ...options },
    wrapFunction: work.wrapFunction,
  });
  const service = () => {
    const push = test.stack().push;
    if (!push) throw new Error('this stack runs no local push service');
    return push.serviceUrl;
  };
  const idOf = (subscription: PushSubscriptionJson) => subscription.endpoint.split('/').pop();
  const helpers = {
    ...test,
    metrics: () => test.stack().deps.metrics as InMemoryMetrics,
    async pushesOf(subscription: PushSubscriptionJson): Promise<SubscriptionPushes> {
      const response = await fetch(`${service()}/subscriptions/${idOf(subscription)}/pushes`);
      return (await response.json()) as SubscriptionPushes;
    },
    async respond(subscription: PushSubscriptionJson, answer: Record<string, number>) {
      await fetch(`${service()}/subscriptions/${idOf(subscription)}/respond`, {
        method: 'POST',
        body: JSON.stringify(answer),
      });
    },
    /** A device of `userId` registers a new subscription; `offline` closes it and waits until its connection is gone. */
    registeredDevice: (userId: string, deviceId: string, options?: { offline?: boolean }) =>
      registeredDevice(test.stack(), test.connect, userId, deviceId, options),
    /** Waits until the push notifier has finished with the message. */
    async pushWorkDone(conversationId: string, seq: number) {
      await until(
        async () => work.finished.has(`${conversationId}#${seq}`),
        (done) => done,
        `the push work of ${conversationId} seq ${seq}`,
      );
    },
    /** Waits for `count` pushes to have arrived at the subscription. */
    async arrivals(subscription: PushSubscriptionJson, count: number) {
      return (
        await until(
          () => helpers.pushesOf(subscription),
          (pushes) => pushes.arrivals.length >= count,
          `${count} pushes`,
        )
      ).arrivals;
    },
  };
  return helpers;
}

async function send(device: TestClient, to: string, body = 'hello') {
  const sent = await device.request({ action: 'send', to, clientMessageId: randomUUID(), body });
  expect(sent).toMatchObject({ type: 'sent' });
  return sent.seq as number;
}

describe('push notifications to devices that are not connected', () => {
  const stack = usePushStack();

  it('pushes a message once to the offline device: decrypted, with its conversation, seq, sender, unread count and no text', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const { subscription } = await stack.registeredDevice(bob, 'phone');
    const alicePhone = await stack.connect(alice, 'phone');
    const conversationId = directConversationId(alice, bob);

    const seq = await send(alicePhone, bob, 'the secret plan');
    const [push] = await stack.arrivals(subscription, 1);
    await stack.pushWorkDone(conversationId, seq);

    expect(push).toMatchObject({
      payload: { type: 'message', conversationId, seq, senderId: alice, unread: 1, text: 'New message' },
      ttl: 86_400,
      urgency: 'high',
      topic: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/),
    });
    expect((await stack.pushesOf(subscription)).arrivals).toHaveLength(1);
  });

  it('pushes nothing to a connected device of the recipient, nor to the sender’s own devices', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const offline = await stack.registeredDevice(bob, 'phone');
    const connected = await stack.registeredDevice(bob, 'laptop', { offline: false });
    const sendersOwn = await stack.registeredDevice(alice, 'tablet');
    const alicePhone = await stack.connect(alice, 'phone');

    const seq = await send(alicePhone, bob);
    await stack.arrivals(offline.subscription, 1);
    await stack.pushWorkDone(directConversationId(alice, bob), seq);

    await connected.device.waitFor((frame) => frame.type === 'message' && frame.seq === seq);
    expect((await stack.pushesOf(connected.subscription)).arrivals).toEqual([]);
    expect((await stack.pushesOf(sendersOwn.subscription)).arrivals).toEqual([]);
  });

  it('makes 50 quick messages one push within the coalescing window', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const { subscription } = await stack.registeredDevice(bob, 'phone');
    const alicePhone = await stack.connect(alice, 'phone');
    const coalescedBefore = stack.metrics().sum(MetricName.PushesCoalesced);

    let last = 0;
    for (let i = 1; i <= 50; i++) last = await send(alicePhone, bob, `message ${i}`);
    await stack.pushWorkDone(directConversationId(alice, bob), last);

    const { arrivals } = await stack.pushesOf(subscription);
    console.log(
      `push e2e: 50 messages in one ${LONG_WINDOW_MS / 1000} s window → ${arrivals.length} push (${(arrivals.length / 50).toFixed(2)} pushes per message); ${stack.metrics().sum(MetricName.PushesCoalesced) - coalescedBefore} coalesced by the window item, the rest in the batches`,
    );
    expect(arrivals).toHaveLength(1);
    expect(arrivals[0]?.payload.unread).toBe(arrivals[0]?.payload.seq);
  });

  it('removes the registration when the push service answers 410, and counts it', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const { subscription } = await stack.registeredDevice(bob, 'phone');
    await stack.respond(subscription, { status: 410 });
    const alicePhone = await stack.connect(alice, 'phone');
    const removedBefore = stack.metrics().sum(MetricName.PushRegistrationsRemoved);

    const seq = await send(alicePhone, bob);
    await stack.pushWorkDone(directConversationId(alice, bob), seq);

    expect((await stack.pushesOf(subscription)).refused).toEqual([expect.objectContaining({ status: 410 })]);
    expect(await stack.stack().deps.pushRegistrations.listRegistrations(bob)).toEqual([]);
    expect(stack.metrics().sum(MetricName.PushRegistrationsRemoved) - removedBefore).toBe(1);
  });

  it('retries a push answered 429 and delivers it on the next try', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const { subscription } = await stack.registeredDevice(bob, 'phone');
    await stack.respond(subscription, { status: 429, count: 1, retryAfterSeconds: 0 });
    const alicePhone = await stack.connect(alice, 'phone');

    const seq = await send(alicePhone, bob);
    const [push] = await stack.arrivals(subscription, 1);

    expect(push?.payload.seq).toBe(seq);
    expect((await stack.pushesOf(subscription)).refused).toEqual([expect.objectContaining({ status: 429 })]);
  });

  it('delivers the message to a connected device while the push to another one fails', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const { subscription } = await stack.registeredDevice(bob, 'phone');
    await stack.respond(subscription, { status: 503 });
    const bobLaptop = await stack.connect(bob, 'laptop');
    const alicePhone = await stack.connect(alice, 'phone');
    const failedBefore = stack.metrics().sum(MetricName.PushesFailed);

    const seq = await send(alicePhone, bob, 'still here');

    expect(await bobLaptop.waitFor((frame) => frame.type === 'message' && frame.seq === seq)).toMatchObject({
      body: 'still here',
    });
    await stack.pushWorkDone(directConversationId(alice, bob), seq);
    expect((await stack.pushesOf(subscription)).refused).toHaveLength(3);
    expect(stack.metrics().sum(MetricName.PushesFailed) - failedBefore).toBe(1);
  });
});

describe('push notifications with previews on', () => {
  const stack = usePushStack({ preview: true });

  it('shows the start of the message in the push', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const { subscription } = await stack.registeredDevice(bob, 'phone');
    const alicePhone = await stack.connect(alice, 'phone');
    const body = `lunch? ${'x'.repeat(200)}`;

    await send(alicePhone, bob, body);
    const [push] = await stack.arrivals(subscription, 1);

    expect(push?.payload.text).toBe(body.slice(0, PUSH_PREVIEW_CHARS));
  });
});
