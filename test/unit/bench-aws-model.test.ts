/** The model of AWS of `npm run bench -- --aws-model`: the fitted distributions, the hop delays and the options. */
import { describe, expect, it } from 'vitest';
import { AWS_HOPS, createAwsModel, sampleCriticalPath } from '../../bench/aws-hops.js';
import { modelUsers } from '../../bench/aws-model-run.js';
import { fitLogNormal, sampleLogNormal } from '../../bench/log-normal.js';
import { seededRandom } from '../../bench/seeded-random.js';
import { readMode, readSettings } from '../../bench/settings.js';
import { distribution, percentile } from '../../bench/stats.js';

/** 100,000 draws, sorted. */
function draws(p50: number, p99: number, seed: number): number[] {
  const distribution = fitLogNormal(p50, p99);
  const random = seededRandom(seed);
  return Array.from({ length: 100_000 }, () => sampleLogNormal(distribution, random)).sort((a, b) => a - b);
}

describe('a log-normal fitted to a p50 and a p99', () => {
  it.each([
    [49, 109],
    [4, 10],
    [250, 800],
  ])('reproduces p50 %d ms and p99 %d ms within sampling error on a seeded source', (p50, p99) => {
    // act
    const sorted = draws(p50, p99, 7);

    // assess: at 100,000 draws the sample p50 is within 1% and the sample p99 within 3%
    expect(percentile(sorted, 50)).toBeGreaterThan(p50 * 0.99);
    expect(percentile(sorted, 50)).toBeLessThan(p50 * 1.01);
    expect(percentile(sorted, 99)).toBeGreaterThan(p99 * 0.97);
    expect(percentile(sorted, 99)).toBeLessThan(p99 * 1.03);
    expect(sorted[0]).toBeGreaterThan(0);
  });

  it('draws the same samples from the same seed, and others from another', () => {
    const firstFive = (seed: number) => {
      const distribution = fitLogNormal(49, 109);
      const random = seededRandom(seed);
      return Array.from({ length: 5 }, () => sampleLogNormal(distribution, random));
    };
    expect(firstFive(3)).toEqual(firstFive(3));
    expect(firstFive(3)).not.toEqual(firstFive(4));
  });

  it('is a constant when p99 equals p50', () => {
    const distribution = fitLogNormal(20, 20);
    expect(sampleLogNormal(distribution, seededRandom(1))).toBeCloseTo(20, 9);
  });

  it.each([
    [0, 10],
    [-1, 10],
    [10, 5],
    [10, Number.POSITIVE_INFINITY],
    [Number.NaN, 10],
  ])('refuses p50 %d and p99 %d', (p50, p99) => {
    expect(() => fitLogNormal(p50, p99)).toThrow(RangeError);
  });
});

