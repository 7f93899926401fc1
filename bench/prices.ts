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
}

const READ = '2026-12-05';

export const PRICES = {
  apiGatewayMessage: {
    usd: 1.0 / 1e6,
    unit: 'WebSocket message, either way, per 32 KB (first billion a month)',
    source: 'https://awsforengineers.com/blog/aws-api-gateway-pricing-explained (docs/capacity.md S3)',
    read: READ,
    verified: true,
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
  },
  lambdaRequest: {
    usd: 0.2 / 1e6,
    unit: 'Lambda request',
    source: 'https://cloudchipr.com/blog/aws-lambda-pricing (docs/capacity.md S20)',
    read: READ,
    verified: true,
  },
  lambdaGbSecond: {
    usd: 0.0000133334,
    unit: 'Lambda GB-second, arm64',
    source: 'https://cloudchipr.com/blog/aws-lambda-pricing (docs/capacity.md S20)',
    read: READ,
    verified: true,
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
