/**
 * What a million messages would cost on AWS at list prices (`prices.ts`), line by line.
 *
 * The message path is priced from the counts the benchmark measured per message: frames,
 * route responses and posts, invocations by function, DynamoDB units and stored bytes by
 * table, stream records and their bytes, log lines and metric lines. With `assumptions`
 * (docs/capacity.md §1, `cost-assumptions.ts`) the estimate is all-in: each message's share
 * of the connection-minutes, keep-alives, pongs and reconnects is added, which a benchmark of
 * minutes cannot measure. docs/capacity.md §10 explains every line.
 */
import { FUNCTIONS, type FunctionId } from '../definitions/functions.js';
import { STREAM_CONSUMERS } from '../definitions/stream-consumers.js';
import type { PerMessage } from './analysis.js';
import {
  CAPACITY_ASSUMPTIONS,
  type CostAssumptions,
  LOG_LINE_EXAMPLES,
  PONG_FRAME,
} from './cost-assumptions.js';
import type { TableUnits } from './dynamodb-units.js';
import { blendedPrice, GB, PRICES, type Price, type PriceId, tierReached } from './prices.js';

export const SERVICES = ['API Gateway', 'Lambda', 'DynamoDB', 'Kinesis', 'CloudWatch Logs', 'Push'] as const;
export type Service = (typeof SERVICES)[number];

/** Where a line's count comes from: the run, docs/capacity.md §1, or both. */
export type Basis = 'measured' | 'assumed' | 'measured + assumed';

export interface CostLine {
  service: Service;
  item: string;
  /** How many units of `unit` a message uses. */
  perMessage: number;
  unit: string;
  usdPerMillion: number;
  basis: Basis;
}

/**
 * How DynamoDB's reads and writes are priced: per request unit on demand, or as capacity
 * provisioned with auto scaling, which keeps `targetUtilizationPercent` of it in use.
 */
export type DynamoDbCapacityPricing =
  | { mode: 'on-demand' }
  | { mode: 'provisioned'; targetUtilizationPercent: number };

export const ON_DEMAND: DynamoDbCapacityPricing = { mode: 'on-demand' };

/** The target the provisioned alternative of an on-demand estimate is priced at (the stack's default). */
export const DEFAULT_TARGET_UTILIZATION_PERCENT = 70;

/**
 * A price with volume tiers at section 1's monthly volume: the band reached and the price
 * used; `applied` false when the tiers are not verified and the first band was priced.
 */
export interface TierPriced {
  price: PriceId;
  monthlyVolume: number;
  per: string;
  tier: number;
  tiers: number;
  usdPerUnit: number;
  applied: boolean;
}

export interface CostEstimate {
  lines: CostLine[];
  usdPerMillion: number;
  byService: Record<Service, number>;
  /** Whether the assumed lines (connections, keep-alives, reconnects) are in. */
  allIn: boolean;
  /** How DynamoDB was priced; absent in results saved before it was a choice: on demand. */
  dynamodbCapacity?: DynamoDbCapacityPricing;
  /** The level of Lambda's own log records priced; absent in results saved before: INFO. */
  lambdaSystemLogLevel?: CostAssumptions['lambdaSystemLogLevel'];
  /** The prices with volume tiers, at section 1's volume (all-in only). */
  tiers?: TierPriced[];
  /**
   * With DynamoDB on demand, the same estimate with it provisioned at the default target, so
   * that both figures print together.
   */
  provisionedAlternative?: { targetUtilizationPercent: number; usdPerMillion: number };
}

/**
 * Dollars per request unit (on demand) or per consumed capacity unit (provisioned). A
 * capacity unit serves one unit a second: a unit consumed is 1 / 3,600 of a unit-hour, and
 * at a target of t % auto scaling keeps 100 / t unit-hours provisioned for each one used.
 */