describe('the model of AWS', () => {
  it('names a source or says unverified for every hop, with p50 ≤ p99', () => {
    for (const hop of AWS_HOPS) {
      expect(hop.source).toMatch(/^(L\d+|unverified)/);
      expect(hop.p50).toBeLessThanOrEqual(hop.p99);
    }
  });

  it('delays DynamoDB and Kinesis calls by their operation, and adds nothing for calls it has no figure for', () => {
    // prepare
    const { hopDelays, counts } = createAwsModel(1, 0);

    // act
    const delays = {
      getItem: hopDelays.dynamodb('GetItem'),
      transaction: hopDelays.dynamodb('TransactWriteItems'),
      createTable: hopDelays.dynamodb('CreateTable'),
      put: hopDelays.kinesis('PutRecord'),
      getRecords: hopDelays.kinesis('GetRecords'),
    };

    // assess
    expect(delays.getItem).toBeGreaterThan(0);
    expect(delays.transaction).toBeGreaterThan(0);
    expect(delays.put).toBeGreaterThan(0);
    expect(delays.createTable).toBe(0);
    expect(delays.getRecords).toBe(0);
    expect(counts()).toMatchObject({ dynamodbRead: 1, dynamodbTransaction: 1, kinesisPut: 1, coldStarts: 0 });
  });

  it('draws the same delays for a hop from the same seed, whatever the other hops drew', () => {
    // prepare
    const quiet = createAwsModel(5, 0).hopDelays;
    const busy = createAwsModel(5, 0).hopDelays;

    // act
    const alone = [quiet.postToConnection(), quiet.postToConnection()];
    busy.dynamodb('Query');
    busy.clientToGateway();
    const interleaved = [busy.postToConnection(), busy.postToConnection()];

    // assess
    expect(interleaved).toEqual(alone);
  });

  it('counts the calls a local engine answered slower than the model, by hop', () => {
    // prepare
    const model = createAwsModel(1, 0);

    // act
    model.hopDelays.observeEngine?.('dynamodb', 'Query', 30, 4);
    model.hopDelays.observeEngine?.('dynamodb', 'Query', 2, 4);
    model.hopDelays.observeEngine?.('kinesis', 'PutRecord', 50, 15);
    model.hopDelays.observeEngine?.('kinesis', 'GetRecords', 50, 0);

    // assess
    expect(model.engineSlower()).toEqual({ dynamodbRead: 1, kinesisPut: 1 });
  });

  it('draws the critical paths reproducibly, the fast path shorter than the stream path by about the stream hop', () => {
    // act
    const stream = distribution(sampleCriticalPath('stream', 1, 20_000, 0));
    const fast = distribution(sampleCriticalPath('fast', 1, 20_000, 0));

    // assess: the stream path adds the put (p50 15), the push (p50 66) and the consumer's invoke (p50 8)
    expect(sampleCriticalPath('fast', 9, 3, 0)).toEqual(sampleCriticalPath('fast', 9, 3, 0));
    expect(stream.p50 - fast.p50).toBeGreaterThan(80);
    expect(stream.p50 - fast.p50).toBeLessThan(110);
    expect(fast.p99).toBeLessThan(stream.p99);
  });

  it('adds a cold start to every invoke at a rate of 1 and to none at a rate of 0', () => {
    // prepare
    const always = createAwsModel(2, 1);
    const never = createAwsModel(2, 0);

    // act
    for (let i = 0; i < 10; i++) {
      always.hopDelays.invoke('send');
      always.hopDelays.streamToConsumer();
      never.hopDelays.invoke('send');
    }

    // assess
    // the stream consumer's invoke is drawn with the push: 10 route invokes and 10 consumer invokes
    expect(always.counts()).toMatchObject({ coldStarts: 20, coldStart: 20, invokeWarm: 20 });
    expect(never.counts()).toMatchObject({ coldStarts: 0, coldStart: 0, invokeWarm: 10 });
  });
});

describe('the options of npm run bench', () => {
  it('reads the mode from the arguments, the full run by default', () => {
    expect(readMode([])).toBe('full');
    expect(readMode(['--aws-model'])).toBe('aws-model');
    expect(readMode(['--groups'])).toBe('groups');
    expect(readMode(['--render'])).toBe('render');
    expect(readMode(['--aws-model', '--help'])).toBe('help');
  });

  it('refuses an option it does not know, naming it', () => {
    expect(() => readMode(['--aws'])).toThrow(/unknown option --aws/);
  });

  it('reads the delivery paths, the cold start rate and the model rate, with defaults', () => {
    // act
    const defaults = readSettings({});
    const set = readSettings({
      BENCH_PATHS: 'fast, stream',
      BENCH_COLD_START_RATE: '0.002',
      BENCH_MODEL_RATE: '10',
    });

    // assess
    expect(defaults).toMatchObject({ paths: ['stream', 'fast'], coldStartRate: 0.01, modelRate: 20 });
    expect(set).toMatchObject({ paths: ['stream', 'fast'], coldStartRate: 0.002, modelRate: 10 });
  });

  it.each([
    [{ BENCH_PATHS: 'stream,slow' }, /BENCH_PATHS: .*"slow"/],
    [{ BENCH_COLD_START_RATE: '1.5' }, /BENCH_COLD_START_RATE: must be a share from 0 to 1/],
    [{ BENCH_COLD_START_RATE: '-0.1' }, /BENCH_COLD_START_RATE/],
    [{ BENCH_MODEL_RATE: '0' }, /BENCH_MODEL_RATE/],
  ])('refuses %o', (environment, message) => {
    expect(() => readSettings(environment)).toThrow(message);
  });

  it('runs the model over fewer conversations in proportion to its lower rate', () => {
    expect(modelUsers({ users: 100, targetRate: 100, modelRate: 20 })).toBe(20);
    expect(modelUsers({ users: 100, targetRate: 100, modelRate: 100 })).toBe(100);
    expect(modelUsers({ users: 4, targetRate: 100, modelRate: 1 })).toBe(2);
  });
});
