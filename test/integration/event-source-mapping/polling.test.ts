/** Reading shards: delivery in order, waking a shard, read errors, and stopping cleanly. */
import type { KinesisStreamRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { countTimers, createKinesisClients, decode, signal, useMappingFixture } from './support.js';

describe('the event source mapping: reading shards', () => {
  const fixture = useMappingFixture();

  it('delivers every record once, in order per partition key', async () => {
    const keys = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot'];
    const entries = Array.from({ length: 60 }, (_, i) => ({
      key: keys[i % keys.length] as string,
      data: { n: Math.floor(i / keys.length) },
    }));
    const seen = new Map<string, number[]>();
    let count = 0;
    const all = signal();
    await fixture.start({
      batchSize: 7,
      handler: async (event) => {
        for (const record of event.Records) {
          const key = record.kinesis.partitionKey;
          seen.set(key, [...(seen.get(key) ?? []), (decode(record) as { n: number }).n]);
          if (++count === entries.length) all.resolve();
        }
      },
    });

    await fixture.putRecords(entries);
    await all.promise;
    await fixture.mapping?.drain?.();

    expect(count).toBe(entries.length);
    for (const key of keys) expect(seen.get(key)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('polls an idle shard at once when woken, instead of waiting out the poll interval', async () => {
    const delivered = signal<unknown>();
    const running = await fixture.start({
      pollIntervalMs: 600_000,
      handler: async (event) => {
        for (const record of event.Records) delivered.resolve(decode(record));
      },
    });
    // Every shard has had its first, empty poll and now waits ten minutes.
    await running.drain?.();

    await fixture.putRecords([{ key: 'alpha', data: { woken: true } }]);
    running.wake();

    expect(await delivered.promise).toEqual({ woken: true });
  });

  it('wakes only the shard that holds the partition key it is given', async () => {
    const counting = createKinesisClients();
    let polls = 0;
    counting.kinesis.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'GetRecordsCommand') polls++;
        return next(args);
      },
      { step: 'initialize', name: 'countGetRecords' },
    );
    const delivered = signal<unknown>();
    try {
      const running = await fixture.start({
        kinesis: counting.kinesis,
        pollIntervalMs: 600_000,
        handler: async (event) => {
          for (const record of event.Records) delivered.resolve(decode(record));
        },
      });
      // Every shard has had its first, empty poll and now waits ten minutes.
      await running.drain?.();
      const pollsBefore = polls;

      await fixture.putRecords([{ key: 'alpha', data: { woken: 'alpha' } }]);
      running.wake('alpha');

      expect(await delivered.promise).toEqual({ woken: 'alpha' });
      // One poll of alpha's shard read the record, and it is at the tip now; the other shard slept on.
      expect(polls - pollsBefore).toBe(1);
    } finally {
      await fixture.mapping?.stop();
      fixture.mapping = undefined;
      counting.destroy();
    }
  });

  it('keeps polling after GetRecords fails', async () => {
    const flaky = createKinesisClients();
    let failuresLeft = 4;
    flaky.kinesis.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'GetRecordsCommand' && failuresLeft > 0) {
          failuresLeft--;
          throw Object.assign(new Error('kinesis-mock is restarting'), { name: 'ServiceUnavailable' });
        }
        return next(args);
      },
      { step: 'initialize', name: 'failSomeGetRecords' },
    );
    const warnings: string[] = [];
    const delivered = signal<unknown>();
    try {
      await fixture.start({
        kinesis: flaky.kinesis,
        handler: async (event) => delivered.resolve(decode(event.Records[0] as KinesisStreamRecord)),
        log: (level, message) => {
          if (level === 'warn') warnings.push(message);
        },
      });
      await fixture.putRecords([{ key: 'k', data: { after: 'errors' } }]);

      expect(await delivered.promise).toEqual({ after: 'errors' });
      expect(failuresLeft).toBe(0);
      expect(warnings).toContain('reading the shard failed; retrying');
    } finally {
      await fixture.mapping?.stop();
      fixture.mapping = undefined;
      flaky.destroy();
    }
  });

  it('stops only after the handler call in flight has finished', async () => {
    const entered = signal();
    const release = signal();
    let calls = 0;
    const running = await fixture.start({
      handler: async () => {
        calls++;
        entered.resolve();
        await release.promise;
      },
    });
    await fixture.putRecords([{ key: 'k', data: { n: 0 } }]);
    await entered.promise;

    let stopped = false;
    const stopping = running.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    release.resolve();
    await stopping;

    expect(stopped).toBe(true);
    expect(calls).toBe(1);
    await expect(running.stop()).resolves.toBeUndefined();
  });

  it('leaves no timers behind once stopped', async () => {
    const counting = createKinesisClients();
    let emptyPolls = 0;
    const bothShardsIdle = signal();
    counting.kinesis.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName === 'GetRecordsCommand' && ++emptyPolls === 2) bothShardsIdle.resolve();
        return result;
      },
      { step: 'initialize', name: 'countGetRecords' },
    );
    const timersBefore = countTimers();
    try {
      // A long poll interval: after its first empty poll each shard loop waits on a timer.
      const running = await fixture.start({
        kinesis: counting.kinesis,
        pollIntervalMs: 60_000,
        handler: async () => {},
      });
      await bothShardsIdle.promise;
      await new Promise((resolve) => setImmediate(resolve));
      const timersWhilePolling = countTimers();

      await running.stop();

      expect(timersWhilePolling).toBeGreaterThan(timersBefore);
      expect(countTimers()).toBeLessThanOrEqual(timersBefore);
    } finally {
      counting.destroy();
    }
  });
});
