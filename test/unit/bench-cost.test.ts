import { Logger } from '@aws-lambda-powertools/logger';
import { describe, expect, it } from 'vitest';
import type { PerMessage } from '../../bench/analysis.js';
import { type CostEstimate, estimateCost } from '../../bench/cost.js';
import {
  CAPACITY_ASSUMPTIONS,
  type CostAssumptions,
  keepAlivesPerHour,
} from '../../bench/cost-assumptions.js';
import { allInLine, costTable, provisionedLine } from '../../bench/cost-table.js';
import { addRequestUnits, type TableUnits } from '../../bench/dynamodb-units.js';
import {
  countingLogger,
  countingMetrics,
  emfLines,
  type InvocationOutput,
} from '../../bench/invocation-output.js';
import { blendedPrice, PRICES, tierReached, type VolumeTiers } from '../../bench/prices.js';
import { renderText } from '../../bench/report.js';
import type { BenchResults } from '../../bench/results-model.js';
import { readSettings } from '../../bench/settings.js';
import { InMemoryMetrics } from '../../lambdas/adapters/in-memory-metrics.js';

const GB = 1024 ** 3;

/** Round numbers, so that every line below can be worked out by hand. */
const PER_MESSAGE: PerMessage = {
  dynamodb: {
    conversations: {
      read: 2,
      write: 4,
      reportedRead: 2,
      reportedWrite: 2,
      requests: 2,
      itemsRead: 1,
      keptBytes: 1024,
      expiringBytes: 0,
    },
  },
  kinesisRecords: 2,
  kinesisBytes: 1024,
  kinesisBilledKb: 2,
  posts: 4,
  postBytes: 4000,
  framesIn: 1,
  routeResponses: 1,
  routeResponseBytes: 100,
  logLines: 1,
  logBytes: 1000,
  metricLines: 0.5,
  metricBytes: 500,
  invocations: { send: 1, fanout: 0.5 },
  durationMs: { send: 3, fanout: 9 },
  cpuMs: { stack: 1, 'dynamodb-local': 1, 'kinesis-mock': 1, 'load-generator': 1 },
};

const ASSUMPTIONS: CostAssumptions = {
  connectionMinutesPerMessage: 10,
  keepAlivesPerMessage: 2,
  pongsPerMessage: 1,
  reconnectsPerMessage: 1,
  reconnect: { functions: ['connect'], writeUnits: 2, readUnits: 2 },
  warmDurationMs: {},
  otherDurationMs: 100,
  storageMonths: 12,
  logRetentionMonths: 1,
  streams: 1,
  messagesPerDay: 24e6,
  shardsPerStream: 2,
  frameOverheadBytes: 0,
  // INFO: each invocation's START and REPORT records are priced. A month of 24 × 10⁶ messages
  // a day reaches no volume tier.
  lambdaSystemLogLevel: 'INFO',
  billing: { payerAccounts: 1, regions: 1, daysPerMonth: 30 },
};

const lineOf = (cost: CostEstimate, item: string) => {
  const line = cost.lines.find((candidate) => candidate.item.startsWith(item));
  if (!line) throw new Error(`no line ${item}: ${cost.lines.map((l) => l.item).join(', ')}`);
  return line.usdPerMillion;
};

