/**
 * `npm run bench -- --aws-model`: the same one-to-one load as the plain run, at the target
 * rate, through a local stack whose every AWS hop takes a delay drawn from the model of
 * `aws-hops.ts` (in the gateway, the event source mapping and proxies in front of the engines;
 * the handlers are the code that runs in Lambda). One stack per delivery path. Prints
 * `modelled AWS online-to-online: p50 X ms, p99 Y ms` for each, writes
 * bench/results/aws-model.json and aws-model.md, and stops everything it started.
 *
 * The figures are modelled, not measured in AWS: each call takes at least its modelled time,
 * and longer when the local engine is slower than AWS would be (its own time is a floor).
 */
import { DEFAULT_FAST_PATH_MAX_CONNECTIONS, LOCAL_JWT_SECRET } from '../lambdas/config.js';
import { mintToken } from '../lambdas/domain/tokens.js';
import type { RunningLocalStack } from '../local/stack.js';
import { analyzeClient, type ClientFigures } from './analysis.js';
import { AWS_HOPS, createAwsModel, type HopId, sampleCriticalPath } from './aws-hops.js';
import { now } from './clock.js';
import { LoadGenerator } from './load-generator.js';
import type { DeviceSpec } from './load-protocol.js';
import { describeMachine } from './machine.js';
import { writeTablesAndJson } from './outputs.js';
import { Probes, startProbedStack } from './probes.js';
import { type RunningRelay, startRelay } from './relay.js';
import { machineLine, renderText, type Table } from './report.js';
import type { BenchResults, Machine } from './results-model.js';
import { type BenchSettings, DELIVERY_PATHS, type DeliveryPath } from './settings.js';
import { type Distribution, distribution } from './stats.js';

/** Issue 14's targets for one-to-one messages at the target rate, modelled. */
export const MODELLED_P50_TARGET_MS = 80;
export const MODELLED_P99_TARGET_MS = 200;

/** What the stack's environment sets for each path: the send function's fast path on or off. */
const FAST_PATH_SWITCH = 'FAST_PATH_MAX_CONNECTIONS';

export interface PathFigures {
  path: DeliveryPath;
  /** Under the model. */
  client: ClientFigures;
  /** The same stack and load with the model off: measured on the local stack, in the same run. */
  local: ClientFigures;
  /** Draws of each hop during the measured phase, and the cold starts among them. */
  draws: Record<HopId | 'coldStarts', number>;
  /** Of those, the calls the local engine answered slower than the model wanted. */
  engineSlower: Partial<Record<HopId, number>>;
}

export interface AwsModelResults {
  date: string;
  durationSeconds: number;
  machine: Machine;
  settings: {
    users: number;
    devicesPerUser: number;
    rate: number;
    /** The rate and conversations whose load per conversation the run reproduces. */
    targetRate: number;
    targetConversations: number;
    durationSeconds: number;
    seed: number;
    coldStartRate: number;
  };
  hops: typeof AWS_HOPS;
  /** The plain WebSocket relay under the same load: the floor of the local figures. */
  floor: ClientFigures;
  /** The hop model alone along each path's critical hops, without the local stack (its floor). */
  hopModelAlone: Record<DeliveryPath, Distribution>;
  paths: PathFigures[];
}

/** Deliveries drawn along each critical path for the figures of the hop model alone. */
const HOP_MODEL_SAMPLES = 100_000;

/** The line issue 14 asks for, one per path. */
export function modelledLine(figures: PathFigures, settings: AwsModelResults['settings']): string {
  const { receive } = figures.client;
  const perConversation = settings.targetRate / settings.targetConversations;
  return (
    `modelled AWS online-to-online: p50 ${receive.p50.toFixed(0)} ms, p99 ${receive.p99.toFixed(0)} ms ` +
    `(${figures.path} path; one-to-one, ${perConversation.toFixed(1)} msg/s per conversation as at ` +
    `${settings.targetRate} msg/s over ${settings.targetConversations} conversations)`
  );
}

/**
 * The users of a run at `modelRate` whose conversations each get what they get at the target:
 * in AWS every hop scales out, so only the messages per conversation (its seq races) depend on
 * the rate; locally, fewer messages a second keep the engines from being the bottleneck.
 */
