/**
 * The settings of a handler, from the environment the CDK stack gives its function (the
 * local stack builds a `ParleyConfig` of its own instead). A function reads, and requires,
 * exactly the settings `definitions/functions.ts` says it uses: the tables it touches, the stream
 * when it publishes, the `@connections` endpoint when it posts, a token key when it
 * verifies tokens. So the template and this module cannot disagree without the function
 * failing at its cold start with an error that names the variable.
 */
import { z } from 'zod';
import {
  connectionMethodsOf,
  FUNCTIONS,
  type FunctionDefinition,
  type FunctionId,
  tablesOf,
} from '../definitions/functions.js';
import { parseRateLimits, type RateLimits } from '../definitions/rate-limits.js';
import { environmentVariableName, type ResourceNames, TABLE_NAME_FIELDS } from '../definitions/tables.js';
import type { AwsEndpoints } from './adapters/aws-clients.js';
import { ConfigurationError } from './domain/errors.js';
import { DEFAULT_MAX_TOKEN_AGE_SECONDS, type TokenSettings } from './domain/tokens.js';

/**
 * How tokens are verified; a `secretArn` is read into the HS256 key by the runtime. The
 * browser origins a handshake may come from are checked beside the token (empty: any).
 */
export type TokenConfig = Omit<TokenSettings, 'loadSecret' | 'secretMaxAgeMs'> & {
  secretArn?: string;
  allowedOrigins?: string[];
};

/** The HS256 key of the local stack and of `npm run token` when no other is set. Never used in AWS. */
export const LOCAL_JWT_SECRET = 'parley-local-dev-secret';
/** The service name of logs and metrics when `POWERTOOLS_SERVICE_NAME` is not set. */
export const DEFAULT_SERVICE_NAME = 'parley';
/** A little over API Gateway's two-hour connection limit. */
export const DEFAULT_CONNECTION_TTL_SECONDS = 2 * 60 * 60 + 10 * 60;
/** Open connections a user may hold at once (docs/adr/0011-connection-cap.md). */
export const DEFAULT_MAX_CONNECTIONS_PER_USER = 10;
/** Connected devices of a group up to which `send` posts a message itself (docs/adr/0008-fast-path.md). */
export const DEFAULT_FAST_PATH_MAX_CONNECTIONS = 16;

export interface ParleyConfig {
  /** The physical names of the resources the function uses; the others are absent. */
  names: Partial<ResourceNames>;
  endpoints: AwsEndpoints;
  /** Absent for a function that verifies no token. */
  tokens?: TokenConfig;
  connectionTtlSeconds: number;
  /** `$connect` refuses a user's handshake with 429 while it holds this many other devices' connections. */
  maxConnectionsPerUser: number;
  postConcurrency: number;
  /**
   * `send` posts a message itself to the members' devices of a one-to-one conversation,
   * and of a group with at most this many connected devices; 0 turns this off.
   */
  fastPathMaxConnections: number;
  /**
   * The per-user limits of the routes (definitions/rate-limits.ts). Absent: no limit is
   * counted, as in the unit tests of everything else; Lambda and the local stack always set it.
   */
  rateLimits?: RateLimits;
  logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  /** The `service` of every log line and the `service` dimension of every metric. */
  serviceName: string;
  /** Days a message is kept (docs/adr/0015-retention-and-erasure.md); absent: forever. */
  messageRetentionDays?: number;
  /** How the deployment pushes (protocol 1.4); only the functions that register or send pushes read it. */
  push?: PushSettings;
}

/** A configuration that reaches every resource and verifies tokens: the local stack's, the tests'. */
export type CompleteConfig = ParleyConfig & {
  names: ResourceNames;
  tokens: NonNullable<ParleyConfig['tokens']>;
};

/** `z.url()` alone takes `localhost:8000` for a URL of scheme `localhost:`. */
const httpUrl = () => z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

/** The `@connections` endpoint of a WebSocket API stage in AWS, as the stack sets it. */
const AWS_CONNECTIONS_ENDPOINT =
  /^https:\/\/[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com(\.cn)?\/[^/]+\/?$/;

/** The region of an `https://{api}.execute-api.{region}.amazonaws.com/{stage}` endpoint, if it names one. */
export function regionOfConnectionsEndpoint(endpoint: string): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com/.exec(endpoint)?.[1];
}

const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/;

/** `https://app.example.com`, with no path, query or trailing slash: what a browser sends as `Origin`. */
const isOrigin = (url: string) => URL.canParse(url) && new URL(url).origin === url;

