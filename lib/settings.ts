/**
 * The deployment settings of a Parley stack, read from CDK context (`-c key=value` or
 * `cdk.json`) and validated once, with errors that name the setting and say what it takes.
 */
import { z } from 'zod';
import {
  DEFAULT_LAMBDA_SYSTEM_LOG_LEVEL,
  FUNCTIONS,
  type FunctionId,
  LAMBDA_SYSTEM_LOG_LEVELS,
  type LambdaSystemLogLevel,
} from '../definitions/functions.js';
import { rateLimitsSettingSchema } from '../definitions/rate-limits.js';
import {
  PUSH_SETTING_KEYS,
  type PushDeploymentSettings,
  pushContextSchema,
  SECRET_COMPLETE_ARN,
  toPushSettings,
} from './push-settings.js';
import { parseStage } from './stage.js';

/** How clients' tokens are checked: the issuer's JWKS, or an HS256 key in Secrets Manager. */
export type TokenKeySource =
  | { kind: 'jwks'; jwksUrl: string }
  /** An existing secret whose `SecretString` is the HS256 key. */
  | { kind: 'secret'; secretArn: string }
  /** No key given: the stack makes a secret with a random key (good for dev and trials). */
  | { kind: 'generated' };

/** Kinesis capacity: on-demand follows the traffic; provisioned is cheaper when it is steady. */
export type ShardMode = { kind: 'on-demand' } | { kind: 'provisioned'; shardCount: number };

/**
 * DynamoDB capacity of every table: on demand follows the traffic and costs nothing idle;
 * provisioned with auto scaling costs less for a steady load, between the bounds, keeping
 * consumed capacity near the target share of what is provisioned (docs/capacity.md §10).
 */
export type DynamoDbCapacityMode =
  | { kind: 'on-demand' }
  | { kind: 'provisioned'; minCapacity: number; maxCapacity: number; targetUtilizationPercent: number };

export interface ParleySettings {
  stage: string;
  tokenKey: TokenKeySource;
  jwtIssuer?: string;
  jwtAudience?: string;
  /** The longest a token may live, and the longest since it was issued, in seconds. */
  maxTokenAgeSeconds: number;
  /** Browser origins a handshake may come from; any when empty. */
  allowedOrigins: string[];
  shards: ShardMode;
  /** How every table's reads and writes are billed and scaled. */
  dynamodbCapacity: DynamoDbCapacityMode;
  /** Where alarms are e-mailed; alarms still go to the stack's SNS topic without it. */
  alarmEmail?: string;
  /** Stage-wide steady rate and burst of messages a second, across all connections. */
  throttle: { rateLimit: number; burstLimit: number };
  /** The `send` route's own steady rate and burst, at most the stage's: sends cost the most. */
  sendThrottle: { rateLimit: number; burstLimit: number };
  /** The p99 delivery latency (commit to post) that raises the alarm. */
  deliveryLatencyP99AlarmMs: number;
  /** `send` posts a message itself to groups with at most this many connected devices (and one-to-one); 0 turns it off. */
  fastPathMaxConnections: number;
  /** Open connections a user may hold at once; the next handshake is refused with 429. */
  maxConnectionsPerUser: number;
  /**
   * Add the `ParleyAccount` stack, which sets the account's API Gateway CloudWatch Logs
   * role (the stage's logs need one), and deploy it before this stage.
   */
  accountLogsRole: boolean;
  /** `PARLEY_RATE_LIMITS` of the limited functions: the per-user limits that differ from the defaults. */
  rateLimits?: string;
  /** Reserved concurrency by function; a function not named draws on the account's shared pool. */
  reservedConcurrency?: Partial<Record<FunctionId, number>>;
  /** Days a message is kept (`PARLEY_MESSAGE_RETENTION_DAYS`); absent: forever. */
  messageRetentionDays?: number;
  /** Web Push and APNs/FCM (protocol 1.4, `lib/push-settings.ts`); push is off when absent. */
  push?: PushDeploymentSettings;
  /** The level of Lambda's own log records every function sends (WARN: no START and REPORT records). */
  lambdaSystemLogLevel: LambdaSystemLogLevel;
}

/**
 * DynamoDB's default quota of read and write capacity units a provisioned table may have,
 * its global secondary indexes included (docs/capacity.md §10, "Provisioned DynamoDB").
 */
const TABLE_CAPACITY_QUOTA = 40_000;

/**
 * The default bounds and target of provisioned capacity. At least 5 units, so that a quiet
 * table still answers a burst of a few requests; at most 10,000, so that the eight tables of
 * `definitions/tables.ts` at their maximum stay within the account's default quota of 80,000
 * units a Region; 70 %, aws-cdk-lib's own default and the target docs/capacity.md §10 prices.
 */