export function modelUsers(settings: Pick<BenchSettings, 'users' | 'targetRate' | 'modelRate'>): number {
  const conversations = Math.max(
    1,
    Math.round(((settings.users / 2) * settings.modelRate) / settings.targetRate),
  );
  return conversations * 2;
}

export function awsModelTables(results: AwsModelResults): Table[] {
  const hops: Table = {
    title: 'The model: each AWS hop, a log-normal fitted to its p50 and p99 (sources: docs/capacity.md §9)',
    headers: ['hop', 'p50 ms', 'p99 ms', 'source', ...results.paths.map((path) => `draws, ${path.path}`)],
    rows: results.hops.map((hop) => [
      hop.name,
      String(hop.p50),
      String(hop.p99),
      hop.source,
      ...results.paths.map((path) => drawsCell(path, hop.id)),
    ]),
    notes: [
      `cold starts: ${(100 * results.settings.coldStartRate).toFixed(1)}% of invocations (routes and the stream consumer)`,
      'each DynamoDB and Kinesis call takes max(the local engine’s time, its modelled time);',
      '(n slower): calls the local engine answered slower than the model, its own time the floor',
    ],
  };
  const figures: Table = {
    title: `Modelled AWS online-to-online, one-to-one, ${results.settings.rate} msg/s over ${results.settings.users / 2} conversations (modelled, not measured)`,
    headers: ['path', 'msgs', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'sent p50 ms', 'missing', 'target'],
    rows: results.paths.map(({ path, client }) => [
      path,
      String(client.messages),
      client.receive.p50.toFixed(0),
      client.receive.p95.toFixed(0),
      client.receive.p99.toFixed(0),
      client.receive.max.toFixed(0),
      client.sent.p50.toFixed(0),
      String(client.missingReceives),
      meetsTargets(client) ? 'met' : 'not met',
    ]),
    notes: [
      `target: p50 ≤ ${MODELLED_P50_TARGET_MS} ms and p99 ≤ ${MODELLED_P99_TARGET_MS} ms, nothing missing`,
    ],
  };
  const alone: Table = {
    title: 'The hop model alone along each critical path, without the local stack (modelled, not measured)',
    headers: ['path', 'p50 ms', 'p95 ms', 'p99 ms', 'target'],
    rows: DELIVERY_PATHS.map((path) => {
      const figures = results.hopModelAlone[path];
      const met = figures.p50 <= MODELLED_P50_TARGET_MS && figures.p99 <= MODELLED_P99_TARGET_MS;
      return [
        path,
        figures.p50.toFixed(0),
        figures.p95.toFixed(0),
        figures.p99.toFixed(0),
        met ? 'met' : 'not met',
      ];
    }),
    notes: [
      `${HOP_MODEL_SAMPLES.toLocaleString('en')} deliveries each, the hops of bench/aws-hops.ts CRITICAL_PATHS; no local engine sets a floor`,
    ],
  };
  const row = (name: string, client: ClientFigures) => [
    name,
    client.receive.p50.toFixed(1),
    client.receive.p95.toFixed(1),
    client.receive.p99.toFixed(1),
    String(client.missingReceives),
  ];
  const local: Table = {
    title: `Measured on the local stack, the model off, same run and load (${results.settings.rate} msg/s over ${results.settings.users / 2} conversations)`,
    headers: ['path', 'p50 ms', 'p95 ms', 'p99 ms', 'missing'],
    rows: [
      row('floor (plain relay)', results.floor),
      ...results.paths.map((path) => row(path.path, path.local)),
    ],
  };
  return [hops, figures, alone, local];
}

function drawsCell(path: PathFigures, id: HopId): string {
  const slower = path.engineSlower[id];
  return slower ? `${path.draws[id]} (${slower} slower)` : String(path.draws[id]);
}

function meetsTargets(client: ClientFigures): boolean {
  return (
    client.receive.p50 <= MODELLED_P50_TARGET_MS &&
    client.receive.p99 <= MODELLED_P99_TARGET_MS &&
    client.missingReceives === 0
  );
}

