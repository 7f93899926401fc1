/**
 * `npm run bench`: Parley under load on the local stack, against a floor.
 *
 * 1. The floor: a plain WebSocket relay (`relay.ts`) in this process; the load generator
 *    (`load-client.ts`, a child process) connects every device to it and sends at each rate.
 * 2. Parley: a local stack of its own (DynamoDB Local, kinesis-mock, the gateway emulator, the
 *    event source mapping, the real handlers) in this process; the same devices, the same
 *    messages at the same rates. Probes (`probes.ts`) timestamp the adapters and the
 *    invocations, meter DynamoDB and Kinesis, and CPU is read per process.
 * 3. Handler CPU attribution: one more rate with async hooks on (`cpu.ts`).
 * 4. Catch-up after missing messages, with long histories written straight into DynamoDB.
 *
 * Prints the tables, writes bench/results/latest.json, latest.md and latency.svg, and stops
 * everything it started. Settings: `settings.ts` (BENCH_* environment variables).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MetricName } from '../definitions/metrics.js';
import { TABLE_NAME_FIELDS, TABLES } from '../definitions/tables.js';
import { InMemoryMetrics } from '../lambdas/adapters/in-memory-metrics.js';
import { LOCAL_JWT_SECRET } from '../lambdas/config.js';
import { mintToken } from '../lambdas/domain/tokens.js';
import type { RunningLocalStack } from '../local/stack.js';
import { analyzeClient, analyzeServer, type ClientFigures, type PerMessage } from './analysis.js';
import { runAwsModelBenchmark } from './aws-model-run.js';
import { type CatchUpFigures, measureCatchUp } from './catch-up.js';
import { now } from './clock.js';
import { estimateCost } from './cost.js';
import { CpuAttribution, cpuBetween, cpuSnapshot, OTHER } from './cpu.js';
import { runFloodBenchmark } from './flood.js';
import { runGroupBenchmark } from './group-run.js';
import { LoadGenerator } from './load-generator.js';
import type { DeviceSpec } from './load-protocol.js';
import { describeMachine } from './machine.js';
import { printResults, writeResults } from './outputs.js';
import { Probes, startProbedStack } from './probes.js';
import { type RunningRelay, startRelay } from './relay.js';
import { machineLine } from './report.js';
import type {
  BenchResults,
  CpuAttributionFigures,
  ParleyRate,
  RateRow,
  TargetCheck,
} from './results-model.js';
import { analyzeSegments } from './segments.js';
import { ENVIRONMENT_VARIABLES, readMode, readSettings } from './settings.js';
import { distribution } from './stats.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const mode = readMode(process.argv.slice(2));
if (mode === 'help') {
  console.log('npm run bench: Parley under load on the local stack, against a plain WebSocket relay.');
  console.log('npm run bench -- --groups: the group phase only (groups of 8, 256 and 1,024 members).');
  console.log(
    'npm run bench -- --aws-model: the target rate with every AWS hop delayed as modelled (bench/aws-hops.ts).',
  );
  console.log(
    "npm run bench -- --flood: a pair's latency alone and while one user floods send and typing.\n",
  );
  for (const variable of ENVIRONMENT_VARIABLES) {
    console.log(`  ${variable.name.padEnd(24)} ${variable.fallback.padEnd(16)} ${variable.meaning}`);
  }
  process.exit(0);
}
const settings = readSettings();
if (mode === 'aws-model') {
  // Modelled AWS latency, a stack per delivery path (bench/aws-model-run.ts).
  await runAwsModelBenchmark(settings, console.log);
  process.exit(0);
}
if (mode === 'flood') {
  // The pair alone, then under one user's flood, on a stack of its own (bench/flood.ts).
  await runFloodBenchmark(settings, console.log);
  process.exit(0);
}
if (mode === 'groups') {
  // The group phase runs on its own: 2,048 connections and a stack of its own (bench/groups.ts).
  await runGroupBenchmark(settings, console.log);
  process.exit(0);
}
if (mode === 'render') {
  // Prints and writes the outputs again from latest.json, without running anything.
  const saved = JSON.parse(readFileSync(join(settings.resultsDir, 'latest.json'), 'utf8')) as BenchResults;
  if (saved.perMessage)
    saved.cost = estimateCost(saved.perMessage, { dynamodbCapacity: settings.dynamodbCapacity });
  printResults(saved, console.log);
  writeResults(saved, settings.resultsDir);
  process.exit(0);
}
const startedAt = now();
const log = (line: string) => console.log(line);

/** Says whether the latencies include a modelled stream hop, since that changes what they mean. */
function streamDelayLine(): string {
  return settings.streamDelayMs > 0
    ? `stream delay: ${settings.streamDelayMs} ms from a put to the stream consumers (BENCH_STREAM_DELAY_MS), as in AWS`
    : 'stream delay: none, the local stream as it is (BENCH_STREAM_DELAY_MS=70 models the AWS hop)';
}