export function dynamoDbUnitPrices(capacity: DynamoDbCapacityPricing): { write: number; read: number } {
  if (capacity.mode === 'on-demand')
    return { write: PRICES.dynamodbWrite.usd, read: PRICES.dynamodbRead.usd };
  const hoursPerUnit = 1 / 3_600 / (capacity.targetUtilizationPercent / 100);
  return {
    write: hoursPerUnit * PRICES.dynamodbWriteCapacityUnitHour.usd,
    read: hoursPerUnit * PRICES.dynamodbReadCapacityUnitHour.usd,
  };
}

const memoryGbOf = (functionId: FunctionId) =>
  (FUNCTIONS.find((definition) => definition.id === functionId)?.memoryMiB ?? 1024) / 1024;

const bytesOf = (text: string) => Buffer.byteLength(text) + 1;
const PLATFORM_LINE_BYTES =
  bytesOf(LOG_LINE_EXAMPLES.platformStart) + bytesOf(LOG_LINE_EXAMPLES.platformReport);

/** Bytes of Lambda's own records an invocation writes at a system log level (DEBUG priced as INFO). */
const platformBytesAt = (level: CostAssumptions['lambdaSystemLogLevel']) =>
  level === 'WARN' ? 0 : PLATFORM_LINE_BYTES;
const ACCESS_LOG_LINE_BYTES = bytesOf(LOG_LINE_EXAMPLES.accessLog);

/** The share of a message in what a day of the assumed load invokes, writes and reads beyond the message path. */
function beyondMessagePath(assumptions: CostAssumptions, allIn: boolean) {
  if (!allIn)
    return { keepAlives: 0, pongs: 0, reconnects: 0, invocations: 0, accessLogLines: 0, pongBytes: 0 };
  const keepAlives = assumptions.keepAlivesPerMessage;
  const pongs = assumptions.pongsPerMessage;
  const reconnects = assumptions.reconnectsPerMessage;
  return {
    keepAlives,
    pongs,
    reconnects,
    // A keep-alive invokes nothing: API Gateway serves it (docs/adr/0009-keep-alive.md).
    invocations: reconnects * assumptions.reconnect.functions.length,
    // Each keep-alive is a frame in; each reconnect a CONNECT and a DISCONNECT event.
    accessLogLines: keepAlives + 2 * reconnects,
    pongBytes: pongs * (Buffer.byteLength(PONG_FRAME) + assumptions.frameOverheadBytes),
  };
}

/** Adds lines of one service: `count` units a message at `price` (a price id, or dollars a unit). */
type AddLine = (item: string, count: number, unit: string, price: PriceId | number, basis?: Basis) => void;

function lineAdder(lines: CostLine[], service: Service): AddLine {
  return (item, count, unit, price, basis = 'measured') => {
    if (!Number.isFinite(count) || count === 0) return;
    const usd = typeof price === 'number' ? price : PRICES[price].usd;
    lines.push({ service, item, perMessage: count, unit, usdPerMillion: count * usd * 1e6, basis });
  };
}

/** What every service's lines are priced from. */
interface Pricing {
  perMessage: PerMessage;
  extra: ReturnType<typeof beyondMessagePath>;
  assumptions: CostAssumptions;
  allIn: boolean;
  /** Dollars a DynamoDB write and read unit, in the capacity mode priced. */
  dynamodb: { write: number; read: number };
  capacity: DynamoDbCapacityPricing;
  /** Dollars a Lambda GB-second: the list price, or blended over its volume tiers all-in. */
  lambdaGbSecond: number;
  /** What the Lambda lines say of the tier their GB-seconds were priced at; empty at the first. */
  lambdaTierNote: string;
}

const durationMsOf = (functionId: FunctionId, assumptions: CostAssumptions) =>
  assumptions.warmDurationMs[functionId] ?? assumptions.otherDurationMs;

/** GB-seconds of one warm invocation of the function. */
const gbSecondsOf = (functionId: FunctionId, assumptions: CostAssumptions) =>
  (durationMsOf(functionId, assumptions) / 1000) * memoryGbOf(functionId);

/** A request and its warm duration at the function's memory. */
function lambdaUsd(functionId: FunctionId, assumptions: CostAssumptions, gbSecondUsd: number): number {
  return PRICES.lambdaRequest.usd + gbSecondsOf(functionId, assumptions) * gbSecondUsd;
}