/** Runs every path of `settings.paths`, prints and writes the results. */
export async function runAwsModelBenchmark(
  settings: BenchSettings,
  log: (line: string) => void,
): Promise<void> {
  const startedAt = now();
  const machine = describeMachine();
  const rate = settings.modelRate;
  const users = modelUsers(settings);
  log(
    `\nParley under a model of AWS: ${users} users × ${settings.devicesPerUser} devices, ` +
      `one-to-one at ${rate} msg/s × ${settings.durationSeconds} s; paths: ${settings.paths.join(', ')}`,
  );
  log(`machine: ${machineLine({ machine } as BenchResults)}\n`);
  const recorded: AwsModelResults['settings'] = {
    users,
    devicesPerUser: settings.devicesPerUser,
    rate,
    targetRate: settings.targetRate,
    targetConversations: settings.users / 2,
    durationSeconds: settings.durationSeconds,
    seed: settings.seed,
    coldStartRate: settings.coldStartRate,
  };
  const floor = await measureFloor({ ...settings, users });
  log(
    `· floor (plain relay): p50 ${floor.receive.p50.toFixed(1)} ms, p99 ${floor.receive.p99.toFixed(1)} ms`,
  );
  const paths: PathFigures[] = [];
  for (const path of settings.paths) {
    const figures = await runPath({ ...settings, users }, path, log);
    paths.push(figures);
    log(`· ${modelledLine(figures, recorded)}`);
    log(`  measured locally, model off: ${briefLatency(figures.local)} (${path} path)`);
  }
  const results: AwsModelResults = {
    date: new Date().toISOString(),
    durationSeconds: (now() - startedAt) / 1000,
    machine,
    settings: recorded,
    floor,
    hops: AWS_HOPS,
    hopModelAlone: Object.fromEntries(
      DELIVERY_PATHS.map((path) => [
        path,
        distribution(sampleCriticalPath(path, settings.seed, HOP_MODEL_SAMPLES, settings.coldStartRate)),
      ]),
    ) as Record<DeliveryPath, Distribution>,
    paths,
  };
  log('');
  for (const table of awsModelTables(results)) log(`${renderText(table)}\n`);
  for (const figures of paths) log(modelledLine(figures, recorded));
  const written = writeAwsModelResults(results, settings.resultsDir);
  log(`\nwrote ${written.join(', ')} (${results.durationSeconds.toFixed(0)} s in all)`);
}

const briefLatency = (figures: ClientFigures) =>
  `p50 ${figures.receive.p50.toFixed(1)} ms, p99 ${figures.receive.p99.toFixed(1)} ms`;

/** The plain WebSocket relay (`relay.ts`) under the same devices and rate: what the machine and the clients cost. */
async function measureFloor(settings: BenchSettings): Promise<ClientFigures> {
  const load = LoadGenerator.start();
  let relay: RunningRelay | undefined;
  try {
    relay = await startRelay();
    const devices = deviceIdsOf(settings).map(({ userId, deviceId }) => ({
      userId,
      deviceId,
      query: { userId, deviceId },
    }));
    await load.connect(relay.url, devices);
    const result = await load.run({
      tag: 'floor',
      rate: settings.modelRate,
      durationMs: settings.durationSeconds * 1000,
      seed: settings.seed + settings.modelRate,
      bodyChars: settings.bodyChars,
      drainTimeoutMs: settings.drainSeconds * 1000,
      coverAllPairs: false,
    });
    await load.disconnect();
    return analyzeClient(result, devices);
  } finally {
    await load.stop().catch(() => undefined);
    await relay?.stop().catch(() => undefined);
  }
}

