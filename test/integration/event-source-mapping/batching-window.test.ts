/** The batching window (MaximumBatchingWindowInSeconds). */
import type { GetRecordsCommandInput, GetRecordsCommandOutput } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import { filterFromPatterns } from '../../../local/event-source-mapping/index.js';
import { countTimers, createKinesisClients, decode, signal, useMappingFixture } from './support.js';

describe('the event source mapping: batching window', () => {
  const fixture = useMappingFixture();

  it('gathers records put in quick succession into one invocation, after the window', async () => {
    const batches: { ns: number[]; at: number }[] = [];
    const running = await fixture.start({
      maximumBatchingWindowInSeconds: 1,
      handler: async (event) => {
        batches.push({
          ns: event.Records.map((record) => (decode(record) as { n: number }).n),
          at: Date.now(),
        });
      },
    });

    await fixture.putRecords([{ key: 'one-key', data: { n: 0 } }]);
    const firstPutAt = Date.now();
    // The local stack wakes the mapping after each put: that must not close the window.
    running.wake();
    await fixture.putRecords([{ key: 'one-key', data: { n: 1 } }]);
    running.wake();
    await fixture.putRecords([{ key: 'one-key', data: { n: 2 } }]);
    running.wake();
    // Records held in an open window are not handled yet: drain waits for the invocation.
    await running.drain?.();

    expect(batches.map((batch) => batch.ns)).toEqual([[0, 1, 2]]);
    expect((batches[0]?.at ?? 0) - firstPutAt).toBeGreaterThanOrEqual(900);
  });

  it('invokes as soon as the batch is full, without waiting out the window', async () => {
    const invoked = signal<number[]>();
    await fixture.start({
      maximumBatchingWindowInSeconds: 10,
      batchSize: 3,
      handler: async (event) => {
        invoked.resolve(event.Records.map((record) => (decode(record) as { n: number }).n));
      },
    });
    const putAt = Date.now();

    await fixture.putRecords([0, 1, 2].map((n) => ({ key: 'one-key', data: { n } })));

    expect(await invoked.promise).toEqual([0, 1, 2]);
    expect(Date.now() - putAt).toBeLessThan(2000);
  });

  it('opens no window for records the filter drops', async () => {
    let calls = 0;
    const running = await fixture.start({
      maximumBatchingWindowInSeconds: 1,
      filter: filterFromPatterns([{ data: { type: ['presence'] } }]),
      handler: async () => {
        calls++;
      },
    });

    await fixture.putRecords([{ key: 'one-key', data: { type: 'message' } }]);
    const putAt = Date.now();
    await running.drain?.();

    expect(Date.now() - putAt).toBeLessThan(900);
    expect(calls).toBe(0);
  });

  it('stops promptly while a window is open, leaving no timers behind', async () => {
    const counting = createKinesisClients();
    // Resolves when the shard that returned the record answers its next GetRecords with
    // nothing: its loop then waits inside the open window.
    const idleInWindow = signal();
    let afterRecords: string | undefined;
    counting.kinesis.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName === 'GetRecordsCommand') {
          const { ShardIterator } = args.input as GetRecordsCommandInput;
          const output = result.output as GetRecordsCommandOutput;
          if ((output.Records?.length ?? 0) > 0) afterRecords = output.NextShardIterator;
          else if (afterRecords !== undefined && ShardIterator === afterRecords) idleInWindow.resolve();
        }
        return result;
      },
      { step: 'initialize', name: 'noticeIdleInWindow' },
    );
    const timersBefore = countTimers();
    let calls = 0;
    try {
      const running = await fixture.start({
        kinesis: counting.kinesis,
        maximumBatchingWindowInSeconds: 5,
        pollIntervalMs: 60_000,
        handler: async () => {
          calls++;
        },
      });
      await fixture.putRecords([{ key: 'one-key', data: { n: 0 } }]);
      running.wake();
      await idleInWindow.promise;
      await new Promise((resolve) => setImmediate(resolve));

      const stoppingAt = Date.now();
      await running.stop();

      expect(Date.now() - stoppingAt).toBeLessThan(500);
      expect(calls).toBe(0);
      expect(countTimers()).toBeLessThanOrEqual(timersBefore);
    } finally {
      await fixture.mapping?.stop();
      fixture.mapping = undefined;
      counting.destroy();
    }
  });

  it('refuses a window that Lambda would refuse', async () => {
    for (const maximumBatchingWindowInSeconds of [-1, 0.5, 301])
      await fixture.expectRefused({ maximumBatchingWindowInSeconds });
  });
});