function apiGatewayLines(add: AddLine, { perMessage, extra, assumptions, allIn }: Pricing) {
  const { posts, postBytes } = perMessage;
  const postUnits = posts * Math.max(1, Math.ceil(postBytes / posts / 32_768));
  add('frames in (send, acks)', perMessage.framesIn, 'messages', 'apiGatewayMessage');
  add('route responses (sent, acked)', perMessage.routeResponses, 'messages', 'apiGatewayMessage');
  add('@connections posts', postUnits, 'messages', 'apiGatewayMessage');
  if (allIn) {
    const minutes = assumptions.connectionMinutesPerMessage;
    const keepAliveMessages = extra.keepAlives + extra.pongs;
    add(
      'keep-alive: keepalive or ping + pong',
      keepAliveMessages,
      'messages',
      'apiGatewayMessage',
      'assumed',
    );
    add('connection-minutes', minutes, 'minutes', 'apiGatewayConnectionMinute', 'assumed');
  }
  const basis: Basis = allIn ? 'measured + assumed' : 'measured';
  const gbOut = bytesOutOf(perMessage, extra, assumptions) / GB;
  add('data transfer out (posts, responses, pongs)', gbOut, 'GB', 'dataTransferOutGb', basis);
}

/** The bytes a message sends to clients: posts, route responses, their framing, and its share of pongs. */
function bytesOutOf(
  perMessage: PerMessage,
  extra: ReturnType<typeof beyondMessagePath>,
  assumptions: CostAssumptions,
): number {
  const frames = perMessage.posts + perMessage.routeResponses;
  return (
    perMessage.postBytes +
    (perMessage.routeResponseBytes ?? 0) +
    frames * assumptions.frameOverheadBytes +
    extra.pongBytes
  );
}

function lambdaLines(
  add: AddLine,
  { perMessage, extra, assumptions, allIn, lambdaGbSecond, lambdaTierNote }: Pricing,
) {
  for (const functionId of Object.keys(perMessage.invocations) as FunctionId[]) {
    const durationMs = durationMsOf(functionId, assumptions);
    const memory = memoryGbOf(functionId) * 1024;
    const count = perMessage.invocations[functionId] ?? 0;
    add(
      `${functionId}: requests × ${durationMs} ms × ${memory} MB${lambdaTierNote}`,
      count,
      'invocations',
      lambdaUsd(functionId, assumptions, lambdaGbSecond),
    );
  }
  if (!allIn) return;
  const { functions } = assumptions.reconnect;
  const reconnectUsd = functions.reduce((total, id) => total + lambdaUsd(id, assumptions, lambdaGbSecond), 0);
  add(
    `reconnects: ${functions.join(', ')}${lambdaTierNote}`,
    extra.reconnects,
    'reconnects',
    reconnectUsd,
    'assumed',
  );
}

/** The Lambda GB-seconds a message uses: its invocations and, all-in, its share of reconnects. */
function gbSecondsPerMessage(
  perMessage: PerMessage,
  assumptions: CostAssumptions,
  reconnects: number,
): number {
  const invoked = (Object.keys(perMessage.invocations) as FunctionId[]).reduce(
    (total, id) => total + (perMessage.invocations[id] ?? 0) * gbSecondsOf(id, assumptions),
    0,
  );
  const reconnecting = assumptions.reconnect.functions.reduce(
    (total, id) => total + gbSecondsOf(id, assumptions),
    0,
  );
  return invoked + reconnects * reconnecting;
}

/**
 * A tiered price at section 1's volume: `perMessage` units a message, times the messages of a
 * month, shared between the payer accounts (and the Regions, for a tier counted per Region).
 */
export function tierPriced(
  price: PriceId,
  perMessage: number,
  assumptions: CostAssumptions,
): TierPriced | undefined {
  const { tiers } = PRICES[price] as Price;
  if (!tiers) return undefined;
  const { payerAccounts, regions, daysPerMonth } = assumptions.billing;
  const bills = payerAccounts * (tiers.perRegion ? regions : 1);
  const monthlyVolume = (perMessage * assumptions.messagesPerDay * daysPerMonth) / bills;
  return {
    price,
    monthlyVolume,
    per: tiers.per,
    tier: tierReached(tiers, monthlyVolume),
    tiers: tiers.bands.length,
    usdPerUnit: tiers.verified ? blendedPrice(tiers, monthlyVolume) : PRICES[price].usd,
    applied: tiers.verified,
  };
}