/** The longest retention period a deployment may set: about a hundred years. */
export const MAX_RETENTION_DAYS = 36_500;

/** The settings every function reads; each has a default (retention: none, keep forever). */
const commonSchema = z.object({
  AWS_REGION: z.string().min(1).default('us-east-1'),
  /**
   * Endpoint overrides the AWS SDK itself honours (LocalStack sets the first, the local
   * stack's deployed mode the second); read here only to send `@connections` calls to the
   * same place instead of to the API's AWS URL.
   */
  AWS_ENDPOINT_URL: httpUrl().optional(),
  AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI: httpUrl().optional(),
  PARLEY_CONNECTION_TTL_SECONDS: z.coerce.number().int().min(60).default(DEFAULT_CONNECTION_TTL_SECONDS),
  PARLEY_MAX_CONNECTIONS_PER_USER: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(DEFAULT_MAX_CONNECTIONS_PER_USER),
  PARLEY_POST_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(50),
  FAST_PATH_MAX_CONNECTIONS: z.coerce
    .number()
    .int()
    .min(0)
    .max(1000)
    .default(DEFAULT_FAST_PATH_MAX_CONNECTIONS),
  POWERTOOLS_LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']).default('INFO'),
  POWERTOOLS_SERVICE_NAME: z.string().min(1).default(DEFAULT_SERVICE_NAME),
  PARLEY_MESSAGE_RETENTION_DAYS: z.coerce.number().int().min(1).max(MAX_RETENTION_DAYS).optional(),
});

const tokenSchema = z.object({
  PARLEY_JWT_SECRET: z.string().min(1).optional(),
  /** The Secrets Manager secret holding the HS256 key, as the CDK stack passes it. */
  PARLEY_JWT_SECRET_ARN: z.string().regex(SECRET_ARN, 'must be a Secrets Manager secret ARN').optional(),
  PARLEY_JWKS_URL: httpUrl().optional(),
  PARLEY_JWT_ISSUER: z.string().min(1).optional(),
  PARLEY_JWT_AUDIENCE: z.string().min(1).optional(),
  PARLEY_MAX_TOKEN_AGE_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(30 * 24 * 60 * 60)
    .default(DEFAULT_MAX_TOKEN_AGE_SECONDS),
  /** Comma-separated origins such as `https://app.example.com`; empty or absent allows any. */
  PARLEY_ALLOWED_ORIGINS: z
    .string()
    .default('')
    .transform((list) =>
      list
        .split(',')
        .map((origin) => origin.trim())
        .filter((origin) => origin !== ''),
    )
    .pipe(z.array(httpUrl().refine(isOrigin, 'must be origins such as https://app.example.com'))),
  /**
   * Set by the local stack alone, never by the CDK: lets a JWKS be served over plain http
   * from this machine. In AWS a key set fetched over http could be swapped on the way.
   */
  PARLEY_LOCAL_STACK: z.literal('true').optional(),
});

/** The definition of a function, by its id; throws for an id `definitions/functions.ts` does not list. */
export function functionDefinition(functionId: FunctionId): FunctionDefinition {
  const definition: FunctionDefinition | undefined = FUNCTIONS.find(({ id }) => id === functionId);
  if (!definition) throw new ConfigurationError(`no function ${functionId} in definitions/functions.ts`);
  return definition;
}

/**
 * Reads the configuration of one function from its environment, and fails at cold start,
 * not at the first request, when a setting it uses is missing or malformed.
 *
 * @example
 * const config = configFromEnvironment('send'); // in the send function's bundle
 */
