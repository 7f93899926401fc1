/**
 * Every list price the cost model uses (us-east-1, no free tier, no Savings Plans), each
 * with where it was read and when. docs/capacity.md §10 quotes the same figures: change a
 * price here and there together. AWS's pricing pages fill their rate tables in the browser,
 * so where the page as stored shows no figure, a third-party page quoting it is the source;
 * a figure no source confirmed is marked `verified: false` and **unverified** in the docs.
 */

export interface Price {
  usd: number;
  unit: string;
  source: string;
  /** The day the source was read. */
  read: string;
  verified: boolean;
  /**
   * AWS's volume tiers of this price, when it has them: `usd` is the first tier's. The model
   * applies them only when `verified` (the tiers' own source); otherwise it prices the first
   * tier and names the tiers it left out.
   */
  tiers?: VolumeTiers;
}

/** One band of a volume-tiered price: the units of a month past `from` cost `usd` each. */
export interface VolumeTier {
  from: number;
  usd: number;
}

export interface VolumeTiers {
  /** The bands, lowest first; the first starts at 0. */
  bands: readonly VolumeTier[];
  /** What the bands count, a month: `GB-seconds`, `messages`, `GB`. */
  per: string;
  /** Over what AWS adds up the month's units, as the source says or as assumed. */
  scope: string;
  /** The month's units are added up per Region (each Region of section 8 its own band). */
  perRegion: boolean;
  source: string;
  read: string;
  verified: boolean;
}

const READ = '2026-12-05';
/** Lambda's arm64 list price a GB-second: the first tier of its volume tiers. */
const LAMBDA_GB_SECOND_USD = 0.0000133334;

