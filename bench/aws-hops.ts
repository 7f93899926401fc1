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
  /** The source's key in docs/capacity.md (`S23`…), or 'unverified'. */
  source: string;
}

/** Keep in step with the table of docs/capacity.md §9. */
export const AWS_HOPS: readonly Hop[] = [
  { id: 'clientToGateway', name: 'device → API Gateway (one way)', p50: 15, p99: 60, source: 'unverified' },
  { id: 'gatewayToClient', name: 'API Gateway → device (one way)', p50: 15, p99: 60, source: 'unverified' },
  { id: 'invokeWarm', name: 'API Gateway → route Lambda, warm', p50: 8, p99: 25, source: 'unverified' },
  { id: 'coldStart', name: 'cold start, added to an invoke', p50: 250, p99: 800, source: 'S24' },
  { id: 'dynamodbRead', name: 'DynamoDB GetItem / Query', p50: 4, p99: 10, source: 'S14' },
  {
    id: 'dynamodbTransaction',
    name: 'DynamoDB TransactWriteItems / TransactGetItems',
    p50: 10,
    p99: 25,
    source: 'unverified',
  },
  {
    id: 'dynamodbWrite',
    name: 'DynamoDB PutItem / UpdateItem / DeleteItem / Batch*',
    p50: 6,
    p99: 15,
    source: 'S14',
  },
  { id: 'kinesisPut', name: 'Kinesis PutRecord / PutRecords', p50: 15, p99: 40, source: 'unverified' },
  {
    id: 'streamToConsumer',
    name: 'put → enhanced fan-out → consumer Lambda',
    p50: 49,
    p99: 109,
    source: 'S23',
  },
  { id: 'postToConnection', name: 'PostToConnection', p50: 10, p99: 30, source: 'unverified' },
];

/** Share of invocations that start a new execution environment ("under 1%", S24). */
export const DEFAULT_COLD_START_RATE = 0.01;

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
  const draw = (id: HopId): number => {
    counts[id] += 1;
    return (samplers.get(id) as () => number)();
  };
  // A cold start adds the new environment's start to the invoke it falls on.
  const coldStart = () => {
    if (coldRandom() >= coldStartRate) return 0;
    counts.coldStarts += 1;
    return draw('coldStart');
  };
  const byOperation = (table: Record<string, HopId>) => (operation: string) => {
    const id = table[operation];
    return id ? draw(id) : 0;
  };
  return {
    hopDelays: {
      clientToGateway: () => draw('clientToGateway'),
      gatewayToClient: () => draw('gatewayToClient'),
      invoke: () => draw('invokeWarm') + coldStart(),
      dynamodb: byOperation(DYNAMODB_HOPS),
      kinesis: byOperation(KINESIS_HOPS),
      streamToConsumer: () => draw('streamToConsumer') + coldStart(),
      postToConnection: () => draw('postToConnection'),
    },
    counts: () => ({ ...counts }),
  };
}