describe('the cost model', () => {
  it('prices a hand-computed case line by line, and the total is their sum', () => {
    const cost = estimateCost(PER_MESSAGE, { assumptions: ASSUMPTIONS });

    // API Gateway: $1 a million messages; $0.25 a million minutes; $0.09 a GB out.
    expect(lineOf(cost, 'frames in')).toBeCloseTo(1);
    expect(lineOf(cost, 'route responses')).toBeCloseTo(1);
    expect(lineOf(cost, '@connections posts')).toBeCloseTo(4);
    // Two keep-alive frames in, one of them a ping answered by a pong.
    expect(lineOf(cost, 'keep-alive: keepalive or ping + pong')).toBeCloseTo(3);
    expect(lineOf(cost, 'connection-minutes')).toBeCloseTo(2.5);
    // 4,000 + 100 bytes of frames, and one 38-byte pong.
    expect(lineOf(cost, 'data transfer out')).toBeCloseTo((4138 / GB) * 0.09e6, 6);
    // Lambda: $0.20 a million requests + 0.1 s × GB × $0.0000133334.
    expect(lineOf(cost, 'send:')).toBeCloseTo(0.2 + 0.1 * 1 * 13.3334, 4);
    expect(lineOf(cost, 'fanout:')).toBeCloseTo(0.5 * (0.2 + 0.1 * 1 * 13.3334), 4);
    // API Gateway serves the keep-alives itself: no Lambda line for them.
    expect(cost.lines.some((line) => line.item.startsWith('keep-alive: ping ×'))).toBe(false);
    expect(lineOf(cost, 'reconnects: connect')).toBeCloseTo(0.2 + 0.1 * 0.25 * 13.3334, 4);
    // DynamoDB: $0.625 a million WRU, $0.125 RRU, $0.25 and $0.20 a GB-month.
    expect(lineOf(cost, 'conversations writes')).toBeCloseTo(2.5);
    expect(lineOf(cost, 'conversations reads')).toBeCloseTo(0.25);
    expect(lineOf(cost, 'reconnects: 2 WRU')).toBeCloseTo(1.5);
    expect(lineOf(cost, 'storage of new items')).toBeCloseTo(((1024 * 12) / GB) * 0.25e6, 6);
    expect(lineOf(cost, 'point-in-time recovery')).toBeCloseTo(((1024 * 12) / GB) * 0.2e6, 6);
    // Kinesis: one stream-hour a million messages at $0.04; 2 KB in at $0.08 a GB; 1 KB read by each consumer.
    expect(lineOf(cost, 'stream-hours')).toBeCloseTo(0.04);
    // One enhanced fan-out consumer on 2 shards of that stream, at $0.015 a consumer-shard-hour.
    expect(lineOf(cost, 'enhanced fan-out consumer-shard-hours')).toBeCloseTo(0.03);
    expect(lineOf(cost, 'data in')).toBeCloseTo((2048 / GB) * 0.08e6, 6);
    expect(lineOf(cost, 'fanout reads every record')).toBeCloseTo((1024 / GB) * 0.05e6, 6);
    expect(lineOf(cost, 'presence-notifier reads every record')).toBeCloseTo((1024 / GB) * 0.04e6, 6);
    // Logs: 2.5 invocations (1.5 measured, 1 connect) × 378 bytes of START and REPORT,
    // 5 access lines (1 frame, 2 keep-alives, connect and disconnect) × 277 bytes, at $0.50 a GB.
    expect(lineOf(cost, 'Lambda START and REPORT')).toBeCloseTo(((2.5 * 378) / GB) * 0.5e6, 6);
    expect(lineOf(cost, 'handler log lines')).toBeCloseTo((1000 / GB) * 0.5e6, 6);
    expect(lineOf(cost, 'EMF metric lines')).toBeCloseTo((500 / GB) * 0.5e6, 6);
    expect(lineOf(cost, 'API Gateway access log lines')).toBeCloseTo(((5 * 277) / GB) * 0.5e6, 6);
    const logged = 2.5 * 378 + 1000 + 500 + 5 * 277;
    expect(lineOf(cost, 'storage of those lines')).toBeCloseTo((logged / GB) * 0.03e6, 6);

    const sum = cost.lines.reduce((total, line) => total + line.usdPerMillion, 0);
    expect(cost.usdPerMillion).toBeCloseTo(sum, 9);
    // API Gateway 11.50 + 0.35, Lambda 2.83, DynamoDB 9.40, Kinesis 0.35 (three consumers read), logs 1.89.
    expect(cost.usdPerMillion).toBeCloseTo(26.32, 2);
    expect(Object.values(cost.byService).reduce((total, value) => total + value, 0)).toBeCloseTo(sum, 9);
  });

  it('prices the message path alone without the connections, keep-alives, reconnects and stream-hours', () => {
    const cost = estimateCost(PER_MESSAGE, { allIn: false, assumptions: ASSUMPTIONS });

    expect(cost.allIn).toBe(false);
    expect(cost.lines.some((line) => line.basis === 'assumed')).toBe(false);
    expect(cost.lines.map((line) => line.item)).not.toContain('connection-minutes');
    expect(lineOf(cost, 'send:')).toBeCloseTo(0.2 + 0.1 * 13.3334, 4);
  });

  it('bills each record as at least 1 KB when the run did not count billed KB', () => {
    const { kinesisBilledKb: _billed, ...older } = PER_MESSAGE;
    const cost = estimateCost({ ...older, kinesisBytes: 300 }, { assumptions: ASSUMPTIONS });

    expect(lineOf(cost, 'data in')).toBeCloseTo((2048 / GB) * 0.08e6, 6);
  });

  it('ends the printed table with the all-in line, and says so when the cost is the message path only', () => {
    const results = {
      cost: estimateCost(PER_MESSAGE, { assumptions: ASSUMPTIONS }),
      costRate: 50,
      costPhase: { rate: 50, seconds: 10, messages: 500, acks: true },
    } as BenchResults;
    const table = costTable(results);
    if (!table) throw new Error('no table');
    const text = renderText(table).split('\n');

    expect(text.at(-2)).toBe(`all-in cost per million messages: $${results.cost?.usdPerMillion.toFixed(2)}`);
    expect(allInLine(results.cost as CostEstimate)).toMatch(
      /^all-in cost per million messages: \$\d+\.\d\d$/,
    );
    expect(text.at(-1)).toMatch(/^with provisioned capacity at 70 %: \$\d+\.\d\d$/);
    const pathOnly = costTable({ ...results, cost: estimateCost(PER_MESSAGE, { allIn: false }) });
    expect(pathOnly?.footer?.[0]).toMatch(/^message path only/);
  });
});