/** What each table holds (definitions/tables.ts), to name its lines. */
const TABLE_CONTENTS: Partial<Record<string, string>> = {
  conversations: 'messages, idempotency keys, receipts',
  connections: 'open connections',
  'group-connections': "groups' open connections",
  'user-conversations': 'conversation lists, blocks',
  presence: 'presence',
  'presence-subscriptions': 'presence subscriptions',
  'rate-limits': 'per-user rate counters',
  'push-devices': 'push registrations and windows',
};

/** The functions that used the units, most first: `by fanout 28.00, send 2.00`. */
function usersOf(units: TableUnits, pick: (sum: { read: number; write: number }) => number): string {
  const users = Object.entries(units.byFunction ?? {})
    .map(([functionId, sum]) => [functionId, pick(sum)] as const)
    .filter(([, count]) => count > 0)
    .sort(([, a], [, b]) => b - a);
  return users.length ? ` by ${users.map(([id, count]) => `${id} ${count.toFixed(2)}`).join(', ')}` : '';
}

function dynamoDbLines(add: AddLine, { perMessage, extra, assumptions, allIn, dynamodb, capacity }: Pricing) {
  // The same units either way: on demand bills them as request units, provisioned as the
  // capacity units they consume.
  const [writeUnit, readUnit] = capacity.mode === 'on-demand' ? ['WRU', 'RRU'] : ['WCU', 'RCU'];
  for (const [table, units] of Object.entries(perMessage.dynamodb)) {
    const contents = TABLE_CONTENTS[table] ? ` (${TABLE_CONTENTS[table]})` : '';
    add(
      `${table} writes${contents}${usersOf(units, (sum) => sum.write)}`,
      units.write,
      writeUnit,
      dynamodb.write,
    );
    add(`${table} reads${contents}${usersOf(units, (sum) => sum.read)}`, units.read, readUnit, dynamodb.read);
  }
  if (allIn) {
    const { writeUnits, readUnits } = assumptions.reconnect;
    const reconnectUsd = writeUnits * dynamodb.write + readUnits * dynamodb.read;
    const reconnects = `reconnects: ${writeUnits} ${writeUnit} + ${readUnits} ${readUnit} each`;
    add(reconnects, extra.reconnects, 'reconnects', reconnectUsd, 'assumed');
  }
  // Every message adds items for good (the message, its idempotency item); items with a
  // time-to-live are counted for one month, an upper bound for any expiry under 30 days.
  const conversations = perMessage.dynamodb.conversations;
  const kept = (conversations?.keptBytes ?? 0) * assumptions.storageMonths;
  const gbMonths = (kept + (conversations?.expiringBytes ?? 0)) / GB;
  const months = `${assumptions.storageMonths} months`;
  add(
    `storage of new items, ${months}`,
    gbMonths,
    'GB-months',
    'dynamodbStorageGbMonth',
    'measured + assumed',
  );
  add(
    `point-in-time recovery, ${months}`,
    gbMonths,
    'GB-months',
    'dynamodbPitrGbMonth',
    'measured + assumed',
  );
}

