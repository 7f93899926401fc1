/** Retry decisions (bisect, partial responses, retry attempts, record age), and one batch with a fake handler. */
import type { KinesisStreamRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { ShardCheckpoint } from '../../../local/event-source-mapping/checkpoint.js';
import type { Outcome } from '../../../local/event-source-mapping/invoke.js';
import {
  BatchRetrier,
  type BatchRetrierOptions,
  countExpired,
  planAfterFailure,
  type RetryPolicy,
  type Segment,
} from '../../../local/event-source-mapping/retries.js';
import type { FailedBatch } from '../../../local/event-source-mapping/types.js';

/** Records with sequence numbers 1…`count`, arrived `ageMs` ago. */
function records(count: number, ageMs = 0): KinesisStreamRecord[] {
  const arrival = (Date.now() - ageMs) / 1000;
  return Array.from(
    { length: count },
    (_, i) =>
      ({
        kinesis: { partitionKey: 'k', sequenceNumber: String(i + 1), approximateArrivalTimestamp: arrival },
      }) as KinesisStreamRecord,
  );
}
const sequenceNumbers = (batch: readonly KinesisStreamRecord[]) => batch.map((r) => r.kinesis.sequenceNumber);

const policy: RetryPolicy = {
  maximumRetryAttempts: 2,
  maximumRecordAgeInSeconds: 60,
  bisectBatchOnFunctionError: true,
};
const boom = new Error('boom');

describe('countExpired', () => {
  it('counts the records at the start of a batch older than the maximum age', () => {
    const now = Date.now();
    const batch = [...records(2, 90_000), ...records(1, 10_000), ...records(1, 90_000)];

    expect(countExpired(batch, now, 60)).toBe(2);
    expect(countExpired(batch, now, 100)).toBe(0);
    expect(countExpired(batch, now, -1)).toBe(0);
  });
});

describe('planAfterFailure', () => {
  it('bisects a batch the function failed, and both halves keep the retries already spent', () => {
    const segment: Segment = { records: records(5), retries: 1 };

    const plan = planAfterFailure(segment, { kind: 'error', error: boom }, policy);

    expect(plan.kind).toBe('bisect');
    if (plan.kind !== 'bisect') return;
    expect(plan.halves.map((half) => sequenceNumbers(half.records))).toEqual([
      ['1', '2', '3'],
      ['4', '5'],
    ]);
    expect(plan.halves.map((half) => [half.retries, half.lastError])).toEqual([
      [1, boom],
      [1, boom],
    ]);
  });

  it('retries a single record, or a batch with bisect off, whole and counts the retry', () => {
    const one = records(1);
    const single = planAfterFailure({ records: one, retries: 0 }, { kind: 'error', error: boom }, policy);
    const whole = planAfterFailure(
      { records: records(3), retries: 0 },
      { kind: 'error', error: boom },
      { ...policy, bisectBatchOnFunctionError: false },
    );

    expect(single).toEqual({ kind: 'retry', segment: { records: one, retries: 1, lastError: boom } });
    expect(whole.kind === 'retry' && sequenceNumbers(whole.segment.records)).toEqual(['1', '2', '3']);
  });

  it('retries from the lowest record a partial response names, keeping the last error', () => {
    const plan = planAfterFailure(
      { records: records(4), retries: 0, lastError: boom },
      { kind: 'partial', fromIndex: 2 },
      policy,
    );

    expect(plan.kind === 'retry' && sequenceNumbers(plan.segment.records)).toEqual(['3', '4']);
    expect(plan.kind === 'retry' && plan.segment.lastError).toBe(boom);
  });

  it('retries a refused response whole, even with bisect on', () => {
    const refused = new Error('not a record of the batch');
    const plan = planAfterFailure(
      { records: records(4), retries: 0 },
      { kind: 'invalid-response', error: refused },
      policy,
    );

    expect(plan.kind === 'retry' && sequenceNumbers(plan.segment.records)).toEqual(['1', '2', '3', '4']);
  });

  it('discards the failed records once the retries are spent, and never with -1', () => {
    const spent: Segment = { records: records(2), retries: 2 };

    expect(planAfterFailure(spent, { kind: 'partial', fromIndex: 1 }, policy)).toEqual({
      kind: 'discard',
      // The same records, not new ones: those would carry a later arrival time.
      records: spent.records.slice(1),
      lastError: undefined,
    });
    expect(
      planAfterFailure(
        { ...spent, retries: 1000 },
        { kind: 'partial', fromIndex: 1 },
        {
          ...policy,
          maximumRetryAttempts: -1,
        },
      ).kind,
    ).toBe('retry');
  });
});

/** A retrier whose handler answers with the outcomes given, one call each, then success. */
function retrierWith(outcomes: Outcome[], options: Partial<BatchRetrierOptions> = {}) {
  const calls: string[][] = [];
  const failed: FailedBatch[] = [];
  const logged: string[] = [];
  const checkpoint = new ShardCheckpoint();
  const retrier = new BatchRetrier({
    shardId: 'shard-0',
    checkpoint,
    policy,
    invoke: async (batch) => {
      calls.push(sequenceNumbers(batch));
      return outcomes.shift() ?? { kind: 'success' };
    },
    retryDelayMs: 0,
    deliveryDelayMs: 0,
    onFailure: (batch) => {
      failed.push(batch);
    },
    signal: new AbortController().signal,
    log: (_level, message) => logged.push(message),
    ...options,
  });
  return { retrier, checkpoint, calls, failed, logged };
}

describe('BatchRetrier', () => {
  it('draws the delivery delay afresh for each batch when it is a function', async () => {
    // prepare: records that arrived long ago, so that no drawn delay makes the batch wait
    let draws = 0;
    const { retrier, calls, checkpoint } = retrierWith([], {
      deliveryDelayMs: () => {
        draws += 1;
        return 50;
      },
    });
    const first = records(1, 10_000);
    const second = records(1, 10_000).map((record) => ({
      ...record,
      kinesis: { ...record.kinesis, sequenceNumber: '2' },
    }));
    readAll(checkpoint, [...first, ...second]);

    // act
    await retrier.handle(first);
    await retrier.handle(second);

    // assess
    expect(draws).toBe(2);
    expect(calls).toEqual([['1'], ['2']]);
  });

  it('isolates a poison record by bisection and sends it alone to onFailure', async () => {
    const calls: string[][] = [];
    const { retrier, failed, checkpoint } = retrierWith([], {
      invoke: async (batch) => {
        calls.push(sequenceNumbers(batch));
        return sequenceNumbers(batch).includes('4') ? { kind: 'error', error: boom } : { kind: 'success' };
      },
    });
    const batch = records(4);
    readAll(checkpoint, batch);

    await retrier.handle(batch);

    // Splitting uses no retries: the record alone is called once, then retried twice.
    expect(calls).toEqual([['1', '2', '3', '4'], ['1', '2'], ['3', '4'], ['3'], ['4'], ['4'], ['4']]);
    expect(failed.map((f) => [f.reason, sequenceNumbers(f.records), f.error])).toEqual([
      ['RetryAttemptsExhausted', ['4'], boom],
    ]);
    expect(checkpoint.sequenceNumber).toBe('4');
  });

  it('sends records too old to onFailure without calling the handler with them', async () => {
    const batch = [...records(1, 120_000), ...records(1)].map((record, i) => ({
      ...record,
      kinesis: { ...record.kinesis, sequenceNumber: String(i + 1) },
    }));
    const { retrier, calls, failed, checkpoint } = retrierWith([]);
    readAll(checkpoint, batch);

    await retrier.handle(batch);

    expect(failed.map((f) => [f.reason, sequenceNumbers(f.records)])).toEqual([['RecordAgeExceeded', ['1']]]);
    expect(calls).toEqual([['2']]);
    expect(checkpoint.sequenceNumber).toBe('2');
  });

  it('logs an on-failure destination that throws, and counts the records as done', async () => {
    const { retrier, logged, checkpoint } = retrierWith(
      [
        { kind: 'invalid-response', error: boom },
        { kind: 'invalid-response', error: boom },
        { kind: 'invalid-response', error: boom },
      ],
      {
        onFailure: () => {
          throw new Error('destination down');
        },
      },
    );
    const batch = records(2);
    readAll(checkpoint, batch);

    await retrier.handle(batch);

    expect(logged).toContain('2 record(s) sent to the on-failure destination');
    expect(logged).toContain('the on-failure destination threw; the records are dropped');
    expect(checkpoint.sequenceNumber).toBe('2');
  });
});

function readAll(checkpoint: ShardCheckpoint, batch: readonly KinesisStreamRecord[]): void {
  for (const record of batch) checkpoint.noteRead(record.kinesis.sequenceNumber, false);
}
