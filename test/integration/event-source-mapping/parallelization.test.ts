/** Concurrent batches per shard (ParallelizationFactor), in order per partition key, and the checkpoint. */
import { describe, expect, it } from 'vitest';
import { decode, signal, until, useMappingFixture } from './support.js';

describe('the event source mapping with a parallelization factor', () => {
  const fixture = useMappingFixture();

  it('handles the other keys of a shard while one batch waits, and checkpoints only past records all handled', async () => {
    const { shardId, keys } = await fixture.keysInOneShard(4, 2);
    const [slow, fast] = keys as [string, string];
    const release = signal();
    const slowEntered = signal();
    const fastDone = [signal(), signal()];
    const handled: string[] = [];
    const running = await fixture.start({
      parallelizationFactor: 4,
      handler: async (event) => {
        for (const record of event.Records) {
          const { n } = decode(record) as { n: number };
          if (record.kinesis.partitionKey === slow && n === 0) {
            slowEntered.resolve();
            await release.promise;
          }
          handled.push(`${record.kinesis.partitionKey}:${n}`);
          if (record.kinesis.partitionKey === fast && n >= 2) fastDone[n - 2]?.resolve();
        }
      },
    });

    const [slowFirst] = await fixture.putRecords([{ key: slow, data: { n: 0 } }]);
    await slowEntered.promise;
    await fixture.putRecords([0, 1, 2].map((n) => ({ key: fast, data: { n } })));
    await fastDone[0]?.promise;
    // The slot starts its next batch only once the last one is done: then that one counts as handled.
    const later = await fixture.putRecords([{ key: fast, data: { n: 3 } }]);
    await fastDone[1]?.promise;

    // The fast key's records, put after the slow one, are handled while it waits…
    expect(handled).toEqual([`${fast}:0`, `${fast}:1`, `${fast}:2`, `${fast}:3`]);
    // …but the checkpoint stays before the slow record, which is not handled yet.
    const waiting = running.checkpoint(shardId);
    expect(waiting === undefined || BigInt(waiting) < BigInt(slowFirst as string)).toBe(true);

    release.resolve();
    await running.drain?.();

    expect(handled).toContain(`${slow}:0`);
    expect(running.checkpoint(shardId)).toBe(later.at(-1));
  });

  it('retries a failing batch in its slot only, and still delivers every key in order, once handled', async () => {
    const { keys } = await fixture.keysInOneShard(3, 3);
    const [failing, ...others] = keys as [string, string, string];
    let failuresLeft = 2;
    const handled = new Map<string, number[]>();
    const othersBeforeRetry: string[] = [];
    await fixture.start({
      parallelizationFactor: 3,
      // Whole-batch retries, each after a delay the other slots need not wait out.
      bisectBatchOnFunctionError: false,
      retryDelayMs: 200,
      handler: async (event) => {
        if (event.Records.some((record) => record.kinesis.partitionKey === failing) && failuresLeft > 0) {
          failuresLeft--;
          throw new Error('not yet');
        }
        for (const record of event.Records) {
          const key = record.kinesis.partitionKey;
          if (key !== failing && failuresLeft > 0) othersBeforeRetry.push(key);
          handled.set(key, [...(handled.get(key) ?? []), (decode(record) as { n: number }).n]);
        }
      },
    });

    await fixture.putRecords([0, 1, 2, 3].flatMap((n) => keys.map((key) => ({ key, data: { n } }))));
    await until(async () => failuresLeft === 0 && (handled.get(failing)?.length ?? 0) === 4, 'the retries');
    await fixture.mapping?.drain?.();

    // The other slots did not wait out the failing slot's retries.
    expect(new Set(othersBeforeRetry)).toEqual(new Set(others));
    for (const key of keys) expect(handled.get(key)).toEqual([0, 1, 2, 3]);
  });

  it('never runs more batches of a shard at once than the factor, and delivers each record once, in order per key', async () => {
    const factor = 3;
    const keys = Array.from({ length: 12 }, (_, i) => `conversation-${i}`);
    const entries = Array.from({ length: 240 }, (_, i) => ({
      key: keys[i % keys.length] as string,
      data: { n: Math.floor(i / keys.length) },
    }));
    const inFlight = new Map<string, number>();
    let mostAtOnce = 0;
    const seen = new Map<string, number[]>();
    let count = 0;
    const all = signal();
    await fixture.start({
      parallelizationFactor: factor,
      batchSize: 5,
      handler: async (event) => {
        const shardId = event.Records[0]?.eventID.split(':')[0] ?? '';
        inFlight.set(shardId, (inFlight.get(shardId) ?? 0) + 1);
        mostAtOnce = Math.max(mostAtOnce, inFlight.get(shardId) ?? 0);
        // Yield to the timers, so that other batches get their chance to start meanwhile.
        await new Promise((resolve) => setTimeout(resolve, 2));
        for (const record of event.Records) {
          const key = record.kinesis.partitionKey;
          seen.set(key, [...(seen.get(key) ?? []), (decode(record) as { n: number }).n]);
          if (++count === entries.length) all.resolve();
        }
        inFlight.set(shardId, (inFlight.get(shardId) ?? 0) - 1);
      },
    });

    await fixture.putRecords(entries);
    await all.promise;
    await fixture.mapping?.drain?.();

    expect(count).toBe(entries.length);
    for (const key of keys) expect(seen.get(key)).toEqual(Array.from({ length: 20 }, (_, n) => n));
    expect(mostAtOnce).toBeGreaterThan(1);
    expect(mostAtOnce).toBeLessThanOrEqual(factor);
  });

  it('refuses a factor that Lambda would refuse', async () => {
    for (const parallelizationFactor of [0, 1.5, 11]) await fixture.expectRefused({ parallelizationFactor });
  });
});
