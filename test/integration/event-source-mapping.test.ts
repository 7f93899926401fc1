import { createHash, randomUUID } from 'node:crypto';
import {
  KinesisDataStreamRecord,
  KinesisDataStreamRecordPayload,
  KinesisDataStreamSchema,
} from '@aws-lambda-powertools/parser/schemas/kinesis';
import {
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamSummaryCommand,
  type GetRecordsCommandInput,
  type GetRecordsCommandOutput,
  type KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import type { Context, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { createAwsClients } from '../../lambdas/adapters/aws-clients.js';
import {
  type FailedBatch,
  filterFromPatterns,
  type KinesisEventSourceMappingOptions,
  parallelSlotOf,
  type RunningEventSourceMapping,
  startKinesisEventSourceMapping,
} from '../../local/event-source-mapping/index.js';

const clients = createAwsClients({ region: 'us-east-1', local: true, kinesis: inject('kinesisEndpoint') });
const { kinesis } = clients;

/** Resolves once `check` holds, asking again after each turn of the event loop's timers. */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
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

async function putRecords(streamName: string, entries: { key: string; data: unknown }[]): Promise<string[]> {
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

/** Puts records whose data is the given bytes, as they are (not necessarily JSON). */
async function putRawRecords(streamName: string, key: string, data: Buffer[]): Promise<void> {
  const answer = await kinesis.send(
    new PutRecordsCommand({
      StreamName: streamName,
      Records: data.map((Data) => ({ PartitionKey: key, Data })),
    }),
  );
  expect(answer.FailedRecordCount ?? 0).toBe(0);
}

/** The shard Kinesis puts `key` in: the one whose hash key range holds the MD5 of the key. */
async function shardOfKey(streamName: string, key: string): Promise<string> {
  const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: streamName }));
  const hashKey = BigInt(`0x${createHash('md5').update(key, 'utf8').digest('hex')}`);
  const shard = Shards.find(
    ({ HashKeyRange: range }) =>
      BigInt(range?.StartingHashKey ?? -1) <= hashKey && hashKey <= BigInt(range?.EndingHashKey ?? -1),
  );
  return shard?.ShardId ?? '';
}

/**
 * Partition keys `key-0`, `key-1`… that land in one shard of `streamName`, each in a
 * different slot of `factor` (so that their batches may run at once), `count` of them.
 */
async function keysInOneShard(
  streamName: string,
  factor: number,
  count: number,
): Promise<{ shardId: string; keys: string[] }> {
  const byShard = new Map<string, Map<number, string>>();
  for (let i = 0; i < 200; i++) {
    const key = `key-${i}`;
    const shardId = await shardOfKey(streamName, key);
    const slots = byShard.get(shardId) ?? new Map<number, string>();
    const slot = parallelSlotOf(key, factor);
    if (!slots.has(slot)) slots.set(slot, key);
    byShard.set(shardId, slots);
    if (slots.size === count) return { shardId, keys: [...slots.values()] };
  }
  throw new Error(`no ${count} keys in distinct slots of one shard`);
}

function decode(record: KinesisStreamRecord): unknown {
  return JSON.parse(Buffer.from(record.kinesis.data, 'base64').toString('utf8'));
}

/** A promise with its resolve function, to wait for what a handler sees. */
function signal<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const quiet: KinesisEventSourceMappingOptions['log'] = () => {};