const machine = describeMachine();
const runCpuStart = cpuSnapshot();
const userIds = Array.from({ length: settings.users }, (_, i) => `u${String(i).padStart(3, '0')}`);
const deviceIds = Array.from(
  { length: settings.devicesPerUser },
  (_, i) => ['phone', 'laptop', 'tablet', 'watch'][i] ?? `device${i}`,
);
const deviceCount = settings.users * settings.devicesPerUser;
const drainTimeoutMs = settings.drainSeconds * 1000;
const durationMs = settings.durationSeconds * 1000;

log(
  `\nParley benchmark: ${settings.users} users × ${settings.devicesPerUser} devices = ${deviceCount} connections, ` +
    `${settings.users / 2} conversations; rates ${settings.rates.join(', ')} msg/s × ${settings.durationSeconds} s`,
);
log(`machine: ${machineLine({ machine } as BenchResults)}`);
log(`${streamDelayLine()}\n`);

const load = LoadGenerator.start();
let relay: RunningRelay | undefined;
let stack: RunningLocalStack | undefined;
let stopping: Promise<void> | undefined;
const stopAll = () => {
  stopping ??= (async () => {
    await load.stop().catch(() => undefined);
    await relay?.stop().catch(() => undefined);
    await stack?.stop().catch(() => undefined);
  })();
  return stopping;
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`\n${signal}: stopping`);
    void stopAll().finally(() => process.exit(130));
  });
}

const rows: RateRow[] = settings.rates.map((rate) => ({ rate }));
const startup: BenchResults['startup'] = {};
let cpuAttribution: CpuAttributionFigures | undefined;
let costPhase: BenchResults['costPhase'];
let costPerMessage: PerMessage | undefined;
const catchUp: CatchUpFigures[] = [];

const brief = (figures: ClientFigures) =>
  `p50 ${figures.receive.p50.toFixed(1)} p95 ${figures.receive.p95.toFixed(1)} p99 ${figures.receive.p99.toFixed(1)} ` +
  `max ${figures.receive.max.toFixed(1)} ms, sent p50 ${figures.sent.p50.toFixed(1)} ms` +
  (figures.sustained ? '' : `; not sustained: ${figures.shortfalls.join('; ')}`);