describe('the keep-alives of section 1', () => {
  const burstsPerHour = 80 / 24;

  it('sends 6.0 keep-alives an hour, one in every 8 minutes of each silence, and gets 2.33 pongs, one in every 16', () => {
    expect(keepAlivesPerHour(burstsPerHour, 8 / 60)).toBeCloseTo(6.0, 1);
    expect(keepAlivesPerHour(burstsPerHour, 16 / 60)).toBeCloseTo(2.33, 2);
  });

  it('counts 7.2 keep-alive frames and 2.8 pongs a message: $10.00 a million messages', () => {
    const { keepAlivesPerMessage, pongsPerMessage } = CAPACITY_ASSUMPTIONS;

    expect(keepAlivesPerMessage).toBeCloseTo(7.2, 1);
    expect(pongsPerMessage).toBeCloseTo(2.8, 1);
    expect((keepAlivesPerMessage + pongsPerMessage) * PRICES.apiGatewayMessage.usd * 1e6).toBeCloseTo(
      10.0,
      1,
    );
  });

  it('counts a burst-free hour as 7.5 keep-alives and 3.75 pongs, the limit of no traffic', () => {
    expect(keepAlivesPerHour(1e-9, 8 / 60)).toBeCloseTo(7.5, 4);
    expect(keepAlivesPerHour(1e-9, 16 / 60)).toBeCloseTo(3.75, 4);
  });
});

describe('Lambda’s own log records', () => {
  it('prices no START and REPORT record at WARN, and takes their bytes out of the stored lines too', () => {
    const info = estimateCost(PER_MESSAGE, { assumptions: ASSUMPTIONS });
    const warn = estimateCost(PER_MESSAGE, { assumptions: { ...ASSUMPTIONS, lambdaSystemLogLevel: 'WARN' } });

    expect(warn.lines.some((line) => line.item.startsWith('Lambda START and REPORT'))).toBe(false);
    expect(info.usdPerMillion - warn.usdPerMillion).toBeCloseTo(((2.5 * 378) / GB) * (0.5e6 + 0.03e6), 6);
    expect(warn.lambdaSystemLogLevel).toBe('WARN');
    expect(lineOf(warn, 'handler log lines')).toBeCloseTo(lineOf(info, 'handler log lines'), 9);
  });
});

