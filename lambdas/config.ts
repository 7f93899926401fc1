/**
 * The settings of every handler, from the environment (set by the CDK stack in AWS, by the
 * local stack on this machine), validated once with clear errors.
 */
import { z } from 'zod';
import { type ResourceNames, resourceNames } from '../lib/tables.js';
import type { AwsEndpoints } from './adapters/aws-clients.js';
import type { TokenSettings } from './domain/tokens.js';

/** How tokens are verified; a `secretArn` is read into the HS256 key by the runtime. */
export type TokenConfig = Omit<TokenSettings, 'loadSecret' | 'secretMaxAgeMs'> & { secretArn?: string };

export const LOCAL_JWT_SECRET = 'parley-local-dev-secret';
/** The service name of logs and metrics when `POWERTOOLS_SERVICE_NAME` is not set. */
export const DEFAULT_SERVICE_NAME = 'parley';
/** A little over API Gateway's two-hour connection limit. */
export const DEFAULT_CONNECTION_TTL_SECONDS = 2 * 60 * 60 + 10 * 60;

export interface ParleyConfig {
  names: ResourceNames;
  endpoints: AwsEndpoints;
  tokens: TokenConfig;
  connectionTtlSeconds: number;
  postConcurrency: number;
  logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  /** The `service` of every log line and the `service` dimension of every metric. */
  serviceName: string;
}

/** `z.url()` alone takes `localhost:8000` for a URL of scheme `localhost:`. */
const httpUrl = () => z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

/** The `@connections` endpoint of a WebSocket API stage in AWS, as the stack sets it. */
const AWS_CONNECTIONS_ENDPOINT =
  /^https:\/\/[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com(\.cn)?\/[^/]+\/?$/;

const environmentSchema = z.object({
  AWS_REGION: z.string().default('us-east-1'),
  PARLEY_RESOURCE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,100}$/)
    .default('parley'),
  PARLEY_CONVERSATIONS_TABLE: z.string().optional(),
  PARLEY_CONNECTIONS_TABLE: z.string().optional(),
  PARLEY_USER_CONVERSATIONS_TABLE: z.string().optional(),
  PARLEY_PRESENCE_TABLE: z.string().optional(),
  PARLEY_PRESENCE_SUBSCRIPTIONS_TABLE: z.string().optional(),
  PARLEY_EVENTS_STREAM: z.string().optional(),
  PARLEY_CONNECTIONS_ENDPOINT: httpUrl().optional(),
  PARLEY_DYNAMODB_ENDPOINT: httpUrl().optional(),
  PARLEY_KINESIS_ENDPOINT: httpUrl().optional(),
  /** LocalStack's endpoint, which the AWS SDK clients honour by themselves. */
  AWS_ENDPOINT_URL: httpUrl().optional(),
  PARLEY_LOCAL: z.enum(['true', 'false']).default('false'),
  PARLEY_JWT_SECRET: z.string().min(1).optional(),
  /** The Secrets Manager secret holding the HS256 key, as the CDK stack passes it. */
  PARLEY_JWT_SECRET_ARN: z
    .string()
    .regex(
      /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/,
      'must be a Secrets Manager secret ARN',
    )
    .optional(),
  PARLEY_JWKS_URL: httpUrl().optional(),
  PARLEY_JWT_ISSUER: z.string().optional(),
  PARLEY_JWT_AUDIENCE: z.string().optional(),
  PARLEY_CONNECTION_TTL_SECONDS: z.coerce.number().int().min(60).default(DEFAULT_CONNECTION_TTL_SECONDS),
  PARLEY_POST_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(50),
  POWERTOOLS_LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']).default('INFO'),
  POWERTOOLS_SERVICE_NAME: z.string().min(1).default(DEFAULT_SERVICE_NAME),
});

export class ConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationError';
  }
}

