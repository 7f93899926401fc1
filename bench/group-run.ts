/**
 * `npm run bench -- --groups`: the group phase on a local stack of its own (`groups.ts`),
 * its tables printed and written to bench/results/groups.json and groups.md. Stops
 * everything it started, also on Ctrl-C.
 */
import { TABLE_NAME_FIELDS, TABLES } from '../definitions/tables.js';
import type { RunningLocalStack } from '../local/stack.js';
import { now } from './clock.js';
import { cpuBetween, cpuSnapshot } from './cpu.js';
import { type GroupFigures, measureGroups } from './groups.js';
import { LoadGenerator } from './load-generator.js';
import { describeMachine } from './machine.js';
import { writeTablesAndJson } from './outputs.js';
import { Probes, startProbedStack } from './probes.js';
import { machineLine, renderText, type Table } from './report.js';
import type { BenchResults, Machine } from './results-model.js';
import type { BenchSettings } from './settings.js';

/** At 1,024 members, every connected device has the message within this, at p99 (issue 13). */
export const GROUP_P99_TARGET_MS = 2000;
/** Posts per message may differ from the connected devices by this share at most. */
export const GROUP_POSTS_TOLERANCE = 0.05;

export interface GroupResults {
  date: string;
  durationSeconds: number;
  machine: Machine;
  settings: { sizes: number[]; messages: number; bodyChars: number; streamDelayMs: number };
  groups: GroupFigures[];
}

const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(0) : '–');
const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : '–');

export function groupTables(results: GroupResults): Table[] {
  const figures: Table = {
    title: 'Groups: one message at a time into a group, every member with 2 connected devices',
    headers: [
      'members',
      'devices',
      'msgs',
      'last device p50',
      'last device p99',
      'delivery p99',
      'missing',
      'posts/msg',
      'posts ÷ devices',
      'RRU/msg',
      'WRU/msg',
      'fanout inv./msg',
      '$/M msgs',
      '$/M msgs per member',
    ],
    rows: results.groups.map((group) => [
      String(group.members),
      String(group.devices),
      String(group.messages),
      ms(group.lastDevice.p50),
      ms(group.lastDevice.p99),
      ms(group.delivery.p99),
      String(group.missing),
      fixed(group.postsPerMessage, 1),
      fixed(group.postsPerDevice, 3),
      fixed(group.readUnits, 1),
      fixed(group.writeUnits, 1),
      fixed(group.fanoutInvocations, 2),
      fixed(group.cost.usdPerMillion, 2),
      fixed(group.usdPerMillionPerMember, 3),
    ]),
    notes: [
      'latencies in ms: send → the last device of the group has it (per message), and → each device (per delivery)',
      'units as AWS bills them, over every table; cost at the prices of docs/capacity.md §10 (bench/cost.ts)',
    ],
  };
  const tables: Record<string, Record<string, number>> = {};
  for (const group of results.groups) {
    for (const [table, units] of Object.entries(group.perMessage.dynamodb)) {
      tables[table] = {
        ...tables[table],
        [`${group.members} RRU`]: units.read,
        [`${group.members} WRU`]: units.write,
      };
    }
  }
  const columns = results.groups.flatMap((group) => [`${group.members} RRU`, `${group.members} WRU`]);
  const byTable: Table = {
    title: 'Groups: DynamoDB units per message by table (read / write, by group size)',
    headers: ['table', ...columns],
    rows: Object.entries(tables).map(([table, values]) => [
      table,
      ...columns.map((column) => fixed(values[column] ?? 0, 1)),
    ]),
  };
  const largest = results.groups.find((group) => group.members === 1024) ?? results.groups.at(-1);
  const targets: Table = {
    title: 'Groups: targets (local stack, reported, not asserted)',
    headers: ['target', 'goal', 'measured', 'met'],
    rows: largest
      ? [
          [
            `every connected device has the message, p99, ${largest.members} members`,
            `< ${GROUP_P99_TARGET_MS} ms`,
            `${ms(largest.lastDevice.p99)} ms (${largest.missing} missing)`,
            largest.lastDevice.p99 < GROUP_P99_TARGET_MS && largest.missing === 0 ? 'met' : 'not met',
          ],
          ...results.groups.map((group) => [
            `posts per message vs connected devices, ${group.members} members`,
            `within ${GROUP_POSTS_TOLERANCE * 100} %`,
            `${fixed(group.postsPerMessage, 1)} / ${group.devices}`,
            Math.abs(group.postsPerDevice - 1) <= GROUP_POSTS_TOLERANCE ? 'met' : 'not met',
          ]),
        ]
      : [],
  };
  return [figures, byTable, targets];
}

function writeGroupResults(results: GroupResults, directory: string): string[] {
  return writeTablesAndJson(directory, 'groups', results, groupTables(results));
}

/** Starts a stack and the load generator, measures the groups, prints and writes the results, stops it all. */
export async function runGroupBenchmark(settings: BenchSettings, log: (line: string) => void): Promise<void> {
  const startedAt = now();
  const machine = describeMachine();
  const cpuStart = cpuSnapshot();
  log(
    `\nParley group benchmark: groups of ${settings.groupSizes.join(', ')} members, 2 devices each, ` +
      `${settings.groupMessages} messages each, one at a time`,
  );
  log(`machine: ${machineLine({ machine } as BenchResults)}\n`);
  const load = LoadGenerator.start();
  let stack: RunningLocalStack | undefined;
  const stopAll = async () => {
    await load.stop().catch(() => undefined);
    await stack?.stop().catch(() => undefined);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    log(`\n${signal}: stopping`);
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  let groups: GroupFigures[];
  try {
    const probes = new Probes();
    stack = await startProbedStack(probes, settings.streamDelayMs);
    const running = stack;
    const tableIdOf = new Map<string, string>(
      TABLES.map((table) => [running.config.names[TABLE_NAME_FIELDS[table.id]], table.id]),
    );
    groups = await measureGroups({
      stack: running,
      probes,
      load,
      tableIdOf,
      sizes: settings.groupSizes,
      messages: settings.groupMessages,
      bodyChars: settings.bodyChars,
      seed: settings.seed,
      log,
    });
    const duringRun = cpuBetween(cpuStart, cpuSnapshot()).machine;
    if (duringRun) machine.duringRun = duringRun;
  } finally {
    await stopAll();
  }
  const results: GroupResults = {
    date: new Date().toISOString(),
    durationSeconds: (now() - startedAt) / 1000,
    machine,
    settings: {
      sizes: settings.groupSizes,
      messages: settings.groupMessages,
      bodyChars: settings.bodyChars,
      streamDelayMs: settings.streamDelayMs,
    },
    groups,
  };
  log('');
  for (const table of groupTables(results)) log(`${renderText(table)}\n`);
  const written = writeGroupResults(results, settings.resultsDir);
  log(`wrote ${written.join(', ')} (${results.durationSeconds.toFixed(0)} s in all)`);
}
