import { describe, expect, it } from 'vitest';
import type { PerMessage } from '../../bench/analysis.js';
import { estimateCost } from '../../bench/cost.js';
import { CAPACITY_ASSUMPTIONS } from '../../bench/cost-assumptions.js';
import { costTable } from '../../bench/cost-table.js';
import type { BenchResults } from '../../bench/results-model.js';

const GB = 1024 ** 3;
const PER_MESSAGE: PerMessage = {
  dynamodb: {},
  kinesisRecords: 1,
  kinesisBytes: 1024,
  kinesisBilledKb: 1,
  posts: 0,
  postBytes: 0,
  framesIn: 1,
  routeResponses: 0,
  logLines: 0,
  logBytes: 0,
  metricLines: 0,
  metricBytes: 0,
  invocations: {},
  durationMs: {},
  cpuMs: { stack: 1, 'dynamodb-local': 1, 'kinesis-mock': 1, 'load-generator': 1 },
};
const PUSH = {
  offlineDevicesPerMessage: 2,
  coalescedShare: 0.5,
  mobileShare: 0.5,
  webPushBytes: 1024,
  waitPerPushMs: 100,
};

describe('the cost of pushes to devices not connected', () => {
  it('prices each device attempted: its window and connections, and for each push sent, SNS or the bytes out', () => {
    const cost = estimateCost(PER_MESSAGE, {
      allIn: false,
      assumptions: { ...CAPACITY_ASSUMPTIONS, push: PUSH },
    });
    const line = cost.lines.find(({ item }) => item === 'push (offline devices)');
    // Per device: 1 WRU ($0.625/M) + 0.5 RRU ($0.125/M); per push sent (half of them): 0.5 RRU,
    // half through SNS ($0.50/M), half 1 KB out ($0.09/GB), 0.1 s × 0.5 GB of Lambda.
    const perDevice =
      0.625 + 0.0625 + 0.5 * (0.0625 + 0.5 * 0.5 + ((0.5 * 1024) / GB) * 0.09e6 + 0.1 * 0.5 * 13.3334);
    expect(line).toMatchObject({ service: 'Push', perMessage: 2, basis: 'assumed' });
    expect(line?.usdPerMillion).toBeCloseTo(2 * perDevice, 6);
    expect(cost.byService.Push).toBeCloseTo(2 * perDevice, 6);
  });

  it('reads every record a third time, for the push-notifier, by polling', () => {
    const cost = estimateCost(PER_MESSAGE, { allIn: false });
    const line = cost.lines.find(({ item }) => item.startsWith('push-notifier reads every record (polling)'));
    expect(line?.usdPerMillion).toBeCloseTo((1024 / GB) * 0.04e6, 6);
  });

  it('shows the push line in the itemised table npm run bench prints', () => {
    const cost = estimateCost(PER_MESSAGE);
    const table = costTable({ cost, costRate: 50 } as unknown as BenchResults);
    expect(table?.rows.some(([item]) => item === 'Push: push (offline devices)')).toBe(true);
  });

  it('adds no push line when the assumptions hold no push work', () => {
    const { push: _push, ...withoutPush } = CAPACITY_ASSUMPTIONS;
    const cost = estimateCost(PER_MESSAGE, { assumptions: withoutPush });
    expect(cost.lines.some(({ service }) => service === 'Push')).toBe(false);
  });
});
