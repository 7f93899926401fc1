import { GROUP_MAX_MEMBERS } from '@parley/protocol';
import type { DynamoDbCapacityPricing } from './cost.js';

/**
 * What `npm run bench` measures, from the environment. Every variable has a default that
 * keeps the whole run under about five minutes on a 2-core machine.
 */

export interface BenchSettings {
  /** Users, paired into fixed conversations (user 2k with user 2k+1). */
  users: number;
  /** Devices each user connects. */
  devicesPerUser: number;
  /** Offered send rates, messages a second, lowest first. */
  rates: number[];
  /** How long each rate is held. */
  durationSeconds: number;
  /** How long to wait after the last send for the last delivery before calling a rate failed. */
  drainSeconds: number;
  /** Characters in each message body. */
  bodyChars: number;
  /**
   * The rate the handler CPU attribution runs at (a phase of its own, after the ladder); by
   * default the highest rate Parley sustained, else the lowest rate, so that lost seq races
   * and a backlog do not count as the cost of a message.
   */
  cpuRate: number | undefined;
  cpuSeconds: number;
  /**
   * The cost phase: messages at this rate for this long, each acked `delivered` and `read`
   * by a device of its recipient, whose counts per message price the cost table (0 s skips
   * it, and the cost is priced from the target rate, without receipts).
   */
  costRate: number;
  costSeconds: number;
  /** Conversation histories the catch-up is measured against. */
  histories: number[];
  /** Messages the catching-up device missed. */
  missed: number;
  /** Seed of the random choice of pair, direction and device. */
  seed: number;
  floor: boolean;
  catchUp: boolean;
  /** Where latest.json and latency.svg go. */
  resultsDir: string;
  /** The rate and device count the latency targets are stated for. */
  targetRate: number;
  /**
   * How long after a put the stream's consumers get a record (the local stack's
   * `streamDelayMs`): 0 measures the local stream as it is, about 70 models the enhanced
   * fan-out hop of AWS.
   */
  streamDelayMs: number;
  /** The group phase (`--groups`): member counts of its groups, and messages measured in each. */
  groupSizes: number[];
  groupMessages: number;
  /** `--aws-model`: the delivery paths measured, each on a stack of its own. */
  paths: DeliveryPath[];
  /** `--aws-model`: the share of invocations that are cold starts. */
  coldStartRate: number;
  /**
   * `--aws-model`: the rate it runs at, lower than the target rate because the local engines
   * on a small machine do not sustain the target; the conversations are fewer in proportion,
   * so that each conversation gets the messages it gets at the target rate.
   */
  modelRate: number;
  /** How the cost table prices DynamoDB: on demand, or provisioned at a target utilisation. */
  dynamodbCapacity: DynamoDbCapacityPricing;
}

/**
 * How a message reaches the recipient's devices: through the stream and the fanout function,
 * or posted by `send` itself (the fast path, `FAST_PATH_MAX_CONNECTIONS` > 0 in the stack's
 * environment; 0 switches it off).
 */
export type DeliveryPath = 'stream' | 'fast';

export const DELIVERY_PATHS: readonly DeliveryPath[] = ['stream', 'fast'];

/** What `npm run bench` was asked to do, from its arguments. */
export type BenchMode = 'help' | 'groups' | 'render' | 'aws-model' | 'flood' | 'full';

/** The mode its arguments ask for; the first of `--help`, `--groups`, `--render`, `--aws-model`, `--flood` wins. */
export function readMode(argv: readonly string[]): BenchMode {
  const known: BenchMode[] = ['help', 'groups', 'render', 'aws-model', 'flood'];
  const unknown = argv.find((arg) => arg.startsWith('--') && !known.includes(arg.slice(2) as BenchMode));
  if (unknown) throw new RangeError(`unknown option ${unknown}: try --help`);
  return known.find((mode) => argv.includes(`--${mode}`)) ?? 'full';
}