try {
  // ------------------------------------------------------------------ 1. the floor
  if (settings.floor) {
    relay = await startRelay();
    const devices: DeviceSpec[] = userIds.flatMap((userId) =>
      deviceIds.map((deviceId) => ({ userId, deviceId, query: { userId, deviceId } })),
    );
    startup.floorConnectMs = await load.connect(relay.url, devices);
    await load.run({
      tag: 'fw',
      rate: 50,
      durationMs: 2000,
      seed: settings.seed,
      bodyChars: settings.bodyChars,
      drainTimeoutMs,
      coverAllPairs: true,
    });
    for (const row of rows) {
      const result = await load.run({
        tag: `f${row.rate}`,
        rate: row.rate,
        durationMs,
        seed: settings.seed + row.rate,
        bodyChars: settings.bodyChars,
        drainTimeoutMs,
        coverAllPairs: false,
      });
      row.floor = analyzeClient(result, devices);
      log(`· floor  ${String(row.rate).padStart(4)}/s: ${brief(row.floor)}`);
    }
    await load.disconnect();
    await relay.stop();
    relay = undefined;
  }

  // ------------------------------------------------------------------ 2. Parley
  const attribution = new CpuAttribution();
  const probes = new Probes({ cpu: attribution });
  const stackStarted = now();
  stack = await startProbedStack(probes, settings.streamDelayMs);
  const running = stack;
  startup.stackMs = now() - stackStarted;
  const tableIdOf = new Map<string, string>(
    TABLES.map((table) => [running.config.names[TABLE_NAME_FIELDS[table.id]], table.id]),
  );
  const metrics = running.deps.metrics instanceof InMemoryMetrics ? running.deps.metrics : undefined;
  const settle = async () => {
    if (!(await probes.settle()))
      log('· the stack did not settle in time: the next figures include its backlog');
  };
  log(`· local stack started in ${(startup.stackMs / 1000).toFixed(1)} s`);

  const tokens = await Promise.all(
    userIds.map((userId) => mintToken(userId, running.config.tokens.secret ?? LOCAL_JWT_SECRET)),
  );
  const devices: DeviceSpec[] = userIds.flatMap((userId, index) =>
    deviceIds.map((deviceId) => ({ userId, deviceId, query: { token: tokens[index] as string, deviceId } })),
  );
  startup.parleyConnectMs = await load.connect(running.url, devices, 8);
  log(`· ${deviceCount} devices connected in ${(startup.parleyConnectMs / 1000).toFixed(1)} s`);
  // Warm up: every conversation gets its first message (and its list entries), the JIT warms.
  await load.run({
    tag: 'pw',
    rate: 25,
    durationMs: 4000,
    seed: settings.seed,
    bodyChars: settings.bodyChars,
    drainTimeoutMs,
    coverAllPairs: true,
  });
  await settle();

  const runParley = async (tag: string, rate: number, seconds: number, seed: number, acks = false) => {
    metrics?.reset();
    probes.startPhase();
    const before = cpuSnapshot();
    const result = await load.run({
      tag,
      rate,
      durationMs: seconds * 1000,
      seed,
      bodyChars: settings.bodyChars,
      // Acks go out after their messages arrive, a read a second after its delivered.
      drainTimeoutMs: acks ? 3 * drainTimeoutMs : drainTimeoutMs,
      coverAllPairs: false,
      acks,
    });
    await settle();
    const cpu = cpuBetween(before, cpuSnapshot());
    return { result, phase: probes.endPhase(), cpu };
  };

  let skipRest: string | undefined;
  for (const row of rows) {
    // Rates up to the target always run (the targets are stated there); above it, not after a collapse.
    if (skipRest && row.rate > settings.targetRate) {
      row.skipped = skipRest;
      continue;
    }
    const { result, phase, cpu } = await runParley(
      `p${row.rate}`,
      row.rate,
      settings.durationSeconds,
      settings.seed + row.rate,
    );
    const client = analyzeClient(result, devices);
    const parley: ParleyRate = {
      ...client,
      segments: analyzeSegments(result, phase, devices, probes.devicesByConnection),
      server: analyzeServer(phase, result.messages.length, tableIdOf, cpu, cpu.wallMs),
      deliveryLatencyMetric: distribution(metrics?.values(MetricName.DeliveryLatency) ?? []),
    };
    row.parley = parley;
    if (row.floor) {
      row.ratio = {
        p50: parley.receive.p50 / row.floor.receive.p50,
        p95: parley.receive.p95 / row.floor.receive.p95,
        p99: parley.receive.p99 / row.floor.receive.p99,
        max: parley.receive.max / row.floor.receive.max,
        sentP50: parley.sent.p50 / row.floor.sent.p50,
        sentP99: parley.sent.p99 / row.floor.sent.p99,
      };
    }
    log(`· parley ${String(row.rate).padStart(4)}/s: ${brief(parley)}`);
    if (result.missingReceives > 0 || result.missingAnswers > 0) {
      skipRest = `skipped: ${row.rate}/s left deliveries missing after the ${settings.drainSeconds} s drain`;
    } else if (Math.min(parley.offeredRate, parley.deliveredRate) < row.rate / 2) {
      skipRest = `skipped: ${row.rate}/s delivered only ${parley.deliveredRate.toFixed(1)} messages a second`;
    }
  }

  // ------------------------------------------------------------------ cost: the counts with receipts
  if (settings.costSeconds > 0) {
    const { costRate: rate, costSeconds: seconds } = settings;
    const { result, phase, cpu } = await runParley('pcost', rate, seconds, settings.seed + 11, true);
    const messages = result.messages.length;
    costPhase = { rate, seconds, messages, acks: true };
    costPerMessage = analyzeServer(phase, messages, tableIdOf, cpu, cpu.wallMs).perMessage;
    const acks = (costPerMessage.invocations.ack ?? 0).toFixed(2);
    log(
      `· cost phase ${rate}/s × ${seconds} s: ${messages} messages, ${acks} acks each (2 if all were confirmed)`,
    );
  }

  // ------------------------------------------------------------------ 3. handler CPU attribution
  if (settings.cpuSeconds > 0) {
    const sustained = rows.filter((row) => row.parley?.sustained).map((row) => row.rate);
    const cpuRate =
      settings.cpuRate ?? (sustained.length ? Math.max(...sustained) : (settings.rates[0] as number));
    attribution.start();
    const { result, cpu } = await runParley('pcpu', cpuRate, settings.cpuSeconds, settings.seed + 7);
    const spent = attribution.stop();
    const total = [...spent.values()].reduce((sum, value) => sum + value, 0);
    const handlerMs = total - (spent.get(OTHER) ?? 0);
    const messages = result.messages.length;
    const hooked = cpu.ms.stack / messages;
    // The same rate measured without hooks, if the ladder had it; else the nearest rate.
    const clean = [...rows]
      .filter((row) => row.parley)
      .sort((a, b) => Math.abs(a.rate - cpuRate) - Math.abs(b.rate - cpuRate))[0]?.parley?.server.perMessage
      .cpuMs.stack;
    const base = clean ?? hooked;
    const shares = Object.fromEntries(
      [...spent].map(([owner, value]) => [owner, total > 0 ? value / total : 0]),
    );
    const handlerShare = total > 0 ? handlerMs / total : Number.NaN;
    cpuAttribution = {
      rate: cpuRate,
      seconds: settings.cpuSeconds,
      messages,
      shares,
      handlerShare,
      hookedStackCpuMs: hooked,
      cleanStackCpuMs: base,
      handlerCpuMs: handlerShare * base,
      byFunctionCpuMs: Object.fromEntries(
        [...spent]
          .filter(([owner]) => owner !== OTHER)
          .map(([owner, value]) => [owner, (value / total) * base]),
      ),
    };
    log(
      `· handler CPU: ${(100 * handlerShare).toFixed(1)}% of the stack's main thread → ${cpuAttribution.handlerCpuMs.toFixed(2)} ms per message`,
    );
  }

  await load.disconnect();
  await settle();

  // ------------------------------------------------------------------ 4. catch-up
  if (settings.catchUp) {
    for (const history of settings.histories) {
      const figures = await measureCatchUp(running, probes, tableIdOf, {
        history,
        missed: settings.missed,
        bodyChars: settings.bodyChars,
        tag: `h${history}`,
      });
      catchUp.push(figures);
      log(
        `· catch-up, history ${history}: seeded in ${(figures.seedMs / 1000).toFixed(1)} s; ` +
          `${figures.itemsRead} items, ${figures.readUnits} read units, ${figures.requests} requests, ${figures.ms.toFixed(1)} ms`,
      );
    }
  }
  // While the engines and the load generator still run, so that /proc still has their CPU time.
  const duringRun = cpuBetween(runCpuStart, cpuSnapshot()).machine;
  if (duringRun) machine.duringRun = duringRun;
} finally {
  await stopAll();
}

