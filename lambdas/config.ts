/**
 * The settings of every handler, from the environment (set by the CDK stack in AWS, by the
 * local stack on this machine), validated once with clear errors.
 */
import { z } from 'zod';
import { type ResourceNames, resourceNames } from '../lib/tables.js';
import type { AwsEndpoints } from './adapters/aws-clients.js';
import type { TokenSettings } from './domain/tokens.js';

export const LOCAL_JWT_SECRET = 'parley-local-dev-secret';
/** A little over API Gateway's two-hour connection limit. */
export const DEFAULT_CONNECTION_TTL_SECONDS = 2 * 60 * 60 + 10 * 60;

export interface ParleyConfig {
  names: ResourceNames;
  endpoints: AwsEndpoints;
  tokens: TokenSettings;
  connectionTtlSeconds: number;
  postConcurrency: number;
  logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
}

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
  PARLEY_CONNECTIONS_ENDPOINT: z.url().optional(),
  PARLEY_DYNAMODB_ENDPOINT: z.url().optional(),
  PARLEY_KINESIS_ENDPOINT: z.url().optional(),
  PARLEY_LOCAL: z.enum(['true', 'false']).default('false'),
  PARLEY_JWT_SECRET: z.string().min(1).optional(),
  PARLEY_JWKS_URL: z.url().optional(),
  PARLEY_JWT_ISSUER: z.string().optional(),
  PARLEY_JWT_AUDIENCE: z.string().optional(),
  PARLEY_CONNECTION_TTL_SECONDS: z.coerce.number().int().min(60).default(DEFAULT_CONNECTION_TTL_SECONDS),
  PARLEY_POST_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(50),
  POWERTOOLS_LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']).default('INFO'),
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
      ...(env.PARLEY_CONNECTIONS_ENDPOINT ? { connections: env.PARLEY_CONNECTIONS_ENDPOINT } : {}),
    },
    tokens: {
      ...(env.PARLEY_JWKS_URL ? { jwksUrl: env.PARLEY_JWKS_URL } : {}),
      ...(env.PARLEY_JWT_SECRET || !env.PARLEY_JWKS_URL
        ? { secret: env.PARLEY_JWT_SECRET ?? (local ? LOCAL_JWT_SECRET : undefined) }
        : {}),
      ...(env.PARLEY_JWT_ISSUER ? { issuer: env.PARLEY_JWT_ISSUER } : {}),
      ...(env.PARLEY_JWT_AUDIENCE ? { audience: env.PARLEY_JWT_AUDIENCE } : {}),
    },
    connectionTtlSeconds: env.PARLEY_CONNECTION_TTL_SECONDS,
    postConcurrency: env.PARLEY_POST_CONCURRENCY,
    logLevel: env.POWERTOOLS_LOG_LEVEL,
  };
}
