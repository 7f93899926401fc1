/**
 * What a million messages would cost on AWS at list prices (us-east-1, no free tier, no
 * Savings Plans), from the counts the benchmark measured per message. The prices and
 * their sources are those of docs/capacity.md section 10 (sources S3, S9c, S15, S20 there).
 *
 * Only what scales with messages is priced: connection-minutes, keep-alive pings, stream
 * shard-hours and the EFO consumer's shard-hours are paid per hour whatever the traffic
 * (docs/capacity.md prices them at its own assumptions), and receipts are not sent by this
 * load (its clients do not ack).
 */
import { FUNCTIONS, type FunctionId } from '../definitions/functions.js';
import type { PerMessage } from './analysis.js';

export const PRICES = {
  apiGatewayMessage: {
    usd: 1.0 / 1e6,
    unit: 'WebSocket message (32 KB unit), either way',
    source: 'https://aws.amazon.com/api-gateway/pricing/ (docs/capacity.md S3)',
  },
  lambdaRequest: {
    usd: 0.2 / 1e6,
    unit: 'Lambda request',
    source: 'https://cloudchipr.com/blog/aws-lambda-pricing (docs/capacity.md S20)',
  },
  lambdaGbSecond: {
    usd: 0.0000133334,
    unit: 'Lambda GB-second, arm64',
    source: 'https://cloudchipr.com/blog/aws-lambda-pricing (docs/capacity.md S20)',
  },
  dynamodbWrite: {
    usd: 0.625 / 1e6,
    unit: 'DynamoDB on-demand write request unit',
    source: 'https://airbyte.com/data-engineering-resources/dynamodb-pricing (docs/capacity.md S15)',
  },
  dynamodbRead: {
    usd: 0.125 / 1e6,
    unit: 'DynamoDB on-demand read request unit',
    source: 'https://airbyte.com/data-engineering-resources/dynamodb-pricing (docs/capacity.md S15)',
  },
  kinesisPutPayloadUnit: {
    usd: 0.014 / 1e6,
    unit: 'Kinesis PUT payload unit (25 KB)',
    source:
      'https://github.com/EveryMundo/aws-kinesis-client/blob/master/docs/why-we-created-this-package.md (docs/capacity.md S9c)',
  },
  kinesisEfoGb: {
    usd: 0.013,
    unit: 'Kinesis enhanced fan-out GB retrieved (unverified)',
    source: 'https://c3x.dev/resources/aws/aws_kinesis_stream (docs/capacity.md S9b, unverified there)',
  },
} as const;

export interface CostLine {
  item: string;
  perMessage: number;
  unit: string;
  usdPerMillion: number;
}

export interface CostEstimate {
  lines: CostLine[];
  usdPerMillion: number;
  byService: Record<'API Gateway' | 'Lambda' | 'DynamoDB' | 'Kinesis', number>;
}

const memoryGbOf = (functionId: FunctionId) =>
  (FUNCTIONS.find((definition) => definition.id === functionId)?.memoryMiB ?? 1024) / 1024;

export function estimateCost(perMessage: PerMessage): CostEstimate {
  const lines: Array<CostLine & { service: keyof CostEstimate['byService'] }> = [];
  const add = (
    service: keyof CostEstimate['byService'],
    item: string,
    count: number,
    unit: string,
    usdPerUnit: number,
  ) => {
    if (!Number.isFinite(count) || count === 0) return;
    lines.push({ service, item, perMessage: count, unit, usdPerMillion: count * usdPerUnit * 1e6 });
  };
  const postUnits =
    perMessage.posts * Math.max(1, Math.ceil(perMessage.postBytes / perMessage.posts / 32_768));
  add('API Gateway', 'frames in (send)', perMessage.framesIn, 'messages', PRICES.apiGatewayMessage.usd);
  add(
    'API Gateway',
    'route responses (sent)',
    perMessage.routeResponses,
    'messages',
    PRICES.apiGatewayMessage.usd,
  );
  add('API Gateway', '@connections posts', postUnits, 'messages', PRICES.apiGatewayMessage.usd);
  const functions = Object.keys(perMessage.invocations) as FunctionId[];
  for (const functionId of functions) {
    add(
      'Lambda',
      `${functionId} requests`,
      perMessage.invocations[functionId] ?? 0,
      'requests',
      PRICES.lambdaRequest.usd,
    );
  }
  for (const functionId of functions) {
    const gbSeconds = ((perMessage.durationMs[functionId] ?? 0) / 1000) * memoryGbOf(functionId);
    add(
      'Lambda',
      `${functionId} duration (${memoryGbOf(functionId) * 1024} MB × local wall time)`,
      gbSeconds,
      'GB-s',
      PRICES.lambdaGbSecond.usd,
    );
  }
  for (const [table, units] of Object.entries(perMessage.dynamodb)) {
    add('DynamoDB', `${table} writes`, units.write, 'WRU', PRICES.dynamodbWrite.usd);
    add('DynamoDB', `${table} reads`, units.read, 'RRU', PRICES.dynamodbRead.usd);
  }
  const recordBytes = perMessage.kinesisRecords ? perMessage.kinesisBytes / perMessage.kinesisRecords : 0;
  add(
    'Kinesis',
    'PUT payload units',
    perMessage.kinesisRecords * Math.max(1, Math.ceil(recordBytes / 25_600)),
    'units',
    PRICES.kinesisPutPayloadUnit.usd,
  );
  add('Kinesis', 'EFO data retrieved', perMessage.kinesisBytes / 1024 ** 3, 'GB', PRICES.kinesisEfoGb.usd);
  const byService: CostEstimate['byService'] = { 'API Gateway': 0, Lambda: 0, DynamoDB: 0, Kinesis: 0 };
  for (const line of lines) byService[line.service] += line.usdPerMillion;
  return {
    lines: lines.map(({ service: _service, ...line }) => line),
    usdPerMillion: lines.reduce((total, line) => total + line.usdPerMillion, 0),
    byService,
  };
}