export function configFromEnvironment(
  functionId: FunctionId,
  environment: NodeJS.ProcessEnv = process.env,
): ParleyConfig {
  const definition = functionDefinition(functionId);
  const env = parse(commonSchema, environment);
  const prefix = `the ${functionId} function`;
  const required = (name: string): string => {
    const value = environment[name];
    if (!value) throw new ConfigurationError(`environment variable ${name}: ${prefix} needs it`);
    return value;
  };

  const names: Partial<ResourceNames> = {};
  for (const tableId of tablesOf(definition)) {
    const field = TABLE_NAME_FIELDS[tableId];
    names[field] = required(environmentVariableName(field));
  }
  if (definition.publishes) names.eventsStream = required(environmentVariableName('eventsStream'));

  let connections: string | undefined;
  if (connectionMethodsOf(definition).length > 0) {
    required('PARLEY_CONNECTIONS_ENDPOINT');
    connections = parse(
      z.object({ PARLEY_CONNECTIONS_ENDPOINT: httpUrl() }),
      environment,
    ).PARLEY_CONNECTIONS_ENDPOINT;
    connections = connectionsEndpoint(
      connections,
      env.AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI ?? env.AWS_ENDPOINT_URL,
    );
  }

  return {
    names,
    endpoints: { region: env.AWS_REGION, ...(connections ? { connections } : {}) },
    ...(definition.verifiesTokens ? { tokens: tokenConfig(parse(tokenSchema, environment), prefix) } : {}),
    connectionTtlSeconds: env.PARLEY_CONNECTION_TTL_SECONDS,
    maxConnectionsPerUser: env.PARLEY_MAX_CONNECTIONS_PER_USER,
    postConcurrency: env.PARLEY_POST_CONCURRENCY,
    fastPathMaxConnections: env.FAST_PATH_MAX_CONNECTIONS,
    // Only a function with a per-user limit has the table to count it in.
    ...('rate-limits' in definition.tables ? { rateLimits: rateLimitsFrom(environment) } : {}),
    logLevel: env.POWERTOOLS_LOG_LEVEL,
    serviceName: env.POWERTOOLS_SERVICE_NAME,
    ...retentionOf(env.PARLEY_MESSAGE_RETENTION_DAYS),
    ...(definition.pushes || definition.deletesPlatformEndpoints
      ? { push: pushSettingsFrom(environment) }
      : {}),
  };
}

const retentionOf = (days: number | undefined) => (days === undefined ? {} : { messageRetentionDays: days });

/**
 * `PARLEY_MESSAGE_RETENTION_DAYS` from an environment, checked as a function reads it: the
 * local stack and the erase command take it from their own process's environment.
 */
export function messageRetentionFrom(environment: NodeJS.ProcessEnv = process.env): {
  messageRetentionDays?: number;
} {
  return retentionOf(
    parse(commonSchema.pick({ PARLEY_MESSAGE_RETENTION_DAYS: true }), environment)
      .PARLEY_MESSAGE_RETENTION_DAYS,
  );
}

function tokenConfig(env: z.infer<typeof tokenSchema>, prefix: string): TokenConfig {
  const claims = {
    ...(env.PARLEY_JWT_ISSUER ? { issuer: env.PARLEY_JWT_ISSUER } : {}),
    ...(env.PARLEY_JWT_AUDIENCE ? { audience: env.PARLEY_JWT_AUDIENCE } : {}),
    maxTokenAgeSeconds: env.PARLEY_MAX_TOKEN_AGE_SECONDS,
    ...(env.PARLEY_ALLOWED_ORIGINS.length > 0 ? { allowedOrigins: env.PARLEY_ALLOWED_ORIGINS } : {}),
  };
  if (env.PARLEY_JWKS_URL) return { jwksUrl: jwksUrlOf(env, prefix), ...claims };
  if (env.PARLEY_JWT_SECRET) return { secret: env.PARLEY_JWT_SECRET, ...claims };
  if (env.PARLEY_JWT_SECRET_ARN) return { secretArn: env.PARLEY_JWT_SECRET_ARN, ...claims };
  throw new ConfigurationError(
    `environment variables PARLEY_JWT_SECRET, PARLEY_JWT_SECRET_ARN and PARLEY_JWKS_URL: ${prefix} needs one of them to verify tokens`,
  );
}

/** `PARLEY_MAX_CONNECTIONS_PER_USER` from an environment, checked as the `connect` function reads it. */
export function maxConnectionsPerUserFrom(environment: NodeJS.ProcessEnv = process.env): number {
  return parse(commonSchema.pick({ PARLEY_MAX_CONNECTIONS_PER_USER: true }), environment)
    .PARLEY_MAX_CONNECTIONS_PER_USER;
}

/**
 * A JWKS is an identity provider's, which issues tokens for other services too: without
 * `iss` and `aud` checked, a token it made for any of them would open a Parley connection.
 */
function jwksUrlOf(env: z.infer<typeof tokenSchema>, prefix: string): string {
  for (const name of ['PARLEY_JWT_ISSUER', 'PARLEY_JWT_AUDIENCE'] as const) {
    if (!env[name]) {
      throw new ConfigurationError(`environment variable ${name}: ${prefix} needs it with PARLEY_JWKS_URL`);
    }
  }
  const url = env.PARLEY_JWKS_URL ?? '';
  if (!url.startsWith('https://') && env.PARLEY_LOCAL_STACK !== 'true') {
    throw new ConfigurationError(
      'environment variable PARLEY_JWKS_URL: must be an https:// URL (http is for the local stack only)',
    );
  }
  return url;
}