// ------------------------------------------------------------------ figures, targets, files
const measured = rows.filter((row) => row.parley);
// What a message costs, at a rate Parley sustains: the target rate if it did, else the
// highest it did, else the lowest measured (an overloaded rate bills its backlog and its lost races).
const sustainedRows = measured.filter((row) => row.parley?.sustained);
const costRow =
  sustainedRows.find((row) => row.rate === settings.targetRate) ?? sustainedRows.at(-1) ?? measured[0];
// The cost phase's counts include the receipts; the rates' do not (their devices never ack).
const perMessage = costPerMessage ?? costRow?.parley?.server.perMessage;
const cost = perMessage
  ? estimateCost(perMessage, { dynamodbCapacity: settings.dynamodbCapacity })
  : undefined;
const highest = (pick: (row: RateRow) => ClientFigures | undefined) =>
  rows
    .filter((row) => pick(row)?.sustained)
    .reduce<number | null>((best, row) => Math.max(best ?? 0, row.rate), null);

const targetRow = rows.find((row) => row.rate === settings.targetRate)?.parley;
const devicesNote = deviceCount === 200 ? '200 devices' : `${deviceCount} devices (target is stated for 200)`;
const sequencing = costRow?.parley?.server.perMessage.dynamodb.conversations;
const quiet = costRow?.parley?.server.sequencing;
const targetUnits = targetRow?.server.perMessage.dynamodb.conversations;
// DynamoDB Local reports nothing for a cancelled transaction: its figure is per winning transaction.
const quietReported = sequencing ? sequencing.reportedWrite.toFixed(2) : '–';
const targets: TargetCheck[] = [
  {
    name: `p50 send → receive at ${settings.targetRate}/s, ${devicesNote}`,
    target: '< 30 ms',
    measured: targetRow ? `${targetRow.receive.p50.toFixed(1)} ms` : 'not measured',
    met: targetRow ? targetRow.receive.p50 < 30 : undefined,
  },
  {
    name: `p99 send → receive at ${settings.targetRate}/s, ${devicesNote}`,
    target: '< 100 ms',
    measured: targetRow ? `${targetRow.receive.p99.toFixed(1)} ms` : 'not measured',
    met: targetRow ? targetRow.receive.p99 < 100 : undefined,
  },
  {
    name: 'write units per message, sequencing path, a message that wins its seq at once',
    target: '≤ 4',
    measured: quiet
      ? `${quiet.writePerStore.toFixed(2)} (DynamoDB Local said ${quietReported})`
      : 'not measured',
    met: quiet ? quiet.writePerStore <= 4 + 1e-9 : undefined,
  },
  {
    name: 'read units per message, sequencing path, a message that wins its seq at once',
    target: '≤ 1',
    measured: quiet ? quiet.readPerLastSeq.toFixed(2) : 'not measured',
    met: quiet ? quiet.readPerLastSeq <= 1 + 1e-9 : undefined,
  },
  {
    name: `write / read units per message, sequencing path, all in at ${settings.targetRate}/s (lost seq races included)`,
    target: '≤ 4 / ≤ 1',
    measured: targetUnits
      ? `${targetUnits.write.toFixed(2)} / ${targetUnits.read.toFixed(2)} (${targetRow?.server.sequencing.retriesPerMessage.toFixed(3)} lost races per message)`
      : 'not measured',
    met: targetUnits ? targetUnits.write <= 4 + 1e-9 && targetUnits.read <= 1 + 1e-9 : undefined,
  },
  {
    name: `handler CPU per message (at ${cpuAttribution ? cpuAttribution.rate : '–'}/s)`,
    target: '< 2 ms',
    measured: cpuAttribution ? `${cpuAttribution.handlerCpuMs.toFixed(2)} ms` : 'not measured',
    met: cpuAttribution ? cpuAttribution.handlerCpuMs < 2 : undefined,
  },
];

const { resultsDir: _resultsDir, ...recordedSettings } = settings;
const results: BenchResults = {
  version: 1,
  date: new Date().toISOString(),
  durationSeconds: (now() - startedAt) / 1000,
  machine,
  settings: recordedSettings,
  startup,
  rates: rows,
  highestSustained: { parley: highest((row) => row.parley), floor: highest((row) => row.floor) },
  ...(cpuAttribution ? { cpuAttribution } : {}),
  ...(costPhase ? { costRate: costPhase.rate, costPhase } : costRow ? { costRate: costRow.rate } : {}),
  ...(perMessage ? { perMessage } : {}),
  ...(cost ? { cost } : {}),
  catchUp,
  targets,
};

printResults(results, log);
log(streamDelayLine());
const written = writeResults(results, settings.resultsDir);
log(`\nwrote ${written.join(', ')} (${results.durationSeconds.toFixed(0)} s in all)`);