export const ENVIRONMENT_VARIABLES: ReadonlyArray<{ name: string; fallback: string; meaning: string }> = [
  { name: 'BENCH_USERS', fallback: '100', meaning: 'users, in fixed pairs (one conversation per pair)' },
  { name: 'BENCH_DEVICES', fallback: '2', meaning: 'devices (connections) per user' },
  { name: 'BENCH_RATES', fallback: '10,25,50,100,200', meaning: 'offered rates, messages a second' },
  { name: 'BENCH_DURATION_S', fallback: '10', meaning: 'seconds each rate is held' },
  { name: 'BENCH_DRAIN_S', fallback: '20', meaning: 'longest wait for the last delivery of a rate' },
  { name: 'BENCH_BODY_CHARS', fallback: '100', meaning: 'characters in each message body' },
  {
    name: 'BENCH_CPU_RATE',
    fallback: 'sustained',
    meaning: 'rate of the handler CPU attribution phase (default: highest rate sustained)',
  },
  { name: 'BENCH_CPU_S', fallback: '5', meaning: 'seconds of the handler CPU attribution phase' },
  {
    name: 'BENCH_COST_RATE',
    fallback: '50',
    meaning: 'rate of the cost phase (messages acked as §1 assumes)',
  },
  { name: 'BENCH_COST_S', fallback: '10', meaning: 'seconds of the cost phase (0 skips it)' },
  { name: 'BENCH_HISTORIES', fallback: '1000,100000', meaning: 'conversation histories for the catch-up' },
  { name: 'BENCH_MISSED', fallback: '10', meaning: 'messages missed before the catch-up' },
  { name: 'BENCH_SEED', fallback: '1', meaning: 'seed of the random senders, peers and devices' },
  { name: 'BENCH_FLOOR', fallback: '1', meaning: '0 skips the plain WebSocket relay (the floor)' },
  { name: 'BENCH_CATCH_UP', fallback: '1', meaning: '0 skips the catch-up measurement' },
  { name: 'BENCH_RESULTS_DIR', fallback: 'bench/results', meaning: 'where latest.json and latency.svg go' },
  {
    name: 'BENCH_STREAM_DELAY_MS',
    fallback: '0',
    meaning: 'ms from a put to the stream consumers; 70 models AWS enhanced fan-out',
  },
  {
    name: 'BENCH_GROUP_SIZES',
    fallback: '8,256,1024',
    meaning: '--groups: members of each group (two devices each)',
  },
  { name: 'BENCH_GROUP_MESSAGES', fallback: '20', meaning: '--groups: messages measured in each group' },
  {
    name: 'BENCH_PATHS',
    fallback: 'stream,fast',
    meaning: '--aws-model: delivery paths, stream and/or fast',
  },
  {
    name: 'BENCH_MODEL_RATE',
    fallback: '20',
    meaning: '--aws-model: msg/s, over proportionally fewer conversations than the target',
  },
  {
    name: 'BENCH_DYNAMODB_CAPACITY',
    fallback: 'on-demand',
    meaning: 'how the cost table prices DynamoDB: on-demand or provisioned (auto-scaled)',
  },
  {
    name: 'BENCH_DYNAMODB_TARGET',
    fallback: '70',
    meaning: 'with provisioned: the % of capacity in use on average (20 to 90)',
  },
  {
    name: 'BENCH_COLD_START_RATE',
    fallback: '0.01',
    meaning: '--aws-model: share of invocations that are cold starts',
  },
];

/** The number in `environment[name]`, `fallback` when unset; a RangeError names the variable when it is not a number of at least `min`. */
export function readNumber(
  environment: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
): number {
  const text = environment[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min) {
    throw new RangeError(`${name}: must be a number of at least ${min}, not ${JSON.stringify(text)}`);
  }
  return value;
}

function readList(environment: NodeJS.ProcessEnv, name: string, fallback: number[]): number[] {
  const text = environment[name];
  if (text === undefined || text === '') return fallback;
  const values = text.split(',').map((part) => Number(part.trim()));
  if (values.length === 0 || values.some((value) => !Number.isFinite(value) || value <= 0)) {
    throw new RangeError(
      `${name}: must be a comma-separated list of positive numbers, not ${JSON.stringify(text)}`,
    );
  }
  return values;
}

function readGroupSizes(environment: NodeJS.ProcessEnv): number[] {
  const sizes = readList(environment, 'BENCH_GROUP_SIZES', [8, 256, 1024]).map(Math.floor);
  const wrong = sizes.find((size) => size < 2 || size > GROUP_MAX_MEMBERS);
  if (wrong !== undefined) {
    throw new RangeError(
      `BENCH_GROUP_SIZES: each size must be 2 to ${GROUP_MAX_MEMBERS} members, not ${wrong}`,
    );
  }
  return sizes.sort((a, b) => a - b);
}