export const DEFAULT_DYNAMODB_AUTOSCALING = {
  minCapacity: 5,
  maxCapacity: 10_000,
  targetUtilizationPercent: 70,
} as const;

/** The context keys a stack reads, and what each takes. */
const SETTING_KEYS = {
  stage: 'a lowercase name such as dev or prod',
  jwksUrl: 'the https URL of the token issuer’s JWKS',
  jwtSecretArn: 'the complete ARN of a Secrets Manager secret holding the HS256 key',
  jwtIssuer: 'the `iss` every token must carry',
  jwtAudience: 'the `aud` every token must carry',
  maxTokenAgeSeconds: 'seconds a token may live and be used after its iat (60 to 2592000)',
  allowedOrigins: 'comma-separated browser origins such as https://app.example.com (empty: any)',
  shards: '`on-demand` or a number of provisioned shards (1 to 10000)',
  dynamodbCapacity: '`on-demand` or `provisioned` (auto-scaled read and write capacity on every table)',
  dynamodbMinCapacity: `with provisioned capacity, the fewest read and write units of each table (1 to ${TABLE_CAPACITY_QUOTA})`,
  dynamodbMaxCapacity: `with provisioned capacity, the most read and write units of each table (1 to ${TABLE_CAPACITY_QUOTA}, at least dynamodbMinCapacity)`,
  dynamodbTargetUtilization:
    'with provisioned capacity, the percentage of it auto scaling keeps in use (20 to 90)',
  alarmEmail: 'an e-mail address that receives the alarms',
  throttleRate: 'messages a second per stage, steady (1 to 100000)',
  throttleBurst: 'messages per stage in a burst (1 to 100000)',
  sendThrottleRate: '`send` frames a second per stage, steady (1 to 100000, at most throttleRate)',
  sendThrottleBurst: '`send` frames per stage in a burst (1 to 100000, at most throttleBurst)',
  deliveryLatencyP99AlarmMs: 'milliseconds (10 to 60000)',
  fastPathMaxConnections:
    'connected devices of a group up to which `send` posts itself (0 to 1000; 0 turns it off)',
  maxConnectionsPerUser: 'open connections a user may hold at once (1 to 1000)',
  messageRetentionDays: 'days a message is kept (1 to 36500); unset keeps messages forever',
  accountLogsRole:
    'true to add the ParleyAccount stack, which sets the account’s API Gateway logs role (once per account and region)',
  rateLimits:
    'a JSON object of per-user limits by route, e.g. {"send":{"perSecond":100,"perWindow":400}} (docs/adr/0012-per-user-limits.md)',
  reservedConcurrency:
    'a JSON object of reserved concurrency by function id, e.g. {"authorizer":50,"connect":50,"fanout":100,"send":300,"sync":100}',
  accountConcurrency:
    'the account’s Lambda concurrency quota in the region (Service Quotas), 1000 unless raised or lowered; reservations must leave 100 of it unreserved',
  lambdaSystemLogLevel:
    '`DEBUG`, `INFO` or `WARN`: the level of Lambda’s own log records (WARN, the default, sends no START and REPORT record per invocation)',
  ...PUSH_SETTING_KEYS,
} as const;

export type SettingKey = keyof typeof SETTING_KEYS;

/**
 * The stage's default throttle, sized so that a fresh account is not overrun: each frame
 * in costs up to 22 / 3 API Gateway requests against the account's 10,000 a second (burst
 * 5,000), which every API of the account and every `@connections` post share. 1,300 × 22 / 3
 * ≈ 9,500 a second; 650 × 22 / 3 ≈ 4,800 in a burst. The derivation, with its sources, is
 * in docs/capacity.md, "Default throttles on a fresh account"; raise it with the quota.
 */
export const DEFAULT_STAGE_THROTTLE = { rateLimit: 1_300, burstLimit: 650 } as const;

/**
 * The `send` route's default throttle. A message costs 22 API Gateway requests (3 frames in,
 * their 3 answers, 16 posts) and 4 stream records: 350 a second is 7,700 requests, 80 % of
 * the account's quota with room for pings, connects and typing, and 1,400 records, a third
 * of a new on-demand stream's 4,000. Three frames in per message (the send and two acks)
 * at 350 a second fit inside the stage's 1,300. See docs/capacity.md, "Default throttles on
 * a fresh account".
 */
export const DEFAULT_SEND_THROTTLE = { rateLimit: 350, burstLimit: 175 } as const;

