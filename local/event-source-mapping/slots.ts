/**
 * The slots of one shard (ParallelizationFactor, [PAR] in `index.ts`): up to that many batches of the
 * shard are handled at once. Each record goes to a slot by its partition key, and a slot
 * handles its batches one after another, with their retries, so records of one partition
 * key keep their order and are never in two batches in flight. A failing batch holds up
 * its slot only.
 *
 * That is the order Lambda keeps: "Each parallelized shard contains messages with the same
 * partition key. This means record processing order will still be maintained" ("New AWS
 * Lambda scaling controls for Kinesis and DynamoDB event sources",
 * https://aws.amazon.com/blogs/compute/new-aws-lambda-scaling-controls-for-kinesis-and-dynamodb-event-sources/).
 */
import type { KinesisStreamRecord } from 'aws-lambda';
import type { MappingLog } from './types.js';
import { EarlyEnd } from './waits.js';

/**
 * The slot of a shard that handles records of `partitionKey` when `parallelizationFactor`
 * batches run at once: the same key, the same slot, so its records keep their order.
 */
export function parallelSlotOf(partitionKey: string, parallelizationFactor: number): number {
  if (parallelizationFactor <= 1) return 0;
  // FNV-1a: cheap, and spreads short keys that differ in one character.
  let hash = 0x811c9dc5;
  for (let i = 0; i < partitionKey.length; i++) {
    hash ^= partitionKey.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % parallelizationFactor;
}

interface Slot {
  /** Records dispatched to the slot and not handed to the handler yet, in stream order. */
  queue: KinesisStreamRecord[];
  /** The slot's batches being handled, while they are. */
  running?: Promise<void>;
}

export interface ParallelSlotsOptions {
  shardId: string;
  parallelizationFactor: number;
  batchSize: number;
  /** Handles one batch with its retries; resolves once every record is handled or discarded. */
  handleBatch: (records: KinesisStreamRecord[]) => Promise<void>;
  /** Called each time a slot has finished its records. */
  onSlotFree: () => void;
  signal: AbortSignal;
  log: MappingLog;
}

export class ParallelSlots {
  private readonly slots: Slot[];
  /** Ends the reader's wait for a free slot, if it waits. */
  private readonly slotFreed = new EarlyEnd();
  /** Records waiting in the slots before the reader waits for them to be handled. */
  private readonly maxQueuedRecords: number;

  constructor(private readonly options: ParallelSlotsOptions) {
    this.slots = Array.from({ length: options.parallelizationFactor }, () => ({ queue: [] }));
    this.maxQueuedRecords = options.batchSize * options.parallelizationFactor;
  }

  /** Hands records to their slots and starts every idle slot that has records. */
  dispatch(records: KinesisStreamRecord[]): void {
    const { parallelizationFactor, signal } = this.options;
    for (const record of records) {
      const slot = this.slots[parallelSlotOf(record.kinesis.partitionKey, parallelizationFactor)] as Slot;
      slot.queue.push(record);
    }
    for (const slot of this.slots) {
      if (signal.aborted || slot.running || slot.queue.length === 0) continue;
      slot.running = this.run(slot).finally(() => {
        slot.running = undefined;
        this.onSlotFree();
      });
    }
  }

  /** Waits until a slot is free (with a factor of 1: until the batch is handled), or the mapping stops. */
  async waitForRoom(): Promise<void> {
    const { signal } = this.options;
    while (!signal.aborted && !this.mayReadMore()) await this.slotFreed.wait(signal);
  }

  /** Resolves once the batches in flight now are done. */
  async whenIdle(): Promise<void> {
    await Promise.all(this.slots.map((slot) => slot.running));
  }

  private mayReadMore(): boolean {
    const queued = this.slots.reduce((sum, slot) => sum + slot.queue.length, 0);
    return this.slots.some((slot) => !slot.running) && queued < this.maxQueuedRecords;
  }

  /** Handles the slot's records, up to `batchSize` at a time, until none is left. */
  private async run(slot: Slot): Promise<void> {
    const { batchSize, handleBatch, signal, log, shardId } = this.options;
    try {
      while (slot.queue.length > 0 && !signal.aborted) await handleBatch(slot.queue.splice(0, batchSize));
    } catch (error) {
      // handleBatch catches what it expects; this is a last resort, so the slot stays usable.
      log('error', 'a batch ended on an unexpected error', { shardId, error });
    }
  }

  private onSlotFree(): void {
    // A slot may have been given records while it finished its last batch.
    this.dispatch([]);
    this.slotFreed.trigger();
    this.options.onSlotFree();
  }
}