/**
 * `FAST_PATH_MAX_CONNECTIONS` from an environment, checked as a function reads it: the
 * local stack takes it from its own process's environment.
 */
export function fastPathMaxConnectionsFrom(environment: NodeJS.ProcessEnv = process.env): number {
  return parse(commonSchema.pick({ FAST_PATH_MAX_CONNECTIONS: true }), environment).FAST_PATH_MAX_CONNECTIONS;
}

/**
 * `PARLEY_RATE_LIMITS` from an environment: a JSON object of the limits that differ from
 * the defaults (definitions/rate-limits.ts). The local stack reads its own process's.
 */
export function rateLimitsFrom(environment: NodeJS.ProcessEnv = process.env): RateLimits {
  try {
    return parseRateLimits(environment.PARLEY_RATE_LIMITS);
  } catch (error) {
    throw new ConfigurationError(`environment variable PARLEY_RATE_LIMITS: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function parse<Schema extends z.ZodType>(schema: Schema, environment: NodeJS.ProcessEnv): z.infer<Schema> {
  const parsed = schema.safeParse(environment);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ConfigurationError(`environment variable ${issue?.path.join('.')}: ${issue?.message}`);
}

/**
 * The stack names the API's AWS endpoint. Where the SDK's endpoints are overridden
 * (LocalStack sets `AWS_ENDPOINT_URL`; the local stack's deployed mode sets
 * `AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI`), `@connections` is served at the override
 * instead, with no API id or stage: connection ids are unique across APIs there
 * (https://docs.localstack.cloud/aws/services/apigateway/, "WebSocket APIs"). In AWS no
 * override is set and the endpoint is kept as given.
 */
function connectionsEndpoint(given: string, override: string | undefined): string {
  if (override && AWS_CONNECTIONS_ENDPOINT.test(given)) return override.replace(/\/+$/, '');
  return given;
}

/** The push services browsers subscribe with; a deployment may name others in `PARLEY_PUSH_ENDPOINT_HOSTS`. */
export const DEFAULT_PUSH_ENDPOINT_HOSTS = [
  'fcm.googleapis.com',
  'push.services.mozilla.com',
  'notify.windows.com',
  'push.apple.com',
] as const;

const SNS_PLATFORM_APPLICATION_ARN =
  /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:app\/(APNS|APNS_SANDBOX|GCM)\/.+$/;
/** A P-256 key in base64url: 65 bytes public (uncompressed), 32 bytes private. */
const vapidKey = (bytes: number) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'must be base64url')
    .length(Math.ceil((bytes * 4) / 3), `must be ${bytes} bytes in base64url`);

const pushSchema = z.object({
  /** The deployment's VAPID public key (RFC 8292): Web Push is on when it is set. */
  PARLEY_VAPID_PUBLIC_KEY: vapidKey(65).optional(),
  /** The private key, given directly: the local stack's engines mode, or a deployment that keeps it elsewhere. */
  PARLEY_VAPID_PRIVATE_KEY: vapidKey(32).optional(),
  /** The Secrets Manager secret whose `SecretString` is the private key, as the CDK stack passes it. */
  PARLEY_VAPID_PRIVATE_KEY_SECRET_ARN: z
    .string()
    .regex(SECRET_ARN, 'must be a Secrets Manager secret ARN')
    .optional(),
  /** Who push services may contact about this deployment's pushes: a `mailto:` or `https:` URL (RFC 8292 `sub`). */
  PARLEY_VAPID_SUBJECT: z
    .string()
    .regex(/^(mailto:\S+@\S+|https:\/\/\S+)$/, 'must be a mailto: or https: URL')
    .optional(),
  PARLEY_APNS_PLATFORM_APPLICATION_ARN: z
    .string()
    .regex(SNS_PLATFORM_APPLICATION_ARN, 'must be an SNS platform application ARN of APNS or APNS_SANDBOX')
    .refine(
      (arn) => arn.includes(':app/APNS'),
      'must be an SNS platform application ARN of APNS or APNS_SANDBOX',
    )
    .optional(),
  PARLEY_FCM_PLATFORM_APPLICATION_ARN: z
    .string()
    .regex(SNS_PLATFORM_APPLICATION_ARN, 'must be an SNS platform application ARN of GCM (FCM)')
    .refine((arn) => arn.includes(':app/GCM/'), 'must be an SNS platform application ARN of GCM (FCM)')
    .optional(),
  /** Show the start of a message's body in its push; off by default ("New message"). */
  PARLEY_PUSH_PREVIEW: z.enum(['true', 'false']).default('false'),
  PARLEY_PUSH_COALESCE_SECONDS: z.coerce.number().int().min(1).max(300).default(5),
  PARLEY_PUSH_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .max(28 * 24 * 60 * 60)
    .default(24 * 60 * 60),
  /**
   * Comma-separated: host names whose https Web Push endpoints this deployment posts to
   * (a name allows its subdomains), or exact origins such as `http://127.0.0.1:8093` (the
   * local push service). Anything else is refused at `registerPush`, so that a client
   * cannot make the functions post to an address of its choosing.
   */
  PARLEY_PUSH_ENDPOINT_HOSTS: z
    .string()
    .default(DEFAULT_PUSH_ENDPOINT_HOSTS.join(','))
    .transform((list) =>
      list
        .split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry !== ''),
    ),
});