function kinesisLines(add: AddLine, { perMessage, assumptions, allIn }: Pricing) {
  if (allIn) {
    const streamHours = (assumptions.streams * 24) / assumptions.messagesPerDay;
    add('stream-hours (one stream per cell)', streamHours, 'stream-hours', 'kinesisStreamHour', 'assumed');
    const efoConsumers = STREAM_CONSUMERS.filter((consumer) => consumer.enhancedFanOut).length;
    const consumerShardHours = efoConsumers * assumptions.shardsPerStream * streamHours;
    add(
      'enhanced fan-out consumer-shard-hours',
      consumerShardHours,
      'hours',
      'kinesisEfoConsumerShardHour',
      'assumed',
    );
  }
  const billedKb = perMessage.kinesisBilledKb ?? perMessage.kinesisRecords;
  add('data in (records rounded up to 1 KB)', (billedKb * 1024) / GB, 'GB', 'kinesisDataInGb');
  // Lambda filters a consumer's events after reading them: every consumer reads every record.
  for (const consumer of STREAM_CONSUMERS) {
    const how = consumer.enhancedFanOut ? 'enhanced fan-out' : 'polling';
    const price = consumer.enhancedFanOut ? 'kinesisEfoRetrievalGb' : 'kinesisRetrievalGb';
    add(`${consumer.id} reads every record (${how})`, perMessage.kinesisBytes / GB, 'GB', price);
  }
}

/** Every invocation a message makes: measured, and all-in its share of the reconnects'. */
const invocationsOf = (perMessage: PerMessage, extra: ReturnType<typeof beyondMessagePath>) =>
  Object.values(perMessage.invocations).reduce((total, count) => total + (count ?? 0), 0) + extra.invocations;

function logLines(add: AddLine, { perMessage, extra, assumptions, allIn }: Pricing) {
  // At WARN Lambda writes no START or REPORT record: the line goes (a count of 0 adds none).
  const platform = invocationsOf(perMessage, extra) * platformBytesAt(assumptions.lambdaSystemLogLevel);
  const access = (perMessage.framesIn + extra.accessLogLines) * ACCESS_LOG_LINE_BYTES;
  const handler = perMessage.logBytes ?? 0;
  const emf = perMessage.metricBytes ?? 0;
  const basis: Basis = allIn ? 'measured + assumed' : 'measured';
  add('Lambda START and REPORT lines', platform / GB, 'GB', 'logsIngestionGb', basis);
  add('handler log lines (INFO and up)', handler / GB, 'GB', 'logsIngestionGb');
  add('EMF metric lines', emf / GB, 'GB', 'logsIngestionGb');
  add('API Gateway access log lines', access / GB, 'GB', 'logsIngestionGb', basis);
  const months = assumptions.logRetentionMonths;
  const stored = ((platform + access + handler + emf) / GB) * months;
  add(`storage of those lines, ${months} month(s)`, stored, 'GB-months', 'logsStorageGbMonth', basis);
}

/**
 * The push work for devices not connected, per device attempted (docs/capacity.md §10, "Push"):
 * its coalescing window's PutItem (1 WRU, a refused conditional put bills it too) and a Query
 * of the recipient's connections (0.5 RRU) for each; for each push sent, the read watermark
 * (GetItem, 0.5 RRU), the SNS delivery or the Web Push request's bytes out (the browsers'
 * push services charge nothing), and the notifier's wait on the answer.
 */
function pushLines(add: AddLine, { assumptions, dynamodb }: Pricing) {
  const push = assumptions.push;
  if (!push) return;
  const sentShare = 1 - push.coalescedShare;
  const notifierGb = memoryGbOf('push-notifier');
  const usdPerDevice =
    dynamodb.write +
    0.5 * dynamodb.read +
    sentShare *
      (0.5 * dynamodb.read +
        push.mobileShare * PRICES.snsMobilePush.usd +
        ((1 - push.mobileShare) * push.webPushBytes * PRICES.dataTransferOutGb.usd) / GB +
        (push.waitPerPushMs / 1000) * notifierGb * PRICES.lambdaGbSecond.usd);
  add('push (offline devices)', push.offlineDevicesPerMessage, 'devices', usdPerDevice, 'assumed');
}

export interface CostOptions {
  /** Add each message's share of connections, keep-alives, reconnects and stream-hours. Default true. */
  allIn?: boolean;
  assumptions?: CostAssumptions;
  /** On demand (the default) or provisioned at a target utilisation. */
  dynamodbCapacity?: DynamoDbCapacityPricing;
}

/**
 * Prices `perMessage`: each line is the count a message uses times its unit price, times
 * a million; all-in unless `allIn` is false (the message path alone, as the group phase prices it).
 *
 * @example
 * const { usdPerMillion } = estimateCost(results.perMessage);
 */
