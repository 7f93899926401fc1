import { describe, expect, it } from 'vitest';
import type { PerMessage } from '../../bench/analysis.js';
import { type GroupResults, groupTables } from '../../bench/group-run.js';
import { analyzeGroup } from '../../bench/groups.js';
import type { RunResult, SentMessage } from '../../bench/load-protocol.js';
import { readSettings } from '../../bench/settings.js';

const units = (read: number, write: number) => ({
  read,
  write,
  reportedRead: read,
  reportedWrite: write,
  requests: 1,
  itemsRead: 0,
});

const PER_MESSAGE: PerMessage = {
  dynamodb: { conversations: units(1, 4), 'group-connections': units(2, 0) },
  kinesisRecords: 1,
  kinesisBytes: 300,
  posts: 4,
  postBytes: 1200,
  framesIn: 1,
  routeResponses: 1,
  invocations: { send: 1, fanout: 1.5 },
  durationMs: { send: 10, fanout: 20 },
  cpuMs: { stack: 1, 'dynamodb-local': 1, 'kinesis-mock': 1, 'load-generator': 1 },
};

function sent(index: number, sentAt: number): SentMessage {
  return {
    clientMessageId: `g-${index}`,
    pair: 0,
    from: 'm0000',
    to: 'grp:g',
    fromDevice: 0,
    due: sentAt,
    sentAt,
  };
}

/** One message into a group of 2 members (4 devices): the sender's 3 other devices receive it. */
function result(sentAt: number, arrivals: number[], missing = 0): RunResult {
  return {
    tag: 'g',
    rate: 0,
    messages: [sent(0, sentAt)],
    receives: arrivals.map((arrivedAt, device) => [0, device + 1, arrivedAt] as [number, number, number]),
    echoes: 1,
    duplicates: 0,
    missingReceives: missing,
    missingAnswers: 0,
    drainedAt: sentAt + 100,
  };
}

describe('the group phase figures', () => {
  it('times each message to its last device and leaves incomplete messages out of that', () => {
    const figures = analyzeGroup(2, 4, [result(0, [10, 30, 20]), result(100, [150, 160], 1)], PER_MESSAGE, 4);

    expect(figures.messages).toBe(2);
    expect(figures.lastDevice.count).toBe(1);
    expect(figures.lastDevice.p99).toBe(30);
    expect(figures.delivery.count).toBe(5);
    expect(figures.delivery.max).toBe(60);
    expect(figures.missing).toBe(1);
  });

  it('counts posts against the connected devices, units over every table and fanout invocations', () => {
    const figures = analyzeGroup(2, 4, [result(0, [10, 30, 20])], PER_MESSAGE, 4.2);

    expect(figures.postsPerDevice).toBeCloseTo(1.05);
    expect(figures.readUnits).toBe(3);
    expect(figures.writeUnits).toBe(4);
    expect(figures.fanoutInvocations).toBe(1.5);
    expect(figures.usdPerMillionPerMember).toBeCloseTo(figures.cost.usdPerMillion / 2);
  });

  it('says the targets are not met when the largest group misses a delivery or posts more than 5 % over', () => {
    const group = analyzeGroup(1024, 2048, [result(0, [10, 30, 20], 5)], PER_MESSAGE, 2200);
    const results = { groups: [group] } as GroupResults;

    const targets = groupTables(results).find((table) => table.title.includes('targets'));

    expect(targets?.rows.map((row) => row.at(-1))).toEqual(['not met', 'not met']);
  });
});

describe('the group phase settings', () => {
  it('reads the group sizes and refuses one beyond the largest group, naming the variable', () => {
    expect(readSettings({ BENCH_GROUP_SIZES: '256,8' }).groupSizes).toEqual([8, 256]);
    expect(() => readSettings({ BENCH_GROUP_SIZES: '2000' })).toThrow(/BENCH_GROUP_SIZES/);
  });
});