/** How a deployment pushes (protocol 1.4, docs/adr/0016-push.md). */
export interface PushSettings {
  /**
   * Present when Web Push is on. The notifier needs the private key: given directly, or
   * read from `privateKeySecretArn`; the routes need only to know that Web Push is on.
   */
  vapid?: { publicKey: string; subject: string; privateKey?: string; privateKeySecretArn?: string };
  apnsPlatformApplicationArn?: string;
  fcmPlatformApplicationArn?: string;
  preview: boolean;
  coalesceWindowMs: number;
  ttlSeconds: number;
  /** Host names (https, subdomains included) and exact origins a Web Push endpoint may have. */
  endpointHosts: string[];
}

/**
 * The push settings from an environment, checked as `register-push`, `unregister-push` and
 * `push-notifier` read them: the routes need to know which kinds are on, the notifier the keys.
 */
export function pushSettingsFrom(environment: NodeJS.ProcessEnv = process.env): PushSettings {
  const env = parse(pushSchema, environment);
  const privateKey = env.PARLEY_VAPID_PRIVATE_KEY
    ? { privateKey: env.PARLEY_VAPID_PRIVATE_KEY }
    : env.PARLEY_VAPID_PRIVATE_KEY_SECRET_ARN
      ? { privateKeySecretArn: env.PARLEY_VAPID_PRIVATE_KEY_SECRET_ARN }
      : {};
  if (env.PARLEY_VAPID_PUBLIC_KEY && !env.PARLEY_VAPID_SUBJECT) {
    throw new ConfigurationError(
      'environment variable PARLEY_VAPID_SUBJECT: Web Push needs it with PARLEY_VAPID_PUBLIC_KEY (a mailto: or https: contact)',
    );
  }
  return {
    ...(env.PARLEY_VAPID_PUBLIC_KEY && env.PARLEY_VAPID_SUBJECT
      ? {
          vapid: { publicKey: env.PARLEY_VAPID_PUBLIC_KEY, subject: env.PARLEY_VAPID_SUBJECT, ...privateKey },
        }
      : {}),
    ...(env.PARLEY_APNS_PLATFORM_APPLICATION_ARN
      ? { apnsPlatformApplicationArn: env.PARLEY_APNS_PLATFORM_APPLICATION_ARN }
      : {}),
    ...(env.PARLEY_FCM_PLATFORM_APPLICATION_ARN
      ? { fcmPlatformApplicationArn: env.PARLEY_FCM_PLATFORM_APPLICATION_ARN }
      : {}),
    preview: env.PARLEY_PUSH_PREVIEW === 'true',
    coalesceWindowMs: env.PARLEY_PUSH_COALESCE_SECONDS * 1000,
    ttlSeconds: env.PARLEY_PUSH_TTL_SECONDS,
    endpointHosts: env.PARLEY_PUSH_ENDPOINT_HOSTS,
  };
}

/**
 * True when a Web Push endpoint is one this deployment posts to: https to a listed host
 * or its subdomain, or exactly a listed origin (which may be http, for the local push service).
 */
export function isAllowedPushEndpoint(endpoint: string, endpointHosts: readonly string[]): boolean {
  if (!URL.canParse(endpoint)) return false;
  const url = new URL(endpoint);
  if (url.username || url.password) return false;
  return endpointHosts.some((entry) =>
    entry.includes('://')
      ? url.origin === entry
      : url.protocol === 'https:' && (url.hostname === entry || url.hostname.endsWith(`.${entry}`)),
  );
}