describe('volume tiers', () => {
  const lambda = PRICES.lambdaGbSecond.tiers as VolumeTiers;
  const list = PRICES.lambdaGbSecond.usd;

  it('blends a month’s units over the bands they fall in', () => {
    expect(blendedPrice(lambda, 1e9)).toBeCloseTo(list, 15);
    // 7.5 billion at the list price, 7.5 billion 10 % off.
    expect(blendedPrice(lambda, 15e9)).toBeCloseTo(list * 0.95, 15);
    // 7.5 at the list price, 11.25 at 90 %, 11.25 at 80 %, of 30 billion.
    expect(blendedPrice(lambda, 30e9)).toBeCloseTo((list * (7.5 + 11.25 * 0.9 + 11.25 * 0.8)) / 30, 15);
    expect([1e9, 7.5e9, 15e9, 30e9].map((volume) => tierReached(lambda, volume))).toEqual([1, 1, 2, 3]);
  });

  it('prices Lambda’s GB-seconds at the blended price of section 1’s month, counted per Region', () => {
    // 0.175 GB-seconds a message (0.1 s at 1 GB for the send and half a fanout, 0.1 s at
    // 0.25 GB for the reconnect's connect), 10⁹ messages a day for 30 days over 2 Regions:
    // 2.6 × 10⁹ a Region, the first band; a hundred times that reaches the third.
    const gbSeconds = 1.5 * 0.1 + 0.1 * 0.25;
    const assumptions = {
      ...ASSUMPTIONS,
      messagesPerDay: 1e9,
      billing: { payerAccounts: 1, regions: 2, daysPerMonth: 30 },
    };
    const volume = (gbSeconds * 1e9 * 30) / 2;
    const cost = estimateCost(PER_MESSAGE, { assumptions });
    const lambdaTier = cost.tiers?.find((tier) => tier.price === 'lambdaGbSecond');

    expect(lambdaTier).toMatchObject({ monthlyVolume: volume, tier: 1, applied: true });
    const atScale = { ...assumptions, messagesPerDay: 1e11 };
    const scaled = estimateCost(PER_MESSAGE, { assumptions: atScale });
    const blended = blendedPrice(lambda, volume * 100);
    expect(scaled.tiers?.find((tier) => tier.price === 'lambdaGbSecond')).toMatchObject({ tier: 3 });
    expect(lineOf(scaled, 'send:')).toBeCloseTo(0.2 + 0.1 * blended * 1e6, 6);
    expect(lineOf(scaled, 'send:')).toBeLessThan(lineOf(cost, 'send:'));
  });

  it('leaves the tiers no AWS page confirmed at the first band, and says which it left', () => {
    const cost = estimateCost(PER_MESSAGE, { assumptions: { ...ASSUMPTIONS, messagesPerDay: 1e11 } });
    const apiGateway = cost.tiers?.find((tier) => tier.price === 'apiGatewayMessage');

    // 9 WebSocket messages a message (frame in, answer, 4 posts, 2 keep-alives, 1 pong):
    // 3 × 10¹³ a month, far past the billion of the first band, which is priced all the same.
    expect(apiGateway).toMatchObject({ tier: 2, applied: false, usdPerUnit: 1e-6 });
    expect(lineOf(cost, 'frames in')).toBeCloseTo(1);
    expect(cost.tiers?.filter((tier) => !tier.applied).map((tier) => tier.price)).toEqual([
      'apiGatewayMessage',
      'dataTransferOutGb',
      'logsIngestionGb',
    ]);
  });

  it('prices the message path alone at the first band', () => {
    const cost = estimateCost(PER_MESSAGE, {
      allIn: false,
      assumptions: { ...ASSUMPTIONS, messagesPerDay: 1e11 },
    });

    expect(cost.tiers).toBeUndefined();
    expect(lineOf(cost, 'send:')).toBeCloseTo(0.2 + 0.1 * 13.3334, 4);
  });
});