/** Context values arrive as strings from `-c`, as JSON values from `cdk.json`: accept both. */
const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** A JSON object given as text (`-c key='{…}'`) or as an object (`cdk.json`). */
const jsonObject = <Schema extends z.ZodType>(schema: Schema) =>
  z.preprocess((value) => {
    if (typeof value !== 'string') return value;
    try {
      return JSON.parse(value);
    } catch {
      return value; // the schema then says it is not an object
    }
  }, schema);

const FUNCTION_IDS = FUNCTIONS.map(({ id }) => id) as [FunctionId, ...FunctionId[]];

/**
 * AWS refuses a reservation that leaves less than 100 of the account's concurrency
 * unreserved (docs/adr/0012-per-user-limits.md): say so at synthesis, not at deploy.
 */
const UNRESERVED_MINIMUM = 100;

const contextSchema = z
  .object({
    jwksUrl: z.url({ protocol: /^https$/ }).optional(),
    jwtSecretArn: z
      .string()
      .regex(
        SECRET_COMPLETE_ARN,
        'must be the complete ARN of a Secrets Manager secret, ending in its 6-character suffix',
      )
      .optional(),
    jwtIssuer: z.string().min(1).max(2048).optional(),
    jwtAudience: z.string().min(1).max(2048).optional(),
    maxTokenAgeSeconds: integer(60, 30 * 24 * 60 * 60).default(24 * 60 * 60),
    allowedOrigins: z
      .string()
      .regex(
        /^https?:\/\/[^/,\s]+(,\s*https?:\/\/[^/,\s]+)*$/,
        'must be origins such as https://app.example.com',
      )
      .optional(),
    shards: z.union([z.literal('on-demand'), integer(1, 10_000)]).default('on-demand'),
    dynamodbCapacity: z.enum(['on-demand', 'provisioned']).default('on-demand'),
    dynamodbMinCapacity: integer(1, TABLE_CAPACITY_QUOTA).default(DEFAULT_DYNAMODB_AUTOSCALING.minCapacity),
    dynamodbMaxCapacity: integer(1, TABLE_CAPACITY_QUOTA).default(DEFAULT_DYNAMODB_AUTOSCALING.maxCapacity),
    // The bounds Application Auto Scaling accepts for a DynamoDB target (aws-cdk-lib's
    // `AutoscaledCapacityOptions.targetUtilizationPercent`).
    dynamodbTargetUtilization: integer(20, 90).default(DEFAULT_DYNAMODB_AUTOSCALING.targetUtilizationPercent),
    alarmEmail: z.email().optional(),
    throttleRate: integer(1, 100_000).default(DEFAULT_STAGE_THROTTLE.rateLimit),
    throttleBurst: integer(1, 100_000).default(DEFAULT_STAGE_THROTTLE.burstLimit),
    sendThrottleRate: integer(1, 100_000).optional(),
    sendThrottleBurst: integer(1, 100_000).optional(),
    deliveryLatencyP99AlarmMs: integer(10, 60_000).default(200),
    fastPathMaxConnections: integer(0, 1000).default(16),
    maxConnectionsPerUser: integer(1, 1000).default(10),
    messageRetentionDays: integer(1, 36_500).optional(),
    accountLogsRole: z
      .union([z.boolean(), z.enum(['true', 'false']).transform((value) => value === 'true')])
      .default(false),
    rateLimits: jsonObject(rateLimitsSettingSchema).optional(),
    reservedConcurrency: jsonObject(z.partialRecord(z.enum(FUNCTION_IDS), integer(1, 100_000))).optional(),
    accountConcurrency: integer(10, 1_000_000).default(1000),
    lambdaSystemLogLevel: z.enum(LAMBDA_SYSTEM_LOG_LEVELS).default(DEFAULT_LAMBDA_SYSTEM_LOG_LEVEL),
  })
  .refine((context) => !(context.jwksUrl && context.jwtSecretArn), {
    message: 'give jwksUrl or jwtSecretArn, not both',
    path: ['jwtSecretArn'],
  })
  // An identity provider's key set signs tokens for its other clients too: without both
  // claims checked, any of its tokens would open a Parley connection.
  .refine((context) => !context.jwksUrl || context.jwtIssuer, {
    message: 'is required with jwksUrl',
    path: ['jwtIssuer'],
  })
  .refine((context) => !context.jwksUrl || context.jwtAudience, {
    message: 'is required with jwksUrl',
    path: ['jwtAudience'],
  })
  .refine((context) => context.dynamodbMinCapacity <= context.dynamodbMaxCapacity, {
    message: 'must be at least dynamodbMinCapacity',
    path: ['dynamodbMaxCapacity'],
  })
  .refine((context) => (context.sendThrottleRate ?? 0) <= context.throttleRate, {
    message: 'must be at most throttleRate, the whole stage’s rate',
    path: ['sendThrottleRate'],
  })
  .refine((context) => (context.sendThrottleBurst ?? 0) <= context.throttleBurst, {
    message: 'must be at most throttleBurst, the whole stage’s burst',
    path: ['sendThrottleBurst'],
  })
  .refine(
    (context) =>
      Object.values(context.reservedConcurrency ?? {}).reduce((sum, value) => sum + (value ?? 0), 0) <=
      context.accountConcurrency - UNRESERVED_MINIMUM,
    {
      message: `must leave ${UNRESERVED_MINIMUM} of accountConcurrency unreserved, as AWS requires`,
      path: ['reservedConcurrency'],
    },
  );

