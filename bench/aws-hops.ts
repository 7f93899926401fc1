/**
 * The model of AWS that `npm run bench -- --aws-model` runs the local stack under: each hop's
 * p50 and p99 (sources and dates in docs/capacity.md §9), fitted to log-normals, and the
 * delays the local stack's parts draw from them (`local/latency/hop-delays.ts`).
 */
import type { HopDelays } from '../local/latency/hop-delays.js';
import { fitLogNormal, type LogNormal, sampleLogNormal } from './log-normal.js';
import { seededRandom } from './seeded-random.js';

export type HopId =
  | 'clientToGateway'
  | 'gatewayToClient'
  | 'invokeWarm'
  | 'coldStart'
  | 'dynamodbRead'
  | 'dynamodbTransaction'
  | 'dynamodbWrite'
  | 'kinesisPut'
  | 'streamToConsumer'
  | 'postToConnection';

export interface Hop {
  id: HopId;
  /** What the hop is, as the table of docs/capacity.md §9 names it. */
  name: string;
  p50: number;
  p99: number;
  /** The source's key in docs/capacity.md §9 (`L1`…), and what it does not confirm. */
  source: string;
}

/**
 * Keep in step with the table of docs/capacity.md §9, which gives each figure's source and
 * says which are unverified.
 */
export const AWS_HOPS: readonly Hop[] = [
  hop('clientToGateway', 'device → API Gateway (one way)', 15, 60, 'unverified'),
  hop('gatewayToClient', 'API Gateway → device (one way)', 15, 60, 'unverified'),
  hop('invokeWarm', 'API Gateway or the stream → Lambda handler, warm', 8, 25, 'unverified'),
  hop('coldStart', 'cold start, added to an invoke', 300, 900, 'L2'),
  hop('dynamodbRead', 'DynamoDB GetItem / Query', 4, 10, 'L4 (mean); p99 unverified'),
  hop('dynamodbTransaction', 'DynamoDB TransactWriteItems / TransactGetItems', 10, 25, 'unverified'),
  hop('dynamodbWrite', 'DynamoDB Put/Update/DeleteItem, Batch*', 6, 15, 'L4 (mean); p99 unverified'),
  hop('kinesisPut', 'Kinesis PutRecord / PutRecords', 15, 40, 'unverified'),
  hop('streamToConsumer', 'put → enhanced fan-out push', 66, 147, 'L1 (mean 70); spread unverified'),
  hop('postToConnection', 'PostToConnection', 10, 30, 'unverified'),
];

/** Share of invocations that start a new execution environment ("under 1%", L3): its upper bound. */
export const DEFAULT_COLD_START_RATE = 0.01;

function hop(id: HopId, name: string, p50: number, p99: number, source: string): Hop {
  return { id, name, p50, p99, source };
}

const DYNAMODB_HOPS: Record<string, HopId> = {
  GetItem: 'dynamodbRead',
  Query: 'dynamodbRead',
  TransactWriteItems: 'dynamodbTransaction',
  TransactGetItems: 'dynamodbTransaction',
  PutItem: 'dynamodbWrite',
  UpdateItem: 'dynamodbWrite',
  DeleteItem: 'dynamodbWrite',
  BatchGetItem: 'dynamodbWrite',
  BatchWriteItem: 'dynamodbWrite',
};

const KINESIS_HOPS: Record<string, HopId> = { PutRecord: 'kinesisPut', PutRecords: 'kinesisPut' };

export interface AwsModel {
  hopDelays: HopDelays;
  /** How many delays each hop drew, and how many cold starts: to print with the figures. */
  counts(): Record<HopId | 'coldStarts', number>;
  /** Per hop, the calls the local engine answered slower than the model wanted (its floor bound). */
  engineSlower(): Partial<Record<HopId, number>>;
  /** Off: every hop takes no added time and draws nothing, so the same stack measures the local figures. */
  setEnabled(enabled: boolean): void;
}

/**
 * The delays of the model, each hop drawing from its own seeded source so that a run draws the
 * same delays for each hop in the same order, whatever the other hops do. Calls the model has no
 * figure for (creating tables, reading the stream locally) take no added time.
 */
