import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { analyzeServer } from '../../bench/analysis.js';
import { estimateCost } from '../../bench/cost.js';
import { CAPACITY_ASSUMPTIONS } from '../../bench/cost-assumptions.js';
import { addRequestUnits, type TableUnits } from '../../bench/dynamodb-units.js';
import { type DynamoDbRequest, type PhaseRecord, Probes } from '../../bench/probes.js';
import { InMemoryMetrics } from '../../lambdas/adapters/in-memory-metrics.js';
import type { ParleyDeps } from '../../lambdas/runtime.js';

const unitsOf = (byTable: Map<string, TableUnits>, table: string) => byTable.get(table) as TableUnits;

describe('reads that find nothing, as AWS bills them', () => {
  it('bills each key of a BatchGetItem that found nothing a full unit when strongly consistent', () => {
    const byTable = new Map<string, TableUnits>();
    const input = { RequestItems: { lists: { Keys: [{ k: 'a' }, { k: 'b' }], ConsistentRead: true } } };

    // DynamoDB Local reports nothing for the two block items that are not there.
    addRequestUnits(
      byTable,
      'BatchGetItem',
      input,
      [{ TableName: 'lists', CapacityUnits: 0 }],
      0,
      undefined,
      {
        lists: 0,
      },
    );

    expect(unitsOf(byTable, 'lists')).toMatchObject({ read: 2, reportedRead: 0, requests: 1 });
  });

  it('adds the minimum only for the keys not found, and half a unit when eventually consistent', () => {
    const byTable = new Map<string, TableUnits>();
    const input = { RequestItems: { lists: { Keys: [{ k: 'a' }, { k: 'b' }, { k: 'c' }] } } };

    addRequestUnits(
      byTable,
      'BatchGetItem',
      input,
      [{ TableName: 'lists', CapacityUnits: 0.5 }],
      1,
      undefined,
      {
        lists: 1,
      },
    );

    expect(unitsOf(byTable, 'lists').read).toBe(1.5);
  });

  it('bills a Query or GetItem that found nothing its minimum, and one that found items as reported', () => {
    const byTable = new Map<string, TableUnits>();

    addRequestUnits(byTable, 'Query', { TableName: 'devices', ConsistentRead: true }, [], 0);
    addRequestUnits(byTable, 'GetItem', { TableName: 'presence' }, [], 0);
    addRequestUnits(
      byTable,
      'Query',
      { TableName: 'connections' },
      [{ TableName: 'connections', CapacityUnits: 0.5 }],
      2,
    );

    expect(unitsOf(byTable, 'devices')).toMatchObject({ read: 1, reportedRead: 0 });
    expect(unitsOf(byTable, 'presence').read).toBe(0.5);
    expect(unitsOf(byTable, 'connections').read).toBe(0.5);
  });
});

const request = (
  functionId: DynamoDbRequest['functionId'],
  operation: string,
  input: Record<string, unknown>,
  reported: number,
  itemsRead = 0,
  foundByTable?: Record<string, number>,
): DynamoDbRequest => ({
  operation,
  input,
  consumed: [{ TableName: (input.TableName as string | undefined) ?? 'p-lists', CapacityUnits: reported }],
  itemsRead,
  ...(foundByTable ? { foundByTable } : {}),
  ...(functionId ? { functionId } : {}),
  start: 0,
  end: 1,
});

/** One message of a one-to-one conversation, its two acks, and the push-notifier's look for registrations. */
function phaseOfOneMessage(): PhaseRecord {
  const counter = { TableName: 'p-rate-limits', Key: { userId: 'u', window: 'send#0' } };
  const blocks = { RequestItems: { 'p-lists': { Keys: [{ k: 'a' }, { k: 'b' }], ConsistentRead: true } } };
  return {
    invocations: [
      {
        functionId: 'push-notifier',
        start: 0,
        end: 1,
        event: [],
        responded: false,
        responseBytes: 0,
        failed: false,
        output: { logLines: 0, logBytes: 0, metrics: [] },
      },
    ],
    lastSeq: [],
    stores: [],
    publishes: [{ event: { type: 'message', conversationId: 'dm:a:b' }, start: 0, end: 1 }],
    posts: [],
    connectionLookups: [],
    listUpdates: [],
    getRecords: [],
    dynamodb: [
      request('send', 'UpdateItem', counter, 1),
      request('send', 'BatchGetItem', blocks, 0, 0, { 'p-lists': 0 }),
      request('ack', 'UpdateItem', counter, 1),
      request('ack', 'UpdateItem', counter, 1),
      request('push-notifier', 'Query', { TableName: 'p-push-devices', ConsistentRead: true }, 0),
    ],
  };
}