describe('the local Kinesis event source mapping', () => {
  let streamName: string;
  let mapping: RunningEventSourceMapping | undefined;

  function start(options: Omit<KinesisEventSourceMappingOptions, 'kinesis' | 'streamName'>) {
    return startKinesisEventSourceMapping({ kinesis, streamName, log: quiet, ...options }).then((running) => {
      mapping = running;
      return running;
    });
  }

  beforeEach(async () => {
    streamName = await createStream(kinesis);
  });

  afterEach(async () => {
    await mapping?.stop();
    mapping = undefined;
    await kinesis.send(new DeleteStreamCommand({ StreamName: streamName, EnforceConsumerDeletion: true }));
  });

  afterAll(() => clients.destroy());

  it('delivers every record once, in order per partition key', async () => {
    const keys = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot'];
    const entries = Array.from({ length: 60 }, (_, i) => ({
      key: keys[i % keys.length] as string,
      data: { n: Math.floor(i / keys.length) },
    }));
    const seen = new Map<string, number[]>();
    let count = 0;
    const all = signal();
    await start({
      batchSize: 7,
      handler: async (event) => {
        for (const record of event.Records) {
          const key = record.kinesis.partitionKey;
          seen.set(key, [...(seen.get(key) ?? []), (decode(record) as { n: number }).n]);
          if (++count === entries.length) all.resolve();
        }
      },
    });

    await putRecords(streamName, entries);
    await all.promise;
    await mapping?.drain?.();

    expect(count).toBe(entries.length);
    for (const key of keys) expect(seen.get(key)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('polls an idle shard at once when woken, instead of waiting out the poll interval', async () => {
    const delivered = signal<unknown>();
    const running = await start({
      pollIntervalMs: 600_000,
      handler: async (event) => {
        for (const record of event.Records) delivered.resolve(decode(record));
      },
    });
    // Every shard has had its first, empty poll and now waits ten minutes.
    await running.drain?.();

    await putRecords(streamName, [{ key: 'alpha', data: { woken: true } }]);
    running.wake();

    expect(await delivered.promise).toEqual({ woken: true });
  });

  it('wakes only the shard that holds the partition key it is given', async () => {
    const counting = createAwsClients({
      region: 'us-east-1',
      local: true,
      kinesis: inject('kinesisEndpoint'),
    });
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
      const running = await startKinesisEventSourceMapping({
        kinesis: counting.kinesis,
        streamName,
        pollIntervalMs: 600_000,
        handler: async (event) => {
          for (const record of event.Records) delivered.resolve(decode(record));
        },
        log: quiet,
      });
      mapping = running;
      // Every shard has had its first, empty poll and now waits ten minutes.
      await running.drain?.();
      const pollsBefore = polls;

      await putRecords(streamName, [{ key: 'alpha', data: { woken: 'alpha' } }]);
      running.wake('alpha');

      expect(await delivered.promise).toEqual({ woken: 'alpha' });
      // One poll of alpha's shard read the record, and it is at the tip now; the other shard slept on.
      expect(polls - pollsBefore).toBe(1);
    } finally {
      await mapping?.stop();
      mapping = undefined;
      counting.destroy();
    }
  });

  it('sends an event and a context shaped as Lambda sends them', async () => {
    const received = signal<{ event: KinesisStreamEvent; context: Context }>();
    await start({
      region: 'eu-west-1',
      functionName: 'fanout-test',
      handler: async (event, context) => received.resolve({ event, context }),
    });
    const [sequenceNumber] = await putRecords(streamName, [{ key: 'k', data: { hello: 'world' } }]);

    const { event, context } = await received.promise;

    // The Powertools schema, made strict so that an extra field fails too.
    const strictSchema = KinesisDataStreamSchema.extend({
      Records: z.array(
        KinesisDataStreamRecord.extend({ kinesis: KinesisDataStreamRecordPayload.strict() }).strict(),
      ),
    }).strict();
    const parsed = strictSchema.parse(event);
    expect(parsed.Records).toHaveLength(1);
    expect(parsed.Records[0]?.kinesis.data).toEqual({ hello: 'world' });
    const [record] = event.Records;
    expect(record).toMatchObject({
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventName: 'aws:kinesis:record',
      awsRegion: 'eu-west-1',
      eventSourceARN: `arn:aws:kinesis:eu-west-1:000000000000:stream/${streamName}`,
      kinesis: { kinesisSchemaVersion: '1.0', partitionKey: 'k', sequenceNumber },
    });
    expect(record?.eventID).toMatch(new RegExp(`^shardId-\\d{12}:${sequenceNumber}$`));
    const arrival = record?.kinesis.approximateArrivalTimestamp ?? 0;
    expect(Math.abs(arrival - Date.now() / 1000)).toBeLessThan(30);
    expect(context).toMatchObject({
      functionName: 'fanout-test',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:000000000000:function:fanout-test',
      logGroupName: '/aws/lambda/fanout-test',
    });
    expect(context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(context.getRemainingTimeInMillis()).toBeGreaterThan(0);
  });

  it('redelivers from the lowest reported failure and never redelivers the records before it', async () => {
    const sequenceNumbers = await putRecords(
      streamName,
      Array.from({ length: 5 }, (_, n) => ({ key: 'one-key', data: { n } })),
    );
    const batches: number[][] = [];
    const redelivered = signal();
    await start({
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
    await mapping?.drain?.();

    expect(batches).toEqual([
      [0, 1, 2, 3, 4],
      [1, 2, 3, 4],
    ]);
  });

  it('retries the whole batch when the response names a record that is not in it', async () => {
    await putRecords(
      streamName,
      Array.from({ length: 3 }, (_, n) => ({ key: 'one-key', data: { n } })),
    );
    const batches: number[][] = [];
    const retried = signal();
    await start({
      handler: async (event) => {
        batches.push(event.Records.map((record) => (decode(record) as { n: number }).n));
        if (batches.length === 1) return { batchItemFailures: [{ itemIdentifier: '' }] };
        retried.resolve();
        return undefined;
      },
    });

    await retried.promise;
    await mapping?.drain?.();

    expect(batches).toEqual([
      [0, 1, 2],
      [0, 1, 2],
    ]);
  });

  it('bisects a failing batch until the poison record alone goes to onFailure', async () => {
    await putRecords(
      streamName,
      Array.from({ length: 8 }, (_, n) => ({ key: 'one-key', data: { n, poison: n === 5 } })),
    );
    const handled: number[] = [];
    let poisonAloneCalls = 0;
    const failed = signal<FailedBatch>();
    await start({
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
    await mapping?.drain?.();

    expect(batch.reason).toBe('RetryAttemptsExhausted');
    expect(batch.records.map((record) => decode(record))).toEqual([{ n: 5, poison: true }]);
    expect(batch.error).toEqual(new Error('poison'));
    expect(handled).toEqual([0, 1, 2, 3, 4, 6, 7]);
    // Splitting does not use the retry quota: the first call of the record alone, then 2 retries.
    expect(poisonAloneCalls).toBe(3);
  });

  it('without bisect, retries the whole batch and then discards it whole', async () => {
    await putRecords(
      streamName,
      Array.from({ length: 4 }, (_, n) => ({ key: 'one-key', data: { n } })),
    );
    let calls = 0;
    const failed = signal<FailedBatch>();
    await start({
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
    await putRecords(streamName, [{ key: 'one-key', data: { n: 0, poison: true } }]);
    const failed = signal<FailedBatch>();
    const later = signal<number>();
    await start({
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
    await putRecords(streamName, [{ key: 'one-key', data: { n: 1 } }]);

    expect(batch.reason).toBe('RecordAgeExceeded');
    expect(batch.records.map((record) => decode(record))).toEqual([{ n: 0, poison: true }]);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(1000);
    expect(await later.promise).toBe(1);
  });

  it('keeps polling after GetRecords fails', async () => {
    const flaky = createAwsClients({ region: 'us-east-1', local: true, kinesis: inject('kinesisEndpoint') });
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
      const running = await startKinesisEventSourceMapping({
        kinesis: flaky.kinesis,
        streamName,
        handler: async (event) => delivered.resolve(decode(event.Records[0] as KinesisStreamRecord)),
        log: (level, message) => {
          if (level === 'warn') warnings.push(message);
        },
      });
      mapping = running;
      await putRecords(streamName, [{ key: 'k', data: { after: 'errors' } }]);

      expect(await delivered.promise).toEqual({ after: 'errors' });
      expect(failuresLeft).toBe(0);
      expect(warnings).toContain('reading the shard failed; retrying');
    } finally {
      await mapping?.stop();
      mapping = undefined;
      flaky.destroy();
    }
  });

  it('stops only after the handler call in flight has finished', async () => {
    const entered = signal();
    const release = signal();
    let calls = 0;
    const running = await start({
      handler: async () => {
        calls++;
        entered.resolve();
        await release.promise;
      },
    });
    await putRecords(streamName, [{ key: 'k', data: { n: 0 } }]);
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
    const counting = createAwsClients({
      region: 'us-east-1',
      local: true,
      kinesis: inject('kinesisEndpoint'),
    });
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
    const countTimers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
    const timersBefore = countTimers();
    try {
      // A long poll interval: after its first empty poll each shard loop waits on a timer.
      const running = await startKinesisEventSourceMapping({
        kinesis: counting.kinesis,
        streamName,
        pollIntervalMs: 60_000,
        handler: async () => {},
        log: quiet,
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

  describe('event filtering', () => {
    it('delivers only the records that match, in order, and never delivers or retries the others', async () => {
      const entries = [
        { type: 'message', n: 0 },
        { type: 'typing', n: 1 },
        { type: 'receipt', n: 2 },
        { type: 'presence', n: 3 },
        { n: 4 },
        { type: 'message', n: 5 },
      ];
      const batches: number[][] = [];
      const failed: FailedBatch[] = [];
      const running = await start({
        filter: filterFromPatterns([{ data: { type: ['message', 'receipt'] } }]),
        bisectBatchOnFunctionError: false,
        retryDelayMs: 1,
        handler: async (event) => {
          batches.push(event.Records.map((record) => (decode(record) as { n: number }).n));
          if (batches.length === 1) throw new Error('first call fails');
        },
        onFailure: (batch) => {
          failed.push(batch);
        },
      });

      await putRecords(
        streamName,
        entries.map((data) => ({ key: 'one-key', data })),
      );
      await running.drain?.();

      // The retry of the failed batch holds the same matching records, and only them.
      expect(batches).toEqual([
        [0, 2, 5],
        [0, 2, 5],
      ]);
      expect(failed).toEqual([]);

      // Records that all fail the filter invoke nothing, and the shard moves on past them.
      await putRecords(streamName, [
        { key: 'one-key', data: { type: 'typing', n: 6 } },
        { key: 'one-key', data: { type: 'presence', n: 7 } },
      ]);
      await running.drain?.();
      expect(batches).toHaveLength(2);
      await putRecords(streamName, [{ key: 'one-key', data: { type: 'receipt', n: 8 } }]);
      await running.drain?.();
      expect(batches).toEqual([[0, 2, 5], [0, 2, 5], [8]]);
      expect(failed).toEqual([]);
    });

    it('never matches records whose data is not JSON', async () => {
      const filtered: unknown[] = [];
      const delivered: string[] = [];
      const running = await start({
        // Accepts everything it is asked about: what it is never asked about is dropped.
        filter: (data) => {
          filtered.push(data);
          return true;
        },
        handler: async (event) => {
          for (const record of event.Records) {
            delivered.push(Buffer.from(record.kinesis.data, 'base64').toString('utf8'));
          }
        },
      });

      await putRawRecords(streamName, 'one-key', [
        Buffer.from('not json'),
        Buffer.from('{"type":"message"'),
        // Not UTF-8 (a UTF-16 byte order mark), though the rest reads as JSON.
        Buffer.from([0xff, 0xfe, 0x7b, 0x7d]),
        Buffer.from('{"type":"message","n":1}'),
        Buffer.from('"message"'),
      ]);
      await running.drain?.();

      expect(filtered).toEqual([{ type: 'message', n: 1 }, 'message']);
      expect(delivered).toEqual(['{"type":"message","n":1}', '"message"']);
    });

    it('drops non-JSON data with a pattern filter too, and moves on', async () => {
      const delivered: unknown[] = [];
      const running = await start({
        filter: filterFromPatterns([{ data: { type: ['message'] } }]),
        handler: async (event) => {
          for (const record of event.Records) delivered.push(decode(record));
        },
      });

      await putRawRecords(streamName, 'one-key', [
        Buffer.from('message'),
        Buffer.from('{"type":"message","n":0}'),
        Buffer.from('type=message'),
        Buffer.from('{"type":"message","n":1}'),
      ]);
      await running.drain?.();

      expect(delivered).toEqual([
        { type: 'message', n: 0 },
        { type: 'message', n: 1 },
      ]);
    });
  });

  describe('delivery delay', () => {
    /**
     * A client whose GetRecords answers carry arrival times moved by `shiftMs`, as if the
     * records had been put that much later (or earlier, when negative); `onRecords` hears of
     * every answer that holds records.
     */
    function clientShiftingArrivals(shiftMs: number, onRecords: () => void = () => {}) {
      const shifting = createAwsClients({
        region: 'us-east-1',
        local: true,
        kinesis: inject('kinesisEndpoint'),
      });
      shifting.kinesis.middlewareStack.add(
        (next, context) => async (args) => {
          const result = await next(args);
          if (context.commandName !== 'GetRecordsCommand') return result;
          const records = (result.output as GetRecordsCommandOutput).Records ?? [];
          for (const record of records) {
            record.ApproximateArrivalTimestamp = new Date(
              (record.ApproximateArrivalTimestamp?.getTime() ?? Date.now()) + shiftMs,
            );
          }
          if (records.length > 0) onRecords();
          return result;
        },
        { step: 'initialize', name: 'shiftArrivals' },
      );
      return shifting;
    }

    it('hands a record to the handler no sooner than the delay after it was put', async () => {
      const handled = signal<{ arrivedAt: number; handledAt: number }>();
      await start({
        deliveryDelayMs: 300,
        handler: async (event) => {
          const handledAt = Date.now();
          for (const record of event.Records) {
            handled.resolve({ arrivedAt: record.kinesis.approximateArrivalTimestamp * 1000, handledAt });
          }
        },
      });

      await putRecords(streamName, [{ key: 'alpha', data: { n: 1 } }]);
      const { arrivedAt, handledAt } = await handled.promise;

      expect(handledAt - arrivedAt).toBeGreaterThanOrEqual(300);
    });

    it('counts the delay from when the record was put, so a record that already waited it is not held again', async () => {
      // Put two minutes ago, by its arrival time; a wait of a minute counted from the read
      // would outlast the test's timeout.
      const shifting = clientShiftingArrivals(-120_000);
      const delivered = signal<unknown>();
      try {
        mapping = await startKinesisEventSourceMapping({
          kinesis: shifting.kinesis,
          streamName,
          deliveryDelayMs: 60_000,
          maximumRecordAgeInSeconds: -1,
          handler: async (event) => delivered.resolve(decode(event.Records[0] as KinesisStreamRecord)),
          log: quiet,
        });

        await putRecords(streamName, [{ key: 'alpha', data: { waited: true } }]);

        expect(await delivered.promise).toEqual({ waited: true });
      } finally {
        await mapping?.stop();
        mapping = undefined;
        shifting.destroy();
      }
    });

    it('without a delay, hands a record over whatever its arrival time says', async () => {
      // Put an hour from now, by its arrival time: any wait for it would outlast the test.
      const shifting = clientShiftingArrivals(3_600_000);
      const delivered = signal<unknown>();
      try {
        mapping = await startKinesisEventSourceMapping({
          kinesis: shifting.kinesis,
          streamName,
          handler: async (event) => delivered.resolve(decode(event.Records[0] as KinesisStreamRecord)),
          log: quiet,
        });

        await putRecords(streamName, [{ key: 'alpha', data: { delayed: false } }]);

        expect(await delivered.promise).toEqual({ delayed: false });
      } finally {
        await mapping?.stop();
        mapping = undefined;
        shifting.destroy();
      }
    });

    it('stops at once while a batch waits out its delay, without handing it over', async () => {
      const read = signal();
      const shifting = clientShiftingArrivals(0, () => read.resolve());
      let calls = 0;
      try {
        const running = await startKinesisEventSourceMapping({
          kinesis: shifting.kinesis,
          streamName,
          deliveryDelayMs: 600_000,
          handler: async () => {
            calls++;
          },
          log: quiet,
        });
        mapping = running;
        await putRecords(streamName, [{ key: 'alpha', data: { n: 1 } }]);
        await read.promise;

        await running.stop();

        expect(calls).toBe(0);
      } finally {
        await mapping?.stop();
        mapping = undefined;
        shifting.destroy();
      }
    });

    it('refuses a delay that is negative or not a number', async () => {
      for (const deliveryDelayMs of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
        await expect(
          startKinesisEventSourceMapping({
            kinesis,
            streamName,
            deliveryDelayMs,
            handler: async () => {},
            log: quiet,
          }),
        ).rejects.toThrow(RangeError);
      }
    });
  });

  describe('batching window', () => {
    it('gathers records put in quick succession into one invocation, after the window', async () => {
      const batches: { ns: number[]; at: number }[] = [];
      const running = await start({
        maximumBatchingWindowInSeconds: 1,
        handler: async (event) => {
          batches.push({
            ns: event.Records.map((record) => (decode(record) as { n: number }).n),
            at: Date.now(),
          });
        },
      });

      await putRecords(streamName, [{ key: 'one-key', data: { n: 0 } }]);
      const firstPutAt = Date.now();
      // The local stack wakes the mapping after each put: that must not close the window.
      running.wake();
      await putRecords(streamName, [{ key: 'one-key', data: { n: 1 } }]);
      running.wake();
      await putRecords(streamName, [{ key: 'one-key', data: { n: 2 } }]);
      running.wake();
      // Records held in an open window are not handled yet: drain waits for the invocation.
      await running.drain?.();

      expect(batches.map((batch) => batch.ns)).toEqual([[0, 1, 2]]);
      expect((batches[0]?.at ?? 0) - firstPutAt).toBeGreaterThanOrEqual(900);
    });

    it('invokes as soon as the batch is full, without waiting out the window', async () => {
      const invoked = signal<number[]>();
      await start({
        maximumBatchingWindowInSeconds: 10,
        batchSize: 3,
        handler: async (event) => {
          invoked.resolve(event.Records.map((record) => (decode(record) as { n: number }).n));
        },
      });
      const putAt = Date.now();

      await putRecords(
        streamName,
        [0, 1, 2].map((n) => ({ key: 'one-key', data: { n } })),
      );

      expect(await invoked.promise).toEqual([0, 1, 2]);
      expect(Date.now() - putAt).toBeLessThan(2000);
    });

    it('opens no window for records the filter drops', async () => {
      let calls = 0;
      const running = await start({
        maximumBatchingWindowInSeconds: 1,
        filter: filterFromPatterns([{ data: { type: ['presence'] } }]),
        handler: async () => {
          calls++;
        },
      });

      await putRecords(streamName, [{ key: 'one-key', data: { type: 'message' } }]);
      const putAt = Date.now();
      await running.drain?.();

      expect(Date.now() - putAt).toBeLessThan(900);
      expect(calls).toBe(0);
    });

    it('stops promptly while a window is open, leaving no timers behind', async () => {
      const counting = createAwsClients({
        region: 'us-east-1',
        local: true,
        kinesis: inject('kinesisEndpoint'),
      });
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
      const countTimers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
      const timersBefore = countTimers();
      let calls = 0;
      try {
        const running = await startKinesisEventSourceMapping({
          kinesis: counting.kinesis,
          streamName,
          maximumBatchingWindowInSeconds: 5,
          pollIntervalMs: 60_000,
          handler: async () => {
            calls++;
          },
          log: quiet,
        });
        mapping = running;
        await putRecords(streamName, [{ key: 'one-key', data: { n: 0 } }]);
        running.wake();
        await idleInWindow.promise;
        await new Promise((resolve) => setImmediate(resolve));

        const stoppingAt = Date.now();
        await running.stop();

        expect(Date.now() - stoppingAt).toBeLessThan(500);
        expect(calls).toBe(0);
        expect(countTimers()).toBeLessThanOrEqual(timersBefore);
      } finally {
        await mapping?.stop();
        mapping = undefined;
        counting.destroy();
      }
    });

    it('refuses a window that Lambda would refuse', async () => {
      for (const maximumBatchingWindowInSeconds of [-1, 0.5, 301]) {
        await expect(
          startKinesisEventSourceMapping({
            kinesis,
            streamName,
            maximumBatchingWindowInSeconds,
            handler: async () => {},
            log: quiet,
          }),
        ).rejects.toThrow(RangeError);
      }
    });
  });

  describe('with a parallelization factor', () => {
    it('handles the other keys of a shard while one batch waits, and checkpoints only past records all handled', async () => {
      const { shardId, keys } = await keysInOneShard(streamName, 4, 2);
      const [slow, fast] = keys as [string, string];
      const release = signal();
      const slowEntered = signal();
      const fastDone = [signal(), signal()];
      const handled: string[] = [];
      const running = await start({
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

      const [slowFirst] = await putRecords(streamName, [{ key: slow, data: { n: 0 } }]);
      await slowEntered.promise;
      await putRecords(
        streamName,
        [0, 1, 2].map((n) => ({ key: fast, data: { n } })),
      );
      await fastDone[0]?.promise;
      // The slot starts its next batch only once the last one is done: then that one counts as handled.
      const later = await putRecords(streamName, [{ key: fast, data: { n: 3 } }]);
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
      const { keys } = await keysInOneShard(streamName, 3, 3);
      const [failing, ...others] = keys as [string, string, string];
      let failuresLeft = 2;
      const handled = new Map<string, number[]>();
      const othersBeforeRetry: string[] = [];
      await start({
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

      await putRecords(
        streamName,
        [0, 1, 2, 3].flatMap((n) => keys.map((key) => ({ key, data: { n } }))),
      );
      await until(async () => failuresLeft === 0 && (handled.get(failing)?.length ?? 0) === 4, 'the retries');
      await mapping?.drain?.();

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
      await start({
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

      await putRecords(streamName, entries);
      await all.promise;
      await mapping?.drain?.();

      expect(count).toBe(entries.length);
      for (const key of keys) expect(seen.get(key)).toEqual(Array.from({ length: 20 }, (_, n) => n));
      expect(mostAtOnce).toBeGreaterThan(1);
      expect(mostAtOnce).toBeLessThanOrEqual(factor);
    });

    it('refuses a factor that Lambda would refuse', async () => {
      for (const parallelizationFactor of [0, 1.5, 11]) {
        await expect(
          startKinesisEventSourceMapping({
            kinesis,
            streamName,
            parallelizationFactor,
            handler: async () => {},
            log: quiet,
          }),
        ).rejects.toThrow(RangeError);
      }
    });
  });
});

describe('parallelSlotOf', () => {
  it('puts a key in the same slot every time, and spreads keys over every slot', () => {
    const keys = Array.from({ length: 100 }, (_, i) => `dm:user-${i}:user-${i + 1}`);
    const slots = keys.map((key) => parallelSlotOf(key, 10));

    expect(keys.map((key) => parallelSlotOf(key, 10))).toEqual(slots);
    expect(new Set(slots)).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    expect(keys.every((key) => parallelSlotOf(key, 1) === 0)).toBe(true);
  });
});

describe('filterFromPatterns', () => {
  const chatTypes = filterFromPatterns([{ data: { type: ['message', 'receipt'] } }]);

  it('matches a field whose value is exactly one of the listed strings', () => {
    expect(chatTypes({ type: 'message', body: 'hi' })).toBe(true);
    expect(chatTypes({ type: 'receipt' })).toBe(true);
    expect(chatTypes({ type: 'typing' })).toBe(false);
    // Exact, character by character: no case folding, no trimming, no type coercion.
    expect(chatTypes({ type: 'Message' })).toBe(false);
    expect(chatTypes({ type: 'message ' })).toBe(false);
    expect(chatTypes({ type: ['typing', 'receipt'] })).toBe(true);
    expect(chatTypes({ type: ['typing'] })).toBe(false);
  });

  it('needs every named field, ignores the others, and never matches data that is not an object', () => {
    expect(chatTypes({ kind: 'message' })).toBe(false);
    expect(chatTypes({ type: null })).toBe(false);
    expect(chatTypes({ type: { name: 'message' } })).toBe(false);
    for (const data of ['message', 1, null, true, ['message'], [{ type: 'message' }]]) {
      expect(chatTypes(data)).toBe(false);
    }
    const both = filterFromPatterns([{ data: { type: ['presence'], online: [true] } }]);
    expect(both({ type: 'presence', online: true, userId: 'u1' })).toBe(true);
    expect(both({ type: 'presence', online: false })).toBe(false);
    expect(both({ type: 'presence' })).toBe(false);
  });

  it('matches nested fields', () => {
    const nested = filterFromPatterns([{ data: { event: { type: ['message'] } } }]);
    expect(nested({ event: { type: 'message', seq: 3 } })).toBe(true);
    expect(nested({ event: { type: 'receipt' } })).toBe(false);
    expect(nested({ event: 'message' })).toBe(false);
    expect(nested({ type: 'message' })).toBe(false);
  });

  it('matches when any of the patterns matches', () => {
    const either = filterFromPatterns([
      { data: { type: ['message'] } },
      { data: { event: { type: ['receipt'] } } },
    ]);
    expect(either({ type: 'message' })).toBe(true);
    expect(either({ event: { type: 'receipt' } })).toBe(true);
    expect(either({ type: 'receipt' })).toBe(false);
  });

  it('refuses what it does not emulate rather than match differently from Lambda', () => {
    const refused: Array<Array<Record<string, unknown>>> = [
      [],
      [{ type: ['message'] }],
      [{ partitionKey: ['k'], data: { type: ['message'] } }],
      [{ data: {} }],
      [{ data: { type: [] } }],
      [{ data: { type: 'message' } }],
      [{ data: { seq: [1] } }],
      [{ data: { type: [{ prefix: 'mess' }] } }],
      [{ data: { type: [{ 'anything-but': ['typing'] }] } }],
    ];
    for (const patterns of refused) {
      expect(() => filterFromPatterns(patterns), JSON.stringify(patterns)).toThrow();
    }
  });
});
