/**
 * What the event source mapping's integration tests share: a stream of two shards made
 * before each test and deleted after it, the mapping under test stopped after each test,
 * and helpers to put records and wait for what a handler sees.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import type { KinesisStreamRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeEach, expect, inject } from 'vitest';
import { createAwsClients } from '../../../lambdas/adapters/aws-clients.js';
import {
  type KinesisEventSourceMappingOptions,
  parallelSlotOf,
  type RunningEventSourceMapping,
  startKinesisEventSourceMapping,
} from '../../../local/event-source-mapping/index.js';

/** A client of the shared kinesis-mock; a test that adds middleware makes its own and destroys it. */
export function createKinesisClients() {
  return createAwsClients({ region: 'us-east-1', local: true, kinesis: inject('kinesisEndpoint') });
}

export const quiet: KinesisEventSourceMappingOptions['log'] = () => {};

/** Resolves once `check` holds, asking again after each turn of the event loop's timers. */
export async function until(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function createStream(client: KinesisClient): Promise<string> {
  const streamName = `esm-test-${randomUUID()}`;
  await client.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: 2 }));
  await until(async () => {
    const answer = await client.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    return answer.StreamDescriptionSummary?.StreamStatus === 'ACTIVE';
  }, `stream ${streamName} to be ACTIVE`);
  return streamName;
}

export interface MappingFixture {
  readonly kinesis: KinesisClient;
  /** The stream of the running test. */
  streamName: string;
  /** The mapping of the running test, stopped after it. */
  mapping: RunningEventSourceMapping | undefined;
  /** Starts a quiet mapping on the test's stream, with the shared client unless `kinesis` is given. */
  start(
    options: Omit<KinesisEventSourceMappingOptions, 'kinesis' | 'streamName'> & { kinesis?: KinesisClient },
  ): Promise<RunningEventSourceMapping>;
  putRecords(entries: { key: string; data: unknown }[]): Promise<string[]>;
  /** Expects the mapping to refuse to start with `settings`, as Lambda would. */
  expectRefused(settings: Partial<KinesisEventSourceMappingOptions>): Promise<void>;
  /** Puts records whose data is the given bytes, as they are (not necessarily JSON). */
  putRawRecords(key: string, data: Buffer[]): Promise<void>;
  /**
   * Partition keys `key-0`, `key-1`… that land in one shard of the stream, each in a
   * different slot of `factor` (so that their batches may run at once), `count` of them.
   */
  keysInOneShard(factor: number, count: number): Promise<{ shardId: string; keys: string[] }>;
}

/** Registers the hooks of a test file and returns what its tests use. */
export function useMappingFixture(): MappingFixture {
  const clients = createKinesisClients();
  const { kinesis } = clients;
  const fixture: MappingFixture = {
    kinesis,
    streamName: '',
    mapping: undefined,
    async start(options) {
      const running = await startKinesisEventSourceMapping({
        kinesis,
        streamName: fixture.streamName,
        log: quiet,
        ...options,
      });
      fixture.mapping = running;
      return running;
    },
    async expectRefused(settings) {
      await expect(
        startKinesisEventSourceMapping({
          kinesis,
          streamName: fixture.streamName,
          handler: async () => {},
          log: quiet,
          ...settings,
        }),
      ).rejects.toThrow(RangeError);
    },
    putRecords: (entries) => putRecords(kinesis, fixture.streamName, entries),
    putRawRecords: (key, data) => putRawRecords(kinesis, fixture.streamName, key, data),
    keysInOneShard: (factor, count) => keysInOneShard(kinesis, fixture.streamName, factor, count),
  };

  beforeEach(async () => {
    fixture.streamName = await createStream(kinesis);
  });

  afterEach(async () => {
    await fixture.mapping?.stop();
    fixture.mapping = undefined;
    await kinesis.send(
      new DeleteStreamCommand({ StreamName: fixture.streamName, EnforceConsumerDeletion: true }),
    );
  });

  afterAll(() => clients.destroy());
  return fixture;
}

async function putRecords(
  kinesis: KinesisClient,
  streamName: string,
  entries: { key: string; data: unknown }[],
): Promise<string[]> {
  const answer = await kinesis.send(
    new PutRecordsCommand({
      StreamName: streamName,
      Records: entries.map(({ key, data }) => ({
        PartitionKey: key,
        Data: Buffer.from(JSON.stringify(data)),
      })),
    }),
  );
  expect(answer.FailedRecordCount ?? 0).toBe(0);
  return (answer.Records ?? []).map((record) => record.SequenceNumber ?? '');
}

async function putRawRecords(
  kinesis: KinesisClient,
  streamName: string,
  key: string,
  data: Buffer[],
): Promise<void> {
  const answer = await kinesis.send(
    new PutRecordsCommand({
      StreamName: streamName,
      Records: data.map((Data) => ({ PartitionKey: key, Data })),
    }),
  );
  expect(answer.FailedRecordCount ?? 0).toBe(0);
}

/** The shard Kinesis puts `key` in: the one whose hash key range holds the MD5 of the key. */
async function shardOfKey(kinesis: KinesisClient, streamName: string, key: string): Promise<string> {
  const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: streamName }));
  const hashKey = BigInt(`0x${createHash('md5').update(key, 'utf8').digest('hex')}`);
  const shard = Shards.find(
    ({ HashKeyRange: range }) =>
      BigInt(range?.StartingHashKey ?? -1) <= hashKey && hashKey <= BigInt(range?.EndingHashKey ?? -1),
  );
  return shard?.ShardId ?? '';
}

async function keysInOneShard(
  kinesis: KinesisClient,
  streamName: string,
  factor: number,
  count: number,
): Promise<{ shardId: string; keys: string[] }> {
  const byShard = new Map<string, Map<number, string>>();
  for (let i = 0; i < 200; i++) {
    const key = `key-${i}`;
    const shardId = await shardOfKey(kinesis, streamName, key);
    const slots = byShard.get(shardId) ?? new Map<number, string>();
    const slot = parallelSlotOf(key, factor);
    if (!slots.has(slot)) slots.set(slot, key);
    byShard.set(shardId, slots);
    if (slots.size === count) return { shardId, keys: [...slots.values()] };
  }
  throw new Error(`no ${count} keys in distinct slots of one shard`);
}

export function decode(record: KinesisStreamRecord): unknown {
  return JSON.parse(Buffer.from(record.kinesis.data, 'base64').toString('utf8'));
}

/** A promise with its resolve function, to wait for what a handler sees. */
export function signal<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** How many timers the process holds, to check that a stopped mapping leaves none behind. */
export function countTimers(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
}