function readPaths(environment: NodeJS.ProcessEnv): DeliveryPath[] {
  const text = environment.BENCH_PATHS;
  if (text === undefined || text === '') return [...DELIVERY_PATHS];
  const paths = text.split(',').map((part) => part.trim());
  const wrong = paths.find((path) => !DELIVERY_PATHS.includes(path as DeliveryPath));
  if (wrong !== undefined) {
    throw new RangeError(
      `BENCH_PATHS: each path must be ${DELIVERY_PATHS.join(' or ')}, not ${JSON.stringify(wrong)}`,
    );
  }
  return DELIVERY_PATHS.filter((path) => paths.includes(path));
}

function readShare(environment: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const share = readNumber(environment, name, fallback, 0);
  if (share > 1) throw new RangeError(`${name}: must be a share from 0 to 1, not ${share}`);
  return share;
}

function readDynamoDbCapacity(environment: NodeJS.ProcessEnv): DynamoDbCapacityPricing {
  const mode = environment.BENCH_DYNAMODB_CAPACITY || 'on-demand';
  if (mode !== 'on-demand' && mode !== 'provisioned') {
    throw new RangeError(
      `BENCH_DYNAMODB_CAPACITY: must be on-demand or provisioned, not ${JSON.stringify(mode)}`,
    );
  }
  const target = readNumber(environment, 'BENCH_DYNAMODB_TARGET', 70, 20);
  // Application Auto Scaling's bounds for a DynamoDB target, as the stack's setting has them.
  if (target > 90) throw new RangeError(`BENCH_DYNAMODB_TARGET: must be 20 to 90, not ${target}`);
  return mode === 'on-demand' ? { mode } : { mode, targetUtilizationPercent: target };
}

export function readSettings(environment: NodeJS.ProcessEnv = process.env): BenchSettings {
  const users = readNumber(environment, 'BENCH_USERS', 100, 2);
  if (users % 2 !== 0) throw new RangeError(`BENCH_USERS: must be even (users come in pairs), not ${users}`);
  return {
    users,
    devicesPerUser: Math.floor(readNumber(environment, 'BENCH_DEVICES', 2, 1)),
    rates: readList(environment, 'BENCH_RATES', [10, 25, 50, 100, 200]).sort((a, b) => a - b),
    durationSeconds: readNumber(environment, 'BENCH_DURATION_S', 10, 1),
    drainSeconds: readNumber(environment, 'BENCH_DRAIN_S', 20, 1),
    bodyChars: Math.floor(readNumber(environment, 'BENCH_BODY_CHARS', 100, 1)),
    cpuRate: environment.BENCH_CPU_RATE ? readNumber(environment, 'BENCH_CPU_RATE', 0, 1) : undefined,
    cpuSeconds: readNumber(environment, 'BENCH_CPU_S', 5, 0),
    costRate: readNumber(environment, 'BENCH_COST_RATE', 50, 1),
    costSeconds: readNumber(environment, 'BENCH_COST_S', 10, 0),
    histories: readList(environment, 'BENCH_HISTORIES', [1000, 100_000]).map(Math.floor),
    missed: Math.floor(readNumber(environment, 'BENCH_MISSED', 10, 1)),
    seed: Math.floor(readNumber(environment, 'BENCH_SEED', 1, 0)),
    floor: environment.BENCH_FLOOR !== '0',
    catchUp: environment.BENCH_CATCH_UP !== '0',
    resultsDir: environment.BENCH_RESULTS_DIR || 'bench/results',
    targetRate: 100,
    streamDelayMs: readNumber(environment, 'BENCH_STREAM_DELAY_MS', 0, 0),
    groupSizes: readGroupSizes(environment),
    groupMessages: Math.floor(readNumber(environment, 'BENCH_GROUP_MESSAGES', 20, 1)),
    paths: readPaths(environment),
    coldStartRate: readShare(environment, 'BENCH_COLD_START_RATE', 0.01),
    modelRate: readNumber(environment, 'BENCH_MODEL_RATE', 20, 1),
    dynamodbCapacity: readDynamoDbCapacity(environment),
  };
}