describe('DynamoDB priced as provisioned capacity', () => {
  const atHalf = estimateCost(PER_MESSAGE, {
    assumptions: ASSUMPTIONS,
    dynamodbCapacity: { mode: 'provisioned', targetUtilizationPercent: 50 },
  });
  const onDemand = estimateCost(PER_MESSAGE, { assumptions: ASSUMPTIONS });

  it('prices each unit as the unit-hours kept at the target: units ÷ 3,600 ÷ target × price an hour', () => {
    // At 50 %, a unit used a second keeps 2 provisioned: $0.00065 × 2 / 3,600 a write unit,
    // $0.00013 × 2 / 3,600 a read unit.
    const write = (0.00065 * 2) / 3600;
    const read = (0.00013 * 2) / 3600;

    expect(lineOf(atHalf, 'conversations writes')).toBeCloseTo(4 * write * 1e6, 6);
    expect(lineOf(atHalf, 'conversations reads')).toBeCloseTo(2 * read * 1e6, 6);
    expect(lineOf(atHalf, 'reconnects: 2 WCU + 2 RCU')).toBeCloseTo((2 * write + 2 * read) * 1e6, 6);
  });

  it('changes only the lines of DynamoDB units: storage, recovery and the other services stay', () => {
    const unitLine = /writes|reads|reconnects: \d/;
    const others = (cost: CostEstimate) =>
      cost.lines.filter((line) => line.service !== 'DynamoDB' || !unitLine.test(line.item));

    expect(others(atHalf)).toEqual(others(onDemand));
    expect(atHalf.byService.DynamoDB).toBeLessThan(onDemand.byService.DynamoDB);
  });

  it('prices the DynamoDB reads and writes of a push by the mode too', () => {
    const push = {
      offlineDevicesPerMessage: 1,
      coalescedShare: 0,
      mobileShare: 1,
      webPushBytes: 0,
      waitPerPushMs: 0,
    };
    const withPush = { ...ASSUMPTIONS, push };
    const pushOf = (cost: CostEstimate) => lineOf(cost, 'push (offline devices)');

    const difference =
      pushOf(estimateCost(PER_MESSAGE, { assumptions: withPush })) -
      pushOf(
        estimateCost(PER_MESSAGE, {
          assumptions: withPush,
          dynamodbCapacity: { mode: 'provisioned', targetUtilizationPercent: 50 },
        }),
      );

    // 1 write and 1 read unit a device sent to (the window's put, the query, the watermark).
    const write = 0.625e-6 - (0.00065 * 2) / 3600;
    const read = 0.125e-6 - (0.00013 * 2) / 3600;
    expect(difference).toBeCloseTo((write + read) * 1e6, 6);
  });

  it('gives an on-demand estimate its provisioned alternative at 70 %, and a provisioned one none', () => {
    const at70 = estimateCost(PER_MESSAGE, {
      assumptions: ASSUMPTIONS,
      dynamodbCapacity: { mode: 'provisioned', targetUtilizationPercent: 70 },
    });

    expect(onDemand.provisionedAlternative).toEqual({
      targetUtilizationPercent: 70,
      usdPerMillion: at70.usdPerMillion,
    });
    expect(at70.provisionedAlternative).toBeUndefined();
    expect(provisionedLine(at70)).toBeUndefined();
  });

  it('says in the table which mode it priced, and ends with the all-in line when provisioned', () => {
    const results = { cost: atHalf, costRate: 50 } as BenchResults;
    const table = costTable(results);
    if (!table) throw new Error('no table');
    const text = renderText(table).split('\n');

    expect(table.title).toContain('DynamoDB provisioned at 50 % utilisation');
    expect(costTable({ ...results, cost: onDemand })?.title).toContain('DynamoDB on demand');
    expect(text.at(-1)).toBe(`all-in cost per million messages: $${atHalf.usdPerMillion.toFixed(2)}`);
  });

  it('reads the mode and target from BENCH_DYNAMODB_CAPACITY and BENCH_DYNAMODB_TARGET', () => {
    expect(readSettings({}).dynamodbCapacity).toEqual({ mode: 'on-demand' });
    expect(readSettings({ BENCH_DYNAMODB_CAPACITY: 'provisioned' }).dynamodbCapacity).toEqual({
      mode: 'provisioned',
      targetUtilizationPercent: 70,
    });
    expect(
      readSettings({ BENCH_DYNAMODB_CAPACITY: 'provisioned', BENCH_DYNAMODB_TARGET: '85' }).dynamodbCapacity,
    ).toEqual({ mode: 'provisioned', targetUtilizationPercent: 85 });
    expect(() => readSettings({ BENCH_DYNAMODB_CAPACITY: 'reserved' })).toThrow(/^BENCH_DYNAMODB_CAPACITY/);
    expect(() => readSettings({ BENCH_DYNAMODB_TARGET: '95' })).toThrow(
      /^BENCH_DYNAMODB_TARGET: must be 20 to 90/,
    );
    expect(() => readSettings({ BENCH_DYNAMODB_TARGET: '10' })).toThrow(/^BENCH_DYNAMODB_TARGET/);
  });
});

