/**
 * The end-to-end push tests' shared steps: polling with a bound (no fixed waits), and a
 * device that registers a subscription of the local push service and then goes away.
 */
import { expect } from 'vitest';
import type { PushSubscriptionJson } from '../../local/push-service/index.js';
import type { RunningLocalStack } from '../../local/stack.js';
import type { TestClient } from './ws-client.js';

/** Polls `read` until `done`, for at most 20 s, and answers the last value read. */
export async function until<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  what: string,
): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what} never happened: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A device of `userId` makes a subscription at the push service and registers it; with
 * `offline` it then closes its connection and waits until the stack has seen it go.
 */
export async function registeredDevice(
  stack: RunningLocalStack,
  connect: (userId: string, deviceId: string) => Promise<TestClient>,
  userId: string,
  deviceId: string,
  { offline = true } = {},
): Promise<{ subscription: PushSubscriptionJson; device: TestClient }> {
  if (!stack.push) throw new Error('this stack runs no local push service');
  const response = await fetch(`${stack.push.serviceUrl}/subscriptions`, {
    method: 'POST',
    body: JSON.stringify({ label: `${userId}/${deviceId}` }),
  });
  const subscription = (await response.json()) as PushSubscriptionJson;
  const device = await connect(userId, deviceId);
  const answer = await device.request({ action: 'registerPush', push: { kind: 'webpush', ...subscription } });
  expect(answer).toMatchObject({ type: 'pushRegistered' });
  if (offline) {
    await device.close();
    await until(
      () => stack.deps.connections.listConnections(userId),
      (connections) => !connections.some((connection) => connection.deviceId === deviceId),
      `the disconnect of ${userId}/${deviceId}`,
    );
  }
  return { subscription, device };
}
