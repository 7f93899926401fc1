/**
 * The shards of a stream and where each one is read from: the mapping lists them once at
 * the start (shards created by resharding afterwards are not picked up) and asks for an
 * iterator whenever one is missing or no longer valid.
 */

import { createHash } from 'node:crypto';
import {
  GetShardIteratorCommand,
  type GetShardIteratorCommandInput,
  type KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';

export interface HashKeyRange {
  start: bigint;
  end: bigint;
}

export interface ListedShard {
  shardId: string;
  /** The shard's hash key range, to wake only the shard a partition key maps to. */
  hashKeyRange?: HashKeyRange;
}

/** Every shard of the stream, page by page. */
export async function listShards(kinesis: KinesisClient, streamName: string): Promise<ListedShard[]> {
  const listed: ListedShard[] = [];
  let nextToken: string | undefined;
  do {
    const page = await kinesis.send(
      new ListShardsCommand(nextToken ? { NextToken: nextToken } : { StreamName: streamName }),
    );
    for (const shard of page.Shards ?? []) {
      if (!shard.ShardId) continue;
      const { StartingHashKey: start, EndingHashKey: end } = shard.HashKeyRange ?? {};
      listed.push({
        shardId: shard.ShardId,
        ...(start && end ? { hashKeyRange: { start: BigInt(start), end: BigInt(end) } } : {}),
      });
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return listed;
}

/** Where Kinesis puts a partition key: the MD5 of its UTF-8 bytes, as a 128-bit unsigned integer. */
export function hashKeyOf(partitionKey: string): bigint {
  return BigInt(`0x${createHash('md5').update(partitionKey, 'utf8').digest('hex')}`);
}

/** Whether a shard with `range` holds `hashKey`; a shard without a known range holds every key. */
export function holdsHashKey(range: HashKeyRange | undefined, hashKey: bigint | undefined): boolean {
  return hashKey === undefined || !range || (range.start <= hashKey && hashKey <= range.end);
}

/** Gets shard iterators for one mapping, all from its starting position. */
export class ShardIterators {
  /** When the mapping started: a renewed `LATEST` iterator reads from here. */
  private readonly startedAt = new Date();

  constructor(
    private readonly kinesis: KinesisClient,
    private readonly streamName: string,
    private readonly startingPosition: 'TRIM_HORIZON' | 'LATEST',
    private readonly signal: AbortSignal,
  ) {}

  /**
   * An iterator after `resumeAfter` (the checkpoint, or the last record read into an open
   * batch), else at the starting position. `renewal` says the shard had an iterator before.
   */
  async get(shardId: string, resumeAfter: string | undefined, renewal: boolean): Promise<string | undefined> {
    const position: Omit<GetShardIteratorCommandInput, 'StreamName' | 'ShardId'> = resumeAfter
      ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: resumeAfter }
      : this.startingPosition === 'LATEST' && renewal
        ? // A renewal before any record came: LATEST again could skip records put meanwhile.
          { ShardIteratorType: 'AT_TIMESTAMP', Timestamp: this.startedAt }
        : { ShardIteratorType: this.startingPosition };
    const answer = await this.kinesis.send(
      new GetShardIteratorCommand({ StreamName: this.streamName, ShardId: shardId, ...position }),
      { abortSignal: this.signal },
    );
    return answer.ShardIterator;
  }
}
