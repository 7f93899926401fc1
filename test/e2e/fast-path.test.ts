/**
 * The fast path on the local stack (docs/adr/0008-fast-path.md): `send` posts the message
 * to the devices itself, the fanout posts it to those `send` did not reach, and each device
 * gets it once.
 */
import { directConversationId } from '@parley/protocol';
import type { KinesisStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { MetricName } from '../../definitions/metrics.js';
import { InMemoryMetrics } from '../../lambdas/adapters/in-memory-metrics.js';
import { startFastPath } from '../../lambdas/domain/fast-path.js';
import { fastPathDeps } from '../../lambdas/runtime.js';
import type { FunctionWrapper } from '../../local/stack.js';
import { uniqueId, useTestStack } from '../support/stack.js';

/** Waiters for a fanout invocation that has handled a record of their conversation. */
const fanoutDone: Array<{ conversationId: string; resolve: () => void }> = [];

const wrapFunction: FunctionWrapper = (functionId, handler) => {
  if (functionId !== 'fanout') return handler;
  return async (event, context) => {
    const result = await handler(event, context);
    const records = (event as KinesisStreamEvent).Records ?? [];
    const texts = records.map((record) => Buffer.from(record.kinesis.data, 'base64').toString('utf8'));
    for (const waiter of [...fanoutDone]) {
      if (texts.some((text) => text.includes(waiter.conversationId))) {
        fanoutDone.splice(fanoutDone.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
    return result;
  };
};

const fanoutOf = (conversationId: string) =>
  new Promise<void>((resolve) => {
    fanoutDone.push({ conversationId, resolve });
  });

describe('the fast path on the local stack', () => {
  const { connect, stack } = useTestStack({
    fastPathMaxConnections: 16,
    wrapFunction,
    deps: {
      // The stack's own fast path, with a bound no busy test machine runs out of: a post
      // past the bound is posted again by the fanout (a repeat the device drops), and this
      // test counts copies, which must not depend on how loaded the machine is.
      wrap: (deps) => ({
        ...deps,
        sequencing: {
          ...deps.sequencing,
          startFastPath: (conversationId) =>
            startFastPath({ ...fastPathDeps(deps), budgetMs: 30_000 }, conversationId),
        },
      }),
    },
  });

  it('gives the message to every device of both users once, whether the send or the fanout posted it', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const conversationId = directConversationId(alice, bob);
    const devices = [
      await connect(alice, 'phone'),
      await connect(alice, 'desktop'),
      await connect(bob, 'phone'),
      await connect(bob, 'tablet'),
    ];
    const metrics = stack().deps.metrics;
    if (!(metrics instanceof InMemoryMetrics)) throw new Error('the local stack keeps its metrics in memory');
    const postedBefore = metrics.sum(MetricName.FastPathPosts);
    const fanout = fanoutOf(conversationId);

    const [sender] = devices;
    const sent = await sender?.request({ action: 'send', to: bob, clientMessageId: 'fast-1', body: 'hi' });
    await fanout;

    expect(sent).toMatchObject({ type: 'sent', seq: 1 });
    for (const device of devices) {
      await device.messagesOf(conversationId, 1);
      const copies = device.received.filter(
        (frame) => frame.type === 'message' && frame.conversationId === conversationId,
      );
      expect(copies).toHaveLength(1);
      expect(copies[0]).not.toHaveProperty('reached');
    }
    // The send reached the three other devices itself; the sending one is the stream's.
    expect(metrics.sum(MetricName.FastPathPosts) - postedBefore).toBe(3);
  });
});