export function configFromEnvironment(environment: NodeJS.ProcessEnv = process.env): ParleyConfig {
  const parsed = environmentSchema.safeParse(environment);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigurationError(`environment variable ${issue?.path.join('.')}: ${issue?.message}`);
  }
  const env = parsed.data;
  const defaults = resourceNames(env.PARLEY_RESOURCE_PREFIX);
  const local = env.PARLEY_LOCAL === 'true';
  if (!local && !env.PARLEY_JWT_SECRET && !env.PARLEY_JWT_SECRET_ARN && !env.PARLEY_JWKS_URL) {
    // Fail at cold start, not at the first handshake: no token could ever be verified.
    throw new ConfigurationError(
      'environment variables PARLEY_JWT_SECRET, PARLEY_JWT_SECRET_ARN and PARLEY_JWKS_URL: one of them is required to verify tokens',
    );
  }
  const connections = connectionsEndpoint(env.PARLEY_CONNECTIONS_ENDPOINT, env.AWS_ENDPOINT_URL);
  return {
    names: {
      conversationsTable: env.PARLEY_CONVERSATIONS_TABLE ?? defaults.conversationsTable,
      connectionsTable: env.PARLEY_CONNECTIONS_TABLE ?? defaults.connectionsTable,
      userConversationsTable: env.PARLEY_USER_CONVERSATIONS_TABLE ?? defaults.userConversationsTable,
      presenceTable: env.PARLEY_PRESENCE_TABLE ?? defaults.presenceTable,
      presenceSubscriptionsTable:
        env.PARLEY_PRESENCE_SUBSCRIPTIONS_TABLE ?? defaults.presenceSubscriptionsTable,
      eventsStream: env.PARLEY_EVENTS_STREAM ?? defaults.eventsStream,
    },
    endpoints: {
      region: env.AWS_REGION,
      local,
      ...(env.PARLEY_DYNAMODB_ENDPOINT ? { dynamodb: env.PARLEY_DYNAMODB_ENDPOINT } : {}),
      ...(env.PARLEY_KINESIS_ENDPOINT ? { kinesis: env.PARLEY_KINESIS_ENDPOINT } : {}),
      ...(connections ? { connections } : {}),
    },
    tokens: {
      ...(env.PARLEY_JWKS_URL
        ? { jwksUrl: env.PARLEY_JWKS_URL }
        : !env.PARLEY_JWT_SECRET && env.PARLEY_JWT_SECRET_ARN
          ? { secretArn: env.PARLEY_JWT_SECRET_ARN }
          : { secret: env.PARLEY_JWT_SECRET ?? (local ? LOCAL_JWT_SECRET : undefined) }),
      ...(env.PARLEY_JWT_ISSUER ? { issuer: env.PARLEY_JWT_ISSUER } : {}),
      ...(env.PARLEY_JWT_AUDIENCE ? { audience: env.PARLEY_JWT_AUDIENCE } : {}),
    },
    connectionTtlSeconds: env.PARLEY_CONNECTION_TTL_SECONDS,
    postConcurrency: env.PARLEY_POST_CONCURRENCY,
    logLevel: env.POWERTOOLS_LOG_LEVEL,
    serviceName: env.POWERTOOLS_SERVICE_NAME,
  };
}

/**
 * Under LocalStack (`AWS_ENDPOINT_URL` set) the stack still names the API's AWS endpoint,
 * which would post to AWS: LocalStack serves `@connections` on its own endpoint instead,
 * with no API id or stage, since its connection ids are unique across APIs
 * (https://docs.localstack.cloud/aws/services/apigateway/, "WebSocket APIs"). Any other
 * endpoint, such as our local gateway's, is kept as given.
 */
function connectionsEndpoint(given: string | undefined, awsEndpointUrl: string | undefined) {
  if (given && awsEndpointUrl && AWS_CONNECTIONS_ENDPOINT.test(given))
    return awsEndpointUrl.replace(/\/+$/, '');
  return given;
}