/** One path on a stack of its own, the fast path switched by the stack's environment. */
async function runPath(
  settings: BenchSettings,
  path: DeliveryPath,
  log: (line: string) => void,
): Promise<PathFigures> {
  const previous = process.env[FAST_PATH_SWITCH];
  // The stream path switches the fast path off; the fast path keeps a limit set above 0.
  const fastLimit = previous && previous !== '0' ? previous : String(DEFAULT_FAST_PATH_MAX_CONNECTIONS);
  process.env[FAST_PATH_SWITCH] = path === 'stream' ? '0' : fastLimit;
  const model = createAwsModel(settings.seed, settings.coldStartRate);
  const load = LoadGenerator.start();
  let stack: RunningLocalStack | undefined;
  const stopAll = async () => {
    await load.stop().catch(() => undefined);
    await stack?.stop().catch(() => undefined);
    if (previous === undefined) delete process.env[FAST_PATH_SWITCH];
    else process.env[FAST_PATH_SWITCH] = previous;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    log(`\n${signal}: stopping`);
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    const probes = new Probes();
    stack = await startProbedStack(probes, 0, model.hopDelays);
    const devices = await devicesOf(settings, stack);
    await load.connect(stack.url, devices, 8);
    const drainTimeoutMs = settings.drainSeconds * 1000;
    const common = { seed: settings.seed, bodyChars: settings.bodyChars, drainTimeoutMs };
    // Warm up: every conversation has its first message and its list entries before the measure.
    await load.run({ ...common, tag: `${path}-warm`, rate: 25, durationMs: 4000, coverAllPairs: true });
    await probes.settle();
    model.setEnabled(false);
    const local = analyzeClient(
      await load.run({
        ...common,
        tag: `${path}-local`,
        rate: settings.modelRate,
        durationMs: settings.durationSeconds * 1000,
        seed: settings.seed + settings.modelRate + 1,
        coverAllPairs: false,
      }),
      devices,
    );
    await probes.settle();
    model.setEnabled(true);
    const before = model.counts();
    const slowerBefore = model.engineSlower();
    const result = await load.run({
      ...common,
      tag: `${path}-model`,
      rate: settings.modelRate,
      durationMs: settings.durationSeconds * 1000,
      seed: settings.seed + settings.modelRate,
      coverAllPairs: false,
    });
    const after = model.counts();
    const draws = Object.fromEntries(
      Object.entries(after).map(([id, count]) => [id, count - (before[id as HopId] ?? 0)]),
    ) as PathFigures['draws'];
    const slowerAfter = model.engineSlower();
    const engineSlower = Object.fromEntries(
      Object.entries(slowerAfter).map(([id, count]) => [id, count - (slowerBefore[id as HopId] ?? 0)]),
    );
    await load.disconnect();
    return { path, client: analyzeClient(result, devices), local, draws, engineSlower };
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    await stopAll();
  }
}

/** Every user's devices, users in pairs (user 2k with user 2k+1), as the plain run makes them. */
function deviceIdsOf(settings: BenchSettings): Array<{ userId: string; deviceId: string }> {
  const userIds = Array.from({ length: settings.users }, (_, i) => `u${String(i).padStart(3, '0')}`);
  const deviceIds = Array.from(
    { length: settings.devicesPerUser },
    (_, i) => ['phone', 'laptop', 'tablet', 'watch'][i] ?? `device${i}`,
  );
  return userIds.flatMap((userId) => deviceIds.map((deviceId) => ({ userId, deviceId })));
}

async function devicesOf(settings: BenchSettings, stack: RunningLocalStack): Promise<DeviceSpec[]> {
  const secret = stack.config.tokens.secret ?? LOCAL_JWT_SECRET;
  const tokens = new Map<string, string>();
  const devices = deviceIdsOf(settings);
  for (const { userId } of devices) {
    if (!tokens.has(userId)) tokens.set(userId, await mintToken(userId, secret));
  }
  return devices.map(({ userId, deviceId }) => ({
    userId,
    deviceId,
    query: { token: tokens.get(userId) as string, deviceId },
  }));
}

function writeAwsModelResults(results: AwsModelResults, directory: string): string[] {
  const [hops, figures, alone, local] = awsModelTables(results) as [Table, Table, Table, Table];
  const modelled = {
    ...figures,
    title: `${figures.title}. The local stack with every AWS hop delayed as the model says`,
  };
  return writeTablesAndJson(
    directory,
    'aws-model',
    results,
    [hops, modelled, alone, local],
    [...results.paths.map((path) => `- ${modelledLine(path, results.settings)}`), ''],
  );
}