export function createAwsModel(seed: number, coldStartRate = DEFAULT_COLD_START_RATE): AwsModel {
  const counts = Object.fromEntries([...AWS_HOPS.map((hop) => [hop.id, 0]), ['coldStarts', 0]]) as Record<
    HopId | 'coldStarts',
    number
  >;
  const samplers = new Map<HopId, () => number>(
    AWS_HOPS.map((hop, index) => {
      const distribution: LogNormal = fitLogNormal(hop.p50, hop.p99);
      const random = seededRandom(seed * 31 + index);
      return [hop.id, () => sampleLogNormal(distribution, random)];
    }),
  );
  const coldRandom = seededRandom(seed * 31 + AWS_HOPS.length);
  let enabled = true;
  const draw = (id: HopId): number => {
    if (!enabled) return 0;
    counts[id] += 1;
    return (samplers.get(id) as () => number)();
  };
  // A cold start adds the new environment's start to the invoke it falls on.
  const coldStart = () => {
    if (!enabled || coldRandom() >= coldStartRate) return 0;
    counts.coldStarts += 1;
    return draw('coldStart');
  };
  const byOperation = (table: Record<string, HopId>) => (operation: string) => {
    const id = table[operation];
    return id ? draw(id) : 0;
  };
  const engineSlower: Partial<Record<HopId, number>> = {};
  const hopOf = { dynamodb: DYNAMODB_HOPS, kinesis: KINESIS_HOPS };
  return {
    hopDelays: {
      clientToGateway: () => draw('clientToGateway'),
      gatewayToClient: () => draw('gatewayToClient'),
      invoke: () => draw('invokeWarm') + coldStart(),
      dynamodb: byOperation(DYNAMODB_HOPS),
      kinesis: byOperation(KINESIS_HOPS),
      // The mapping invokes the consumer once the push arrives: a Lambda invoke of its own.
      streamToConsumer: () => draw('streamToConsumer') + draw('invokeWarm') + coldStart(),
      postToConnection: () => draw('postToConnection'),
      observeEngine: (engine, operation, engineMs, modelledMs) => {
        const id = hopOf[engine][operation];
        if (enabled && id && engineMs > modelledMs) engineSlower[id] = (engineSlower[id] ?? 0) + 1;
      },
    },
    counts: () => ({ ...counts }),
    engineSlower: () => ({ ...engineSlower }),
    setEnabled: (on) => {
      enabled = on;
    },
  };
}

/**
 * The hops one delivery waits on, in the order the code takes them (docs/capacity.md §9):
 * a list is a hop; an inner list is hops made in parallel, of which the slowest counts.
 * `send` takes the caller's rate limit (an UpdateItem of its counter) while it reads the
 * conversation's blocks (a BatchGetItem) and its last seq (a warm function that remembers
 * it skips that read, which this leaves in: the figure is for a cold cache); on the fast
 * path it reads both members' connections in the same round, before the claim. The fanout
 * reads the connections of both members at once.
 */
export const CRITICAL_PATHS: Record<'stream' | 'fast', ReadonlyArray<HopId | 'invoke' | HopId[]>> = {
  stream: [
    'clientToGateway',
    'invoke',
    ['dynamodbWrite', 'dynamodbWrite', 'dynamodbRead'],
    'dynamodbTransaction',
    'kinesisPut',
    'streamToConsumer',
    ['dynamodbRead', 'dynamodbRead'],
    'postToConnection',
    'gatewayToClient',
  ],
  fast: [
    'clientToGateway',
    'invoke',
    ['dynamodbWrite', 'dynamodbWrite', 'dynamodbRead', 'dynamodbRead', 'dynamodbRead'],
    'dynamodbTransaction',
    'postToConnection',
    'gatewayToClient',
  ],
};

/**
 * The hop model alone, without the local stack: `samples` deliveries along a critical path,
 * each hop drawn from its distribution. No local engine sets a floor here, so this is the
 * model's own figure; the run through the local stack checks it against the real code.
 */
export function sampleCriticalPath(
  path: keyof typeof CRITICAL_PATHS,
  seed: number,
  samples: number,
  coldStartRate = DEFAULT_COLD_START_RATE,
): number[] {
  const { hopDelays } = createAwsModel(seed, coldStartRate);
  const one = (hop: HopId | 'invoke'): number => {
    if (hop === 'invoke') return hopDelays.invoke('send');
    if (hop === 'streamToConsumer') return hopDelays.streamToConsumer();
    return drawHop(hopDelays, hop);
  };
  return Array.from({ length: samples }, () =>
    CRITICAL_PATHS[path].reduce<number>(
      (total, step) => total + (Array.isArray(step) ? Math.max(...step.map(one)) : one(step)),
      0,
    ),
  );
}

/** One draw of a hop through the delays the local stack uses, so that both count the same. */
function drawHop(hopDelays: HopDelays, hop: HopId): number {
  switch (hop) {
    case 'dynamodbRead':
      return hopDelays.dynamodb('Query');
    case 'dynamodbTransaction':
      return hopDelays.dynamodb('TransactWriteItems');
    case 'dynamodbWrite':
      return hopDelays.dynamodb('UpdateItem');
    case 'kinesisPut':
      return hopDelays.kinesis('PutRecord');
    case 'clientToGateway':
      return hopDelays.clientToGateway();
    case 'gatewayToClient':
      return hopDelays.gatewayToClient();
    case 'postToConnection':
      return hopDelays.postToConnection();
    default:
      throw new RangeError(`${hop} is not drawn on its own`);
  }
}
