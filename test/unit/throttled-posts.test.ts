/**
 * A post API Gateway throttles (429, or a 5xx) is retried for its connection alone and, if
 * it stays throttled, dropped and counted: it never fails the batch, nor holds up the other
 * users' deliveries (docs/adr/0011-connection-cap.md).
 */
import {
  PostToConnectionCommand,
  type PostToConnectionCommandInput,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { describe, expect, it } from 'vitest';
import { MetricName } from '../../definitions/metrics.js';
import { THROTTLED_POST_RETRIES } from '../../lambdas/domain/fanout.js';
import {
  ALICE_BOB_1,
  api,
  createFanout,
  frameOf,
  posts,
  serveConnections,
  throttledError,
  useFanoutFixtures,
} from './support/fanout-fixtures.js';
import { createTestDeps, kinesisEvent } from './support/harness.js';

useFanoutFixtures();

/** Posts to `connectionId` answer 429 `times` times (for ever by default); the others succeed. */
function throttle(connectionId: string, times = Number.POSITIVE_INFINITY) {
  const tries: Array<{ conversationId: string; seq: number }> = [];
  let left = times;
  api.on(PostToConnectionCommand).callsFake((input: PostToConnectionCommandInput) => {
    if (input.ConnectionId !== connectionId) return {};
    const frame = frameOf(input);
    tries.push({ conversationId: frame.conversationId, seq: frame.seq });
    if (left <= 0) return {};
    left -= 1;
    throw throttledError();
  });
  return tries;
}

describe('a throttled post in the fanout', () => {
  it('is tried again for its connection alone, with backoff, and delivered once API Gateway lets it through', async () => {
    const { provider, sleep, metrics } = createTestDeps();
    serveConnections();
    const tries = throttle('conn-bob-phone', 2);
    const batch = kinesisEvent();
    batch.Records = batch.Records.slice(ALICE_BOB_1, ALICE_BOB_1 + 1);

    const retry = await createFanout(provider)(batch);

    expect(retry).toEqual([]);
    expect(tries).toEqual([
      { conversationId: 'dm:alice:bob', seq: 1 },
      { conversationId: 'dm:alice:bob', seq: 1 },
      { conversationId: 'dm:alice:bob', seq: 1 },
    ]);
    // Full jitter at random 0.5: half of 100 ms, then half of 200 ms.
    expect(sleep.mock.calls.map(([ms]) => ms)).toEqual([50, 100]);
    expect(posts().filter((post) => post.connectionId !== 'conn-bob-phone')).toHaveLength(2);
    expect(metrics.values(MetricName.PostsDropped)).toEqual([]);
  });

  it('is dropped and counted after its retries, the batch succeeds, and the connection is not tried again in it', async () => {
    const { provider, metrics } = createTestDeps();
    serveConnections();
    const tries = throttle('conn-bob-phone');
    const batch = kinesisEvent();

    const retry = await createFanout(provider)(batch);

    expect(retry).toEqual([]);
    // alice-bob 1 only: one round of tries, and its later events are dropped without one.
    const aliceBobTries = tries.filter((attempt) => attempt.conversationId === 'dm:alice:bob');
    expect(aliceBobTries).toEqual(
      Array.from({ length: THROTTLED_POST_RETRIES.retries + 1 }, () => ({
        conversationId: 'dm:alice:bob',
        seq: 1,
      })),
    );
    // alice-bob 1, 2, 3 and bob-carol 1 never reached bob's phone.
    expect(metrics.sum(MetricName.PostsDropped)).toBe(4);
    const delivered = posts().filter((post) => post.connectionId !== 'conn-bob-phone');
    expect(delivered.filter((post) => post.conversationId === 'dm:alice:bob')).toHaveLength(6);
    expect(delivered.filter((post) => post.connectionId === 'conn-carol-tablet')).toEqual([
      { connectionId: 'conn-carol-tablet', conversationId: 'dm:bob:carol', seq: 1 },
    ]);
  });

  it("does not hold up another user's delivery in the batch while it waits to be retried", async () => {
    const { provider, sleep } = createTestDeps();
    serveConnections();
    throttle('conn-bob-phone');
    let release = () => {};
    const retryWait = new Promise<void>((resolve) => {
      release = resolve;
    });
    sleep.mockImplementation(() => retryWait);
    const batch = kinesisEvent();

    const fanning = createFanout(provider)(batch);
    await expect.poll(() => sleep.mock.calls.length).toBeGreaterThan(0);
    // Bob's phone waits for its retry, and carol already has her event.
    await expect.poll(() => posts().some((post) => post.connectionId === 'conn-carol-tablet')).toBe(true);
    release();

    expect(await fanning).toEqual([]);
  });
});
