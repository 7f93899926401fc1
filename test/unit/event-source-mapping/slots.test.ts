/** The slots of a shard (ParallelizationFactor): which slot a key goes to, and how slots run their batches. */
import type { KinesisStreamRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  ParallelSlots,
  type ParallelSlotsOptions,
  parallelSlotOf,
} from '../../../local/event-source-mapping/slots.js';

describe('parallelSlotOf', () => {
  it('puts a key in the same slot every time, and spreads keys over every slot', () => {
    const keys = Array.from({ length: 100 }, (_, i) => `dm:user-${i}:user-${i + 1}`);
    const slots = keys.map((key) => parallelSlotOf(key, 10));

    expect(keys.map((key) => parallelSlotOf(key, 10))).toEqual(slots);
    expect(new Set(slots)).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    expect(keys.every((key) => parallelSlotOf(key, 1) === 0)).toBe(true);
  });
});

let sequence = 0;
function recordOf(partitionKey: string): KinesisStreamRecord {
  sequence++;
  return { kinesis: { partitionKey, sequenceNumber: String(sequence) } } as KinesisStreamRecord;
}

/** Keys that fall in distinct slots of `factor`, one per slot. */
function keysInDistinctSlots(factor: number): string[] {
  const bySlot = new Map<number, string>();
  for (let i = 0; bySlot.size < factor; i++) {
    const key = `key-${i}`;
    if (!bySlot.has(parallelSlotOf(key, factor))) bySlot.set(parallelSlotOf(key, factor), key);
  }
  return [...bySlot.values()];
}

/** Slots whose batches wait until the test releases them, one by one or all. */
function controlledSlots(options: Partial<ParallelSlotsOptions> = {}) {
  const batches: { keys: string[]; release: () => void }[] = [];
  let running = 0;
  let mostAtOnce = 0;
  const abort = new AbortController();
  const logged: string[] = [];
  const slots = new ParallelSlots({
    shardId: 'shard-0',
    parallelizationFactor: 3,
    batchSize: 2,
    signal: abort.signal,
    onSlotFree: () => {},
    log: (_level, message) => logged.push(message),
    handleBatch: (records) =>
      new Promise<void>((resolve) => {
        running++;
        mostAtOnce = Math.max(mostAtOnce, running);
        batches.push({
          keys: records.map((record) => record.kinesis.partitionKey),
          release: () => {
            running--;
            resolve();
          },
        });
      }),
    ...options,
  });
  return { slots, batches, abort, logged, mostAtOnce: () => mostAtOnce };
}

/** Lets the promise callbacks of released batches run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('ParallelSlots', () => {
  it('runs one batch per slot at once, in stream order per key, at most batchSize records each', async () => {
    const [a, b, c] = keysInDistinctSlots(3) as [string, string, string];
    const { slots, batches, mostAtOnce } = controlledSlots();

    slots.dispatch([a, b, a, c, a, b].map(recordOf));
    await settle();

    expect(batches.map((batch) => batch.keys)).toEqual([[a, a], [b, b], [c]]);
    expect(mostAtOnce()).toBe(3);

    // The slot of `a` starts its next batch only once the first is done.
    batches[0]?.release();
    await settle();
    expect(batches.map((batch) => batch.keys)).toEqual([[a, a], [b, b], [c], [a]]);
  });

  it('lets the other slots go on while one batch waits', async () => {
    const [slow, fast] = keysInDistinctSlots(2) as [string, string];
    const { slots, batches } = controlledSlots({ parallelizationFactor: 2, batchSize: 1 });

    slots.dispatch([slow, fast, fast, fast].map(recordOf));
    await settle();
    for (let i = 0; i < 3; i++) {
      batches.findLast((batch) => batch.keys[0] === fast)?.release();
      await settle();
    }

    // The fast key's three batches ran one after another while the slow key's batch was never released.
    const batchesOf = (key: string) => batches.filter((batch) => batch.keys[0] === key);
    expect(batchesOf(fast)).toHaveLength(3);
    expect(batchesOf(slow)).toHaveLength(1);
  });

  it('keeps the reader waiting while every slot is busy, and lets it read on once one is free', async () => {
    const { slots, batches } = controlledSlots({ parallelizationFactor: 1 });
    slots.dispatch([recordOf('k')]);
    let readOn = false;
    const waiting = slots.waitForRoom().then(() => {
      readOn = true;
    });
    await settle();
    expect(readOn).toBe(false);

    batches[0]?.release();
    await waiting;

    expect(readOn).toBe(true);
  });

  it('stops the reader waiting, and starts no batch, once the mapping stops', async () => {
    const { slots, batches, abort } = controlledSlots({ parallelizationFactor: 1 });
    slots.dispatch([recordOf('k')]);
    const waiting = slots.waitForRoom();

    abort.abort();
    await waiting;
    slots.dispatch([recordOf('k')]);
    batches[0]?.release();
    await slots.whenIdle();

    expect(batches).toHaveLength(1);
  });

  it('logs a batch that ends on an unexpected error, and the slot takes the next records', async () => {
    const handled: string[][] = [];
    const { slots, logged } = controlledSlots({
      parallelizationFactor: 1,
      batchSize: 1,
      handleBatch: async (records) => {
        if (handled.length === 0) {
          handled.push([]);
          throw new Error('unexpected');
        }
        handled.push(records.map((record) => record.kinesis.partitionKey));
      },
    });

    slots.dispatch([recordOf('first')]);
    await slots.whenIdle();
    slots.dispatch([recordOf('second')]);
    await slots.whenIdle();

    expect(logged).toEqual(['a batch ended on an unexpected error']);
    expect(handled).toEqual([[], ['second']]);
  });
});