export function estimateCost(perMessage: PerMessage, options: CostOptions = {}): CostEstimate {
  const { allIn = true, assumptions = CAPACITY_ASSUMPTIONS, dynamodbCapacity = ON_DEMAND } = options;
  const lines: CostLine[] = [];
  const extra = beyondMessagePath(assumptions, allIn);
  // Volume tiers are reached at section 1's volume: all-in only; the message path alone (the
  // group phase) is priced at the first tier, so that it compares with itself.
  const tiers = allIn ? tiersAtScale(perMessage, extra, assumptions) : [];
  const lambdaTier = tiers.find((tier) => tier.price === 'lambdaGbSecond');
  const pricing: Pricing = {
    perMessage,
    extra,
    assumptions,
    allIn,
    dynamodb: dynamoDbUnitPrices(dynamodbCapacity),
    capacity: dynamodbCapacity,
    lambdaGbSecond: lambdaTier?.usdPerUnit ?? PRICES.lambdaGbSecond.usd,
    lambdaTierNote:
      lambdaTier && lambdaTier.tier > 1
        ? ` (GB-s to tier ${lambdaTier.tier} of ${lambdaTier.tiers}, blended)`
        : '',
  };
  apiGatewayLines(lineAdder(lines, 'API Gateway'), pricing);
  lambdaLines(lineAdder(lines, 'Lambda'), pricing);
  dynamoDbLines(lineAdder(lines, 'DynamoDB'), pricing);
  kinesisLines(lineAdder(lines, 'Kinesis'), pricing);
  logLines(lineAdder(lines, 'CloudWatch Logs'), pricing);
  pushLines(lineAdder(lines, 'Push'), pricing);
  const byService = Object.fromEntries(SERVICES.map((service) => [service, 0])) as Record<Service, number>;
  for (const line of lines) byService[line.service] += line.usdPerMillion;
  const usdPerMillion = lines.reduce((total, line) => total + line.usdPerMillion, 0);
  const described = {
    lines,
    usdPerMillion,
    byService,
    allIn,
    dynamodbCapacity,
    lambdaSystemLogLevel: assumptions.lambdaSystemLogLevel,
    ...(allIn ? { tiers } : {}),
  };
  if (dynamodbCapacity.mode === 'provisioned') return described;
  const targetUtilizationPercent = DEFAULT_TARGET_UTILIZATION_PERCENT;
  const provisioned = estimateCost(perMessage, {
    ...options,
    dynamodbCapacity: { mode: 'provisioned', targetUtilizationPercent },
  });
  return {
    ...described,
    provisionedAlternative: { targetUtilizationPercent, usdPerMillion: provisioned.usdPerMillion },
  };
}

/**
 * Each price with volume tiers at section 1's monthly volume, from the units a message uses
 * of it: the Lambda GB-seconds, the WebSocket messages (frames in, answers, posts,
 * keep-alives and pongs), the bytes out, and the bytes of Lambda's logs.
 */
function tiersAtScale(
  perMessage: PerMessage,
  extra: ReturnType<typeof beyondMessagePath>,
  assumptions: CostAssumptions,
): TierPriced[] {
  const messages =
    perMessage.framesIn + perMessage.routeResponses + perMessage.posts + extra.keepAlives + extra.pongs;
  const bytesOut = bytesOutOf(perMessage, extra, assumptions);
  const lambdaLogBytes =
    invocationsOf(perMessage, extra) * platformBytesAt(assumptions.lambdaSystemLogLevel) +
    (perMessage.logBytes ?? 0) +
    (perMessage.metricBytes ?? 0);
  const units: Array<[PriceId, number]> = [
    ['lambdaGbSecond', gbSecondsPerMessage(perMessage, assumptions, extra.reconnects)],
    ['apiGatewayMessage', messages],
    ['dataTransferOutGb', bytesOut / GB],
    ['logsIngestionGb', lambdaLogBytes / GB],
  ];
  return units.flatMap(([price, count]) => tierPriced(price, count, assumptions) ?? []);
}
