/**
 * `npm run chaos`: users chat from several devices through a local stack of its own while
 * faults are injected, then the history checker says whether anything was lost, doubled
 * or diverged. Exits 1 when the verdict is not clean. Settings come from the environment
 * (CHAOS_*, listed by `npm run chaos -- --help`).
 */
import { readNumber } from '../bench/settings.js';
import { FAULT_KINDS, type FaultKind } from '../test/chaos/faults.js';
import {
  type ChaosOptions,
  type ChaosReport,
  DEFAULT_CHAOS_OPTIONS,
  runChaos,
} from '../test/chaos/run-chaos.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

type NumericOption =
  | 'durationSeconds'
  | 'users'
  | 'devicesPerUser'
  | 'writesPerDeviceSecond'
  | 'seed'
  | 'settleStallSeconds';

/** Each setting, its least value, and whether it counts things (a whole number). */
const SETTINGS: ReadonlyArray<{
  name: string;
  key: NumericOption;
  meaning: string;
  min: number;
  whole?: true;
}> = [
  { name: 'CHAOS_SECONDS', key: 'durationSeconds', meaning: 'seconds of chat under faults', min: 1 },
  {
    name: 'CHAOS_USERS',
    key: 'users',
    meaning: 'users, in a ring of one-to-one conversations',
    min: 2,
    whole: true,
  },
  { name: 'CHAOS_DEVICES', key: 'devicesPerUser', meaning: 'devices per user', min: 1, whole: true },
  {
    name: 'CHAOS_WRITES',
    key: 'writesPerDeviceSecond',
    meaning: 'messages each device writes a second',
    min: 0.01,
  },
  { name: 'CHAOS_SEED', key: 'seed', meaning: 'seed of every random choice', min: 1, whole: true },
  {
    name: 'CHAOS_SETTLE_SECONDS',
    key: 'settleStallSeconds',
    meaning:
      'longest wait, after the faults, with the devices coming no closer to agreeing (3 times that in all)',
    min: 1,
  },
];

/** The settings of the groups (`test/chaos/group-chaos.ts`). */
const GROUP_SETTINGS: ReadonlyArray<{
  name: string;
  key: keyof ChaosOptions['groups'];
  meaning: string;
  min: number;
  whole?: true;
}> = [
  {
    name: 'CHAOS_GROUP_USERS',
    key: 'users',
    meaning: 'users in groups only (0: no groups)',
    min: 0,
    whole: true,
  },
  { name: 'CHAOS_GROUPS', key: 'groups', meaning: 'groups', min: 0, whole: true },
  {
    name: 'CHAOS_GROUP_CHANGES',
    key: 'changesPerSecond',
    meaning: 'membership changes a second in each group',
    min: 0.01,
  },
];

if (process.argv.includes('--help')) {
  console.log('npm run chaos: the fault suite. Settings, from the environment:');
  console.log(
    `  ${'CHAOS_MODE'.padEnd(22)} local (the in-process stack) or deployed (the synthesized stack's bundles) (default ${DEFAULT_CHAOS_OPTIONS.mode})`,
  );
  for (const setting of SETTINGS) {
    console.log(
      `  ${setting.name.padEnd(22)} ${setting.meaning} (default ${DEFAULT_CHAOS_OPTIONS[setting.key]})`,
    );
  }
  for (const setting of GROUP_SETTINGS) {
    console.log(
      `  ${setting.name.padEnd(22)} ${setting.meaning} (default ${DEFAULT_CHAOS_OPTIONS.groups[setting.key]})`,
    );
  }
  process.exit(0);
}