const TABLE_IDS = new Map([
  ['p-rate-limits', 'rate-limits'],
  ['p-lists', 'user-conversations'],
  ['p-push-devices', 'push-devices'],
]);
const CPU = {
  ms: { stack: 0, 'dynamodb-local': 0, 'kinesis-mock': 0, 'load-generator': 0 },
  wallMs: 1,
  machine: undefined,
};

describe('the cost table counts every table the message path touches', () => {
  it('has a measured line for the rate counters, the block check and the push-notifier’s reads, naming who used them', () => {
    const { perMessage } = analyzeServer(phaseOfOneMessage(), 1, TABLE_IDS, CPU, 1);
    const cost = estimateCost(perMessage, { assumptions: CAPACITY_ASSUMPTIONS });
    const line = (start: string) => cost.lines.find((candidate) => candidate.item.startsWith(start));

    expect(line('rate-limits writes')).toMatchObject({
      item: 'rate-limits writes (per-user rate counters) by ack 2.00, send 1.00',
      perMessage: 3,
      basis: 'measured',
    });
    expect(line('rate-limits writes')?.usdPerMillion).toBeCloseTo(3 * 0.625, 9);
    expect(line('user-conversations reads')).toMatchObject({
      item: 'user-conversations reads (conversation lists, blocks) by send 2.00',
      perMessage: 2,
      basis: 'measured',
    });
    expect(line('push-devices reads')).toMatchObject({
      item: 'push-devices reads (push registrations and windows) by push-notifier 1.00',
      perMessage: 1,
      basis: 'measured',
    });
  });

  it('prices the push work for devices not connected once, apart from the measured reads', () => {
    const { perMessage } = analyzeServer(phaseOfOneMessage(), 1, TABLE_IDS, CPU, 1);
    const cost = estimateCost(perMessage, { assumptions: CAPACITY_ASSUMPTIONS });

    const pushLines = cost.lines.filter(({ item }) => item.includes('push'));
    expect(pushLines.map(({ item, basis }) => `${item}: ${basis}`)).toEqual([
      'push-notifier: requests × 20 ms × 512 MB: measured',
      'push-devices reads (push registrations and windows) by push-notifier 1.00: measured',
      'push-notifier reads every record (polling): measured',
      'push (offline devices): assumed',
    ]);
  });
});

describe('the probes wait for every stream consumer', () => {
  const deps = {
    config: { serviceName: 'parley-test' },
    logger: new Logger({ logLevel: 'SILENT' }),
    metrics: new InMemoryMetrics(),
    publisher: { publish: async () => {} },
  } as unknown as ParleyDeps;
  const records = (count: number) => ({ Records: Array.from({ length: count }, () => ({})) });
  const invoke = (probes: Probes, functionId: 'fanout' | 'push-notifier', event: unknown) =>
    probes.wrapFunction(functionId, async () => ({}))(event as never, {} as Context);

  it('is not caught up until the push-notifier too has been handed the messages published', async () => {
    const probes = new Probes();
    const publisher = probes.wrapDeps(deps).publisher;

    await publisher.publish({ type: 'message' } as never);
    await publisher.publish({ type: 'receipt' } as never);
    await invoke(probes, 'fanout', records(2));
    const afterFanout = probes.streamCaughtUp;
    await invoke(probes, 'push-notifier', records(1));

    expect(afterFanout).toBe(false);
    expect(probes.streamCaughtUp).toBe(true);
  });
});