export class SettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SettingsError';
  }
}

/**
 * Validates the settings. `read(key)` returns a context value (`app.node.tryGetContext`).
 *
 * @example
 * const settings = parseSettings((key) => app.node.tryGetContext(key));
 */
export function parseSettings(read: (key: SettingKey) => unknown): ParleySettings {
  const stage = parseStage(read('stage'));
  const raw = Object.fromEntries(
    (Object.keys(SETTING_KEYS) as SettingKey[])
      .filter((key) => key !== 'stage')
      .map((key) => [key, read(key)])
      .filter(([, value]) => value !== undefined && value !== ''),
  );
  const context = parseContext(contextSchema, raw);
  const push = toPushSettings(parseContext(pushContextSchema, raw));
  const tokenKey: TokenKeySource = context.jwksUrl
    ? { kind: 'jwks', jwksUrl: context.jwksUrl }
    : context.jwtSecretArn
      ? { kind: 'secret', secretArn: context.jwtSecretArn }
      : { kind: 'generated' };
  return {
    stage,
    tokenKey,
    ...(context.jwtIssuer ? { jwtIssuer: context.jwtIssuer } : {}),
    ...(context.jwtAudience ? { jwtAudience: context.jwtAudience } : {}),
    maxTokenAgeSeconds: context.maxTokenAgeSeconds,
    allowedOrigins: (context.allowedOrigins ?? '')
      .split(',')
      .map((origin) => origin.trim())
      .filter(Boolean),
    shards:
      context.shards === 'on-demand'
        ? { kind: 'on-demand' }
        : { kind: 'provisioned', shardCount: context.shards },
    dynamodbCapacity:
      context.dynamodbCapacity === 'on-demand'
        ? { kind: 'on-demand' }
        : {
            kind: 'provisioned',
            minCapacity: context.dynamodbMinCapacity,
            maxCapacity: context.dynamodbMaxCapacity,
            targetUtilizationPercent: context.dynamodbTargetUtilization,
          },
    ...(context.alarmEmail ? { alarmEmail: context.alarmEmail } : {}),
    throttle: { rateLimit: context.throttleRate, burstLimit: context.throttleBurst },
    // Never above the stage's own, whichever the stage's is.
    sendThrottle: {
      rateLimit: context.sendThrottleRate ?? Math.min(DEFAULT_SEND_THROTTLE.rateLimit, context.throttleRate),
      burstLimit:
        context.sendThrottleBurst ?? Math.min(DEFAULT_SEND_THROTTLE.burstLimit, context.throttleBurst),
    },
    deliveryLatencyP99AlarmMs: context.deliveryLatencyP99AlarmMs,
    fastPathMaxConnections: context.fastPathMaxConnections,
    maxConnectionsPerUser: context.maxConnectionsPerUser,
    accountLogsRole: context.accountLogsRole,
    ...(context.rateLimits ? { rateLimits: JSON.stringify(context.rateLimits) } : {}),
    ...(context.reservedConcurrency ? { reservedConcurrency: context.reservedConcurrency } : {}),
    ...(context.messageRetentionDays ? { messageRetentionDays: context.messageRetentionDays } : {}),
    ...(push ? { push } : {}),
    lambdaSystemLogLevel: context.lambdaSystemLogLevel,
  };
}

/** The context checked by `schema`, or a `SettingsError` naming the first wrong key and what it takes. */
function parseContext<Schema extends z.ZodType>(
  schema: Schema,
  raw: Record<string, unknown>,
): z.infer<Schema> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const key = String(issue?.path[0] ?? '') as SettingKey;
  throw new SettingsError(
    `Invalid context ${key}: ${issue?.message}; it takes ${SETTING_KEYS[key] ?? 'another value'} ` +
      `(for example: npx cdk synth -c ${key}=…)`,
  );
}
