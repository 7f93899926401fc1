/**
 * The checkpoint of one shard: the sequence number Lambda would resume after. Batches of a
 * shard can finish out of order (with a parallelization factor above 1, or a partial
 * batch response), so the checkpoint moves past a record only once it and every record
 * before it are done: handled, filtered out or sent to the on-failure destination.
 */

/** A record read from the shard and not yet behind the checkpoint. */
interface ReadRecord {
  sequenceNumber: string;
  done: boolean;
}

export class ShardCheckpoint {
  /** The last sequence number before which every record is done; undefined before the first. */
  private last: string | undefined;
  /** The last sequence number read (in flight, held in a batch or done): a new iterator starts after it. */
  private lastRead: string | undefined;
  /** Records read and not yet behind the checkpoint, oldest first. */
  private readonly read: ReadRecord[] = [];
  /** The entries of `read` not done yet, by sequence number. */
  private readonly unfinished = new Map<string, ReadRecord>();

  get sequenceNumber(): string | undefined {
    return this.last;
  }

  /** Where reading resumes: after the last record read, else after the checkpoint. */
  get resumeAfter(): string | undefined {
    return this.lastRead ?? this.last;
  }

  /** How many records are read and not behind the checkpoint yet. */
  get pending(): number {
    return this.read.length;
  }

  /** Notes a record read from the shard, in stream order; a record filtered out is done at once. */
  noteRead(sequenceNumber: string, done: boolean): void {
    this.lastRead = sequenceNumber;
    if (done && this.read.length === 0) {
      this.last = sequenceNumber;
      return;
    }
    const entry = { sequenceNumber, done };
    this.read.push(entry);
    if (!done) this.unfinished.set(sequenceNumber, entry);
  }

  /** Notes records done, and moves the checkpoint past every record done in a row. */
  noteDone(sequenceNumbers: Iterable<string>): void {
    for (const sequenceNumber of sequenceNumbers) {
      const entry = this.unfinished.get(sequenceNumber);
      if (!entry) continue;
      entry.done = true;
      this.unfinished.delete(sequenceNumber);
    }
    let behind = 0;
    while (behind < this.read.length && (this.read[behind] as ReadRecord).done) behind++;
    if (behind === 0) return;
    this.last = (this.read[behind - 1] as ReadRecord).sequenceNumber;
    this.read.splice(0, behind);
  }
}