export const PRICES = {
  apiGatewayMessage: {
    usd: 1.0 / 1e6,
    unit: 'WebSocket message, either way, per 32 KB (first billion a month)',
    source: 'https://awsforengineers.com/blog/aws-api-gateway-pricing-explained (docs/capacity.md S3)',
    read: READ,
    verified: true,
    tiers: {
      bands: [
        { from: 0, usd: 1.0 / 1e6 },
        { from: 1e9, usd: 0.8 / 1e6 },
      ],
      per: 'messages',
      scope: 'account, a month',
      perRegion: false,
      // AWS's page renders its rate table in the browser; its worked examples, as stored
      // (docs/capacity.md S3), give only $1.00. The $0.80 is third parties' figure.
      source:
        'third-party summaries only; https://aws.amazon.com/api-gateway/pricing/ shows no figure as stored',
      read: READ,
      verified: false,
    },
  },
  apiGatewayConnectionMinute: {
    usd: 0.25 / 1e6,
    unit: 'WebSocket connection-minute',
    source:
      'https://raw.githubusercontent.com/api-evangelist/amazon-web-services/refs/heads/main/plans/amazon-web-services-plans-pricing.yml (docs/capacity.md S3)',
    read: READ,
    verified: true,
  },
  dataTransferOutGb: {
    usd: 0.09,
    unit: 'GB from API Gateway to the internet (first 10 TB a month)',
    source: 'https://awsforengineers.com/blog/aws-api-gateway-pricing-explained (docs/capacity.md S23)',
    read: READ,
    verified: true,
    tiers: {
      bands: [
        { from: 0, usd: 0.09 },
        { from: 10 * 1024, usd: 0.085 },
        { from: 50 * 1024, usd: 0.07 },
        { from: 150 * 1024, usd: 0.05 },
      ],
      per: 'GB',
      scope: 'account, every service’s data out to the internet together, a month',
      perRegion: false,
      source:
        'third-party pages only (https://leanopstech.com/blog/aws-data-transfer-pricing-2026/, https://www.egresscost.com/aws); no AWS pricing page with the figures was found',
      read: READ,
      verified: false,
    },
  },
  lambdaRequest: {
    usd: 0.2 / 1e6,
    unit: 'Lambda request',
    source: 'https://cloudchipr.com/blog/aws-lambda-pricing (docs/capacity.md S20)',
    read: READ,
    verified: true,
  },
  lambdaGbSecond: {
    usd: LAMBDA_GB_SECOND_USD,
    unit: 'Lambda GB-second, arm64',
    source: 'https://cloudchipr.com/blog/aws-lambda-pricing (docs/capacity.md S20)',
    read: READ,
    verified: true,
    tiers: {
      // The first 7.5 billion GB-seconds a month at the list price, the next 11.25 billion 10 %
      // off, the rest 20 % off (arm64).
      bands: [
        { from: 0, usd: LAMBDA_GB_SECOND_USD },
        { from: 7.5e9, usd: LAMBDA_GB_SECOND_USD * 0.9 },
        { from: 18.75e9, usd: LAMBDA_GB_SECOND_USD * 0.8 },
      ],
      per: 'GB-seconds',
      scope: 'account and Region, arm64, a month (the Region: an assumption, **unverified**)',
      perRegion: true,
      source:
        'https://aws.amazon.com/blogs/compute/introducing-tiered-pricing-for-aws-lambda/ (docs/capacity.md S32)',
      read: READ,
      verified: true,
    },
  },
  dynamodbWrite: {
    usd: 0.625 / 1e6,
    unit: 'DynamoDB on-demand write request unit',
    source: 'https://airbyte.com/data-engineering-resources/dynamodb-pricing (docs/capacity.md S15)',
    read: READ,
    verified: true,
  },
  dynamodbRead: {
    usd: 0.125 / 1e6,
    unit: 'DynamoDB on-demand read request unit',
    source: 'https://airbyte.com/data-engineering-resources/dynamodb-pricing (docs/capacity.md S15)',
    read: READ,
    verified: true,
  },
  dynamodbWriteCapacityUnitHour: {
    usd: 0.00065,
    unit: 'DynamoDB provisioned write capacity unit-hour',
    source:
      'https://zeonedge.com/en/blog/dynamodb-cost-optimization-on-demand-provisioned-dax-single-table (docs/capacity.md S15b)',
    read: READ,
    verified: true,
  },
  dynamodbReadCapacityUnitHour: {
    usd: 0.00013,
    unit: 'DynamoDB provisioned read capacity unit-hour',
    source:
      'https://zeonedge.com/en/blog/dynamodb-cost-optimization-on-demand-provisioned-dax-single-table (docs/capacity.md S15b)',
    read: READ,
    verified: true,
  },
  dynamodbStorageGbMonth: {
    usd: 0.25,
    unit: 'DynamoDB Standard table storage, GB-month (items + 100 bytes each)',
    source:
      'https://aws.amazon.com/dynamodb/pricing/ and https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html (docs/capacity.md S24)',
    read: READ,
    verified: true,
  },
  dynamodbPitrGbMonth: {
    usd: 0.2,
    unit: 'DynamoDB point-in-time recovery, GB-month of table size',
    source: 'https://finops.com.py/services/dynamodb/backups (docs/capacity.md S25)',
    read: READ,
    verified: true,
  },
  kinesisStreamHour: {
    usd: 0.04,
    unit: 'Kinesis on-demand (Standard) stream-hour',
    source:
      'https://aws.amazon.com/blogs/big-data/kinesis-on-demand-advantage-saves-60-on-streaming-costs/ (docs/capacity.md S9d)',
    read: READ,
    verified: true,
  },
  kinesisDataInGb: {
    usd: 0.08,
    unit: 'Kinesis on-demand GB written, each record rounded up to 1 KB',
    source:
      'https://aws.amazon.com/blogs/big-data/kinesis-on-demand-advantage-saves-60-on-streaming-costs/ and https://aws.amazon.com/kinesis/data-streams/pricing/ (docs/capacity.md S9, S9d)',
    read: READ,
    verified: true,
  },
  kinesisEfoRetrievalGb: {
    usd: 0.05,
    unit: 'Kinesis on-demand enhanced fan-out GB retrieved, per consumer',
    source:
      'https://aws.amazon.com/blogs/big-data/kinesis-on-demand-advantage-saves-60-on-streaming-costs/ (docs/capacity.md S9d)',
    read: READ,
    verified: true,
  },
  kinesisEfoConsumerShardHour: {
    usd: 0.015,
    unit: 'Kinesis enhanced fan-out consumer-shard-hour (whether on-demand streams bill it)',
    source: 'https://c3x.dev/resources/aws/aws_kinesis_stream (docs/capacity.md S9b; unverified)',
    read: READ,
    verified: false,
  },
  kinesisRetrievalGb: {
    usd: 0.04,
    unit: 'Kinesis on-demand GB retrieved by a shared-throughput (polling) consumer',
    source: 'https://c3x.dev/resources/aws/aws_kinesis_stream (docs/capacity.md S9b; unverified)',
    read: READ,
    verified: false,
  },
  snsMobilePush: {
    usd: 0.5 / 1e6,
    unit: 'Amazon SNS mobile push notification delivered (APNs, FCM), after the first million a month',
    source:
      'https://aws.amazon.com/sns/pricing/ as quoted by https://www.factualminds.com/blog/amazon-sns-pricing-publishes-fanout-protocols/ (docs/capacity.md S28)',
    read: READ,
    verified: true,
  },
  logsIngestionGb: {
    usd: 0.5,
    unit: 'CloudWatch Logs GB ingested (Standard class; first tier of Lambda logs)',
    source: 'https://c3x.dev/blog/cloudwatch-logs-cost-optimization (docs/capacity.md S26)',
    read: READ,
    verified: true,
    tiers: {
      // Lambda's logs are billed as vended logs since May 2025; the bands below reproduce the
      // third party's worked example (60 TB: $30,000 → $12,500) but are not AWS's own figures.
      bands: [
        { from: 0, usd: 0.5 },
        { from: 10_000, usd: 0.25 },
        { from: 30_000, usd: 0.1 },
        { from: 50_000, usd: 0.05 },
      ],
      per: 'GB of Lambda logs',
      scope: 'account, a month',
      perRegion: false,
      source:
        'third-party only (https://www.duckbillgroup.com/?p=9080); AWS’s announcement and https://aws.amazon.com/cloudwatch/pricing/ show no figure as stored',
      read: READ,
      verified: false,
    },
  },
  logsStorageGbMonth: {
    usd: 0.03,
    unit: 'CloudWatch Logs GB-month stored',
    source: 'https://c3x.dev/blog/cloudwatch-logs-cost-optimization (docs/capacity.md S26)',
    read: READ,
    verified: true,
  },
} as const satisfies Record<string, Price>;

export type PriceId = keyof typeof PRICES;

/** One GB as AWS bills data (2³⁰ bytes). */
export const GB = 1024 ** 3;

/**
 * The average price of one unit over `monthlyVolume` units of a month: each band's units at
 * its price. A volume inside the first band pays the first band's price.
 *
 * @example
 * blendedPrice(PRICES.lambdaGbSecond.tiers, 15e9); // 7.5e9 at the list price, 7.5e9 at 90 %
 */
export function blendedPrice(tiers: VolumeTiers, monthlyVolume: number): number {
  const [first] = tiers.bands;
  if (!first) throw new Error('a tiered price needs at least one band');
  if (monthlyVolume <= 0) return first.usd;
  let total = 0;
  tiers.bands.forEach((band, index) => {
    const end = tiers.bands[index + 1]?.from ?? Number.POSITIVE_INFINITY;
    const units = Math.max(0, Math.min(monthlyVolume, end) - band.from);
    total += units * band.usd;
  });
  return total / monthlyVolume;
}

/** The band `monthlyVolume` ends in, counted from 1. */
export function tierReached(tiers: VolumeTiers, monthlyVolume: number): number {
  return tiers.bands.filter((band) => band.from < monthlyVolume).length || 1;
}