const options: ChaosOptions = {
  ...DEFAULT_CHAOS_OPTIONS,
  log: (line) => console.log(line),
  // The stack's own log lines (the injected faults make many): CHAOS_LOG=WARN shows them.
  logLevel:
    process.env.CHAOS_LOG === 'WARN' || process.env.CHAOS_LOG === 'ERROR' ? process.env.CHAOS_LOG : 'SILENT',
};
try {
  const mode = process.env.CHAOS_MODE || DEFAULT_CHAOS_OPTIONS.mode;
  if (mode !== 'local' && mode !== 'deployed') {
    throw new RangeError(`CHAOS_MODE: must be local or deployed, not ${JSON.stringify(mode)}`);
  }
  options.mode = mode;
  for (const setting of SETTINGS) {
    const value = readNumber(process.env, setting.name, DEFAULT_CHAOS_OPTIONS[setting.key], setting.min);
    if (setting.whole && !Number.isInteger(value)) {
      throw new RangeError(
        `${setting.name}: must be a whole number, not ${JSON.stringify(process.env[setting.name])}`,
      );
    }
    options[setting.key] = value;
  }
  options.groups = { ...DEFAULT_CHAOS_OPTIONS.groups };
  for (const setting of GROUP_SETTINGS) {
    const value = readNumber(
      process.env,
      setting.name,
      DEFAULT_CHAOS_OPTIONS.groups[setting.key],
      setting.min,
    );
    if (setting.whole && !Number.isInteger(value)) {
      throw new RangeError(
        `${setting.name}: must be a whole number, not ${JSON.stringify(process.env[setting.name])}`,
      );
    }
    options.groups[setting.key] = value;
  }
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}

// The engines this process started are killed on exit (local/engines.ts), so Ctrl-C leaves none behind.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log(`\n${signal}: stopping`);
    process.exit(130);
  });
}

console.log(
  `chaos (${options.mode} stack): ${options.users} users × ${options.devicesPerUser} devices, ` +
    `${options.durationSeconds} s of faults, seed ${options.seed}; ` +
    `${options.groups.users} group users × ${options.groups.devicesPerUser} devices in ${options.groups.groups} groups`,
);
const report = await runChaos(options);
printReport(report);
process.exit(report.verdict.ok ? 0 : 1);

function printReport(report: ChaosReport) {
  const { verdict, faults, faultsTotal, chaosMs, settleMs, settled, conversations, devices } = report;
  console.log('');
  console.log(`faults injected: ${faultsTotal}`);
  for (const [kind, count] of Object.entries(faults)) {
    console.log(`  ${String(count).padStart(6)}  ${kind.padEnd(22)} ${FAULT_KINDS[kind as FaultKind]}`);
  }
  console.log('');
  console.log(
    `conversations ${conversations}, groups ${report.groups} (${report.membershipChanges} membership changes), ` +
      `devices ${devices}, fanout batches under faults ${report.fanoutBatches}`,
  );
  console.log(`messages written ${verdict.messagesWritten}, stored ${verdict.messagesStored}`);
  console.log(`message frames checked against the store ${verdict.eventsChecked}`);
  console.log(
    `chaos ${(chaosMs / 1000).toFixed(1)} s; ${settled ? 'settled' : 'did NOT settle'} in ${(settleMs / 1000).toFixed(1)} s`,
  );
  console.log('');
  const lines: Array<[string, string[]]> = [
    ['lost', verdict.lost],
    ['doubled', verdict.doubled],
    ['stored but never written', verdict.unknown],
    ['conversations with gaps', verdict.gaps],
    ['sent answers that disagree with the store', verdict.wrongSentAnswers],
    ['message frames that disagree with the store', verdict.mismatchedEvents],
    ['diverged devices', verdict.divergedDevices.map((d) => `${d.deviceKey}: ${d.problems.join('; ')}`)],
    ['diverged conversation lists', verdict.divergedLists],
    ['group messages outside a membership', verdict.leaked],
    ['membership changes that disagree with the store', verdict.wrongChanges],
  ];
  for (const [label, problems] of lines) {
    console.log(`${label}: ${problems.length}`);
    for (const problem of problems.slice(0, 10)) console.log(`    ${problem}`);
    if (problems.length > 10) console.log(`    … and ${problems.length - 10} more`);
  }
  console.log('');
  console.log(verdict.ok ? 'verdict: PASS, nothing lost, doubled or diverged' : 'verdict: FAIL');
}
