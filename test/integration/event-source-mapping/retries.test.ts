/** Partial batch responses, bisect on function error, retry attempts, record age, and the on-failure destination. */
import { describe, expect, it } from 'vitest';
import type { FailedBatch } from '../../../local/event-source-mapping/index.js';
import { decode, signal, useMappingFixture } from './support.js';

describe('the event source mapping: partial batch responses, bisection and bounded retries', () => {
  const fixture = useMappingFixture();

  it('redelivers from the lowest reported failure and never redelivers the records before it', async () => {
    const sequenceNumbers = await fixture.putRecords(
      Array.from({ length: 5 }, (_, n) => ({ key: 'one-key', data: { n } })),
    );
    const batches: number[][] = [];
    const redelivered = signal();
    await fixture.start({
      handler: async (event) => {
        const ns = event.Records.map((record) => (decode(record) as { n: number }).n);
        batches.push(ns);
        if (batches.length === 1) {
          // Both 3 and 1 failed; Lambda retries from the lowest, 1.
          return {
            batchItemFailures: [
              { itemIdentifier: sequenceNumbers[3] as string },
              { itemIdentifier: sequenceNumbers[1] as string },
            ],
          };
        }
        redelivered.resolve();
        return { batchItemFailures: [] };
      },
    });

    await redelivered.promise;
    await fixture.mapping?.drain?.();

    expect(batches).toEqual([
      [0, 1, 2, 3, 4],
      [1, 2, 3, 4],
    ]);
  });

  it('retries the whole batch when the response names a record that is not in it', async () => {
    await fixture.putRecords(Array.from({ length: 3 }, (_, n) => ({ key: 'one-key', data: { n } })));
    const batches: number[][] = [];
    const retried = signal();
    await fixture.start({
      handler: async (event) => {
        batches.push(event.Records.map((record) => (decode(record) as { n: number }).n));
        if (batches.length === 1) return { batchItemFailures: [{ itemIdentifier: '' }] };
        retried.resolve();
        return undefined;
      },
    });

    await retried.promise;
    await fixture.mapping?.drain?.();

    expect(batches).toEqual([
      [0, 1, 2],
      [0, 1, 2],
    ]);
  });

  it('bisects a failing batch until the poison record alone goes to onFailure', async () => {
    await fixture.putRecords(
      Array.from({ length: 8 }, (_, n) => ({ key: 'one-key', data: { n, poison: n === 5 } })),
    );
    const handled: number[] = [];
    let poisonAloneCalls = 0;
    const failed = signal<FailedBatch>();
    await fixture.start({
      maximumRetryAttempts: 2,
      retryDelayMs: 1,
      handler: async (event) => {
        const records = event.Records.map((record) => decode(record) as { n: number; poison: boolean });
        if (records.some((record) => record.poison)) {
          if (records.length === 1) poisonAloneCalls++;
          throw new Error('poison');
        }
        handled.push(...records.map((record) => record.n));
      },
      onFailure: (batch) => failed.resolve(batch),
    });

    const batch = await failed.promise;
    await fixture.mapping?.drain?.();

    expect(batch.reason).toBe('RetryAttemptsExhausted');
    expect(batch.records.map((record) => decode(record))).toEqual([{ n: 5, poison: true }]);
    expect(batch.error).toEqual(new Error('poison'));
    expect(handled).toEqual([0, 1, 2, 3, 4, 6, 7]);
    // Splitting does not use the retry quota: the first call of the record alone, then 2 retries.
    expect(poisonAloneCalls).toBe(3);
  });

  it('without bisect, retries the whole batch and then discards it whole', async () => {
    await fixture.putRecords(Array.from({ length: 4 }, (_, n) => ({ key: 'one-key', data: { n } })));
    let calls = 0;
    const failed = signal<FailedBatch>();
    await fixture.start({
      bisectBatchOnFunctionError: false,
      maximumRetryAttempts: 1,
      retryDelayMs: 1,
      handler: async (event) => {
        calls++;
        expect(event.Records).toHaveLength(4);
        throw new Error('down');
      },
      onFailure: (batch) => failed.resolve(batch),
    });

    const batch = await failed.promise;

    expect(batch.reason).toBe('RetryAttemptsExhausted');
    expect(batch.records).toHaveLength(4);
    expect(calls).toBe(2);
  });

  it('sends records older than the maximum age to onFailure and moves on', async () => {
    // Before the put: the record's age counts from its arrival.
    const startedAt = Date.now();
    await fixture.putRecords([{ key: 'one-key', data: { n: 0, poison: true } }]);
    const failed = signal<FailedBatch>();
    const later = signal<number>();
    await fixture.start({
      maximumRetryAttempts: -1,
      maximumRecordAgeInSeconds: 1,
      handler: async (event) => {
        const records = event.Records.map((record) => decode(record) as { n: number; poison?: boolean });
        if (records.some((record) => record.poison)) throw new Error('poison');
        later.resolve(records[0]?.n ?? -1);
      },
      onFailure: (batch) => failed.resolve(batch),
    });

    const batch = await failed.promise;
    await fixture.putRecords([{ key: 'one-key', data: { n: 1 } }]);

    expect(batch.reason).toBe('RecordAgeExceeded');
    expect(batch.records.map((record) => decode(record))).toEqual([{ n: 0, poison: true }]);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(1000);
    expect(await later.promise).toBe(1);
  });
});