describe('stored bytes per table', () => {
  const tableOf = (byTable: Map<string, TableUnits>, name: string) => byTable.get(name) as TableUnits;
  const ttlAttributeOf = (table: string) => (table === 'ttl-table' ? 'expiresAt' : undefined);

  it('counts each item put with its 100 bytes of overhead, apart when it has the table’s time-to-live', () => {
    const byTable = new Map<string, TableUnits>();
    const input = {
      TransactItems: [
        { Put: { TableName: 'kept-table', Item: { pk: 'ab', n: 5 } } },
        { Put: { TableName: 'ttl-table', Item: { pk: 'ab', expiresAt: 5 } } },
        { Update: { TableName: 'kept-table', Key: { pk: 'cd' } } },
      ],
    };

    addRequestUnits(byTable, 'TransactWriteItems', input, [], 0, { ttlAttributeOf });

    // pk (2 + 2) and n (1 + 2): 7 bytes; pk (4) and expiresAt (9 + 2): 15 bytes.
    expect(tableOf(byTable, 'kept-table').keptBytes).toBe(107);
    expect(tableOf(byTable, 'ttl-table').expiringBytes).toBe(115);
    expect(tableOf(byTable, 'ttl-table').keptBytes).toBe(0);
  });

  it('counts no stored bytes for a request that failed', () => {
    const byTable = new Map<string, TableUnits>();

    addRequestUnits(byTable, 'PutItem', { TableName: 'kept-table', Item: { pk: 'ab' } }, [], 0);

    expect(tableOf(byTable, 'kept-table').keptBytes).toBe(0);
  });
});

describe('what an invocation would log', () => {
  it('counts the lines written at INFO and up, not DEBUG, and still logs them', () => {
    const output: InvocationOutput = { logLines: 0, logBytes: 0, metrics: [] };
    const logger = new Logger({ serviceName: 'parley-test', logLevel: 'SILENT' });
    const counting = countingLogger(logger, 'parley-test', () => output);

    counting.debug('detail', { seq: 1 });
    counting.info('sent', { conversationId: 'dm:a:b', seq: 1 });
    counting.warn('delivery failed', { error: new Error('boom') });

    expect(output.logLines).toBe(2);
    expect(output.logBytes).toBeGreaterThan(2 * 150);
    expect(counting).toBeInstanceOf(Logger);
  });

  it('counts nothing outside an invocation', () => {
    const counting = countingLogger(new Logger({ logLevel: 'SILENT' }), 'parley-test', () => undefined);

    expect(() => counting.info('gateway started')).not.toThrow();
  });

  it('notes every metric value and still records it; an EMF line grows with its values', () => {
    const output: InvocationOutput = { logLines: 0, logBytes: 0, metrics: [] };
    const metrics = new InMemoryMetrics();
    const counting = countingMetrics(metrics, () => output);

    counting.record('EventsDelivered', 1);
    counting.record('DeliveryLatency', 42);

    expect(output.metrics).toEqual([
      ['EventsDelivered', 1],
      ['DeliveryLatency', 42],
    ]);
    expect(metrics.values('DeliveryLatency')).toEqual([42]);
    expect(counting).toBeInstanceOf(InMemoryMetrics);
    expect(emfLines([], 'parley-prod')).toEqual({ lines: 0, bytes: 0 });
    const one = emfLines(output.metrics, 'parley-prod');
    expect(one.lines).toBe(1);
    expect(one.bytes).toBeGreaterThan(100);
    const more = emfLines([...output.metrics, ['DeliveryLatency', 43]], 'parley-prod');
    expect(more.lines).toBe(1);
    expect(more.bytes).toBeGreaterThan(one.bytes);
  });

  it('writes a metric’s values over several EMF lines past 99 of them, as Powertools does at 100', () => {
    const values = Array.from({ length: 150 }, (_, i): ['EventsDelivered', number] => ['EventsDelivered', i]);

    expect(emfLines(values, 'parley-prod').lines).toBe(2);
  });
});
