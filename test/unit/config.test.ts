import { afterEach, describe, expect, it, vi } from 'vitest';
import { FUNCTIONS, type FunctionId, requiredVariablesOf } from '../../definitions/functions.js';
import { DEFAULT_RATE_LIMITS } from '../../definitions/rate-limits.js';
import { InMemoryMetrics } from '../../lambdas/adapters/in-memory-metrics.js';
import { PowertoolsMetricsRecorder } from '../../lambdas/adapters/powertools-metrics.js';
import {
  configFromEnvironment,
  DEFAULT_CONNECTION_TTL_SECONDS,
  DEFAULT_FAST_PATH_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_USER,
  functionDefinition,
  messageRetentionFrom,
} from '../../lambdas/config.js';
import { ConfigurationError } from '../../lambdas/domain/errors.js';
import { DEFAULT_MAX_TOKEN_AGE_SECONDS } from '../../lambdas/domain/tokens.js';
import { createDeps, depsFromEnvironment } from '../../lambdas/runtime.js';
import { testConfig } from './support/harness.js';

const AWS_CONNECTIONS_ENDPOINT = 'https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod';
const LOCALSTACK = 'http://localhost.localstack.cloud:4566';
/** What the CDK stack gives the ack function: its tables, the stream and the @connections endpoint (its answers, posted). */
const ACK_ENVIRONMENT = {
  PARLEY_CONVERSATIONS_TABLE: 'conversations-v2',
  PARLEY_RATE_LIMITS_TABLE: 'rate-limits-v2',
  PARLEY_EVENTS_STREAM: 'events-v2',
  PARLEY_CONNECTIONS_ENDPOINT: AWS_CONNECTIONS_ENDPOINT,
};
/** What the CDK stack gives the typing function: its tables and the @connections endpoint. */
const TYPING_ENVIRONMENT = {
  PARLEY_CONNECTIONS_TABLE: 'connections-v2',
  PARLEY_CONVERSATIONS_TABLE: 'conversations-v2',
  PARLEY_GROUP_CONNECTIONS_TABLE: 'group-connections-v2',
  PARLEY_RATE_LIMITS_TABLE: 'rate-limits-v2',
  PARLEY_USER_CONVERSATIONS_TABLE: 'user-conversations-v2',
  PARLEY_CONNECTIONS_ENDPOINT: AWS_CONNECTIONS_ENDPOINT,
};

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('configFromEnvironment', () => {
  it('reads for a function only the names of the resources definitions/functions.ts gives it, with defaults for the rest', () => {
    const config = configFromEnvironment('ack', ACK_ENVIRONMENT);

    expect(config).toEqual({
      names: {
        conversationsTable: 'conversations-v2',
        rateLimitsTable: 'rate-limits-v2',
        eventsStream: 'events-v2',
      },
      endpoints: { region: 'us-east-1', connections: AWS_CONNECTIONS_ENDPOINT },
      connectionTtlSeconds: DEFAULT_CONNECTION_TTL_SECONDS,
      maxConnectionsPerUser: DEFAULT_MAX_CONNECTIONS_PER_USER,
      postConcurrency: 50,
      fastPathMaxConnections: DEFAULT_FAST_PATH_MAX_CONNECTIONS,
      rateLimits: DEFAULT_RATE_LIMITS,
      logLevel: 'INFO',
      serviceName: 'parley',
    });
    expect(DEFAULT_CONNECTION_TTL_SECONDS).toBeGreaterThan(2 * 60 * 60);
  });

  it('needs no token settings in a function that verifies no token', () => {
    for (const { id } of FUNCTIONS.filter((definition) => !('verifiesTokens' in definition))) {
      const environment = Object.fromEntries(
        requiredVariablesOf(functionDefinition(id)).map((name) => [
          name,
          name === 'PARLEY_CONNECTIONS_ENDPOINT' ? AWS_CONNECTIONS_ENDPOINT : `${name}-value`,
        ]),
      );

      expect(configFromEnvironment(id, environment).tokens, id).toBeUndefined();
    }
  });

  it.each(
    FUNCTIONS.flatMap(({ id }) => requiredVariablesOf(functionDefinition(id)).map((name) => [id, name])),
  )('refuses to start the %s function without %s, naming it', (id, missing) => {
    const environment = Object.fromEntries(
      requiredVariablesOf(functionDefinition(id as FunctionId))
        .filter((name) => name !== missing)
        .map((name) => [name, name === 'PARLEY_CONNECTIONS_ENDPOINT' ? AWS_CONNECTIONS_ENDPOINT : 'x']),
    );
    const read = () => configFromEnvironment(id as FunctionId, { ...environment, PARLEY_JWT_SECRET: 's' });

    expect(read).toThrow(ConfigurationError);
    expect(read).toThrow(`environment variable ${missing}: the ${id} function needs it`);
  });

  it.each(['0', '1001', 'ten'])('refuses PARLEY_MAX_CONNECTIONS_PER_USER=%s, naming it', (value) => {
    expect(() =>
      configFromEnvironment('ack', { ...ACK_ENVIRONMENT, PARLEY_MAX_CONNECTIONS_PER_USER: value }),
    ).toThrow(/^environment variable PARLEY_MAX_CONNECTIONS_PER_USER: /);
  });

  it('refuses an authorizer with neither a JWT secret, a secret ARN nor a JWKS URL', () => {
    const read = () => configFromEnvironment('authorizer', {});

    expect(read).toThrow(ConfigurationError);
    expect(read).toThrow(
      /^environment variables PARLEY_JWT_SECRET, PARLEY_JWT_SECRET_ARN and PARLEY_JWKS_URL: the authorizer function needs one of them/,
    );
  });

  it('reads every setting it is given', () => {
    const config = configFromEnvironment('authorizer', {
      AWS_REGION: 'eu-west-1',
      PARLEY_JWT_SECRET: 's3cret',
      PARLEY_JWT_ISSUER: 'https://id.parley.example',
      PARLEY_JWT_AUDIENCE: 'parley-api',
      PARLEY_MAX_TOKEN_AGE_SECONDS: '3600',
      PARLEY_ALLOWED_ORIGINS: 'https://app.parley.example, http://localhost:5173',
      PARLEY_CONNECTION_TTL_SECONDS: '600',
      PARLEY_POST_CONCURRENCY: '8',
      PARLEY_MAX_CONNECTIONS_PER_USER: '3',
      FAST_PATH_MAX_CONNECTIONS: '0',
      POWERTOOLS_LOG_LEVEL: 'DEBUG',
      POWERTOOLS_SERVICE_NAME: 'parley-staging',
    });

    expect(config).toEqual({
      names: {},
      endpoints: { region: 'eu-west-1' },
      tokens: {
        secret: 's3cret',
        issuer: 'https://id.parley.example',
        audience: 'parley-api',
        maxTokenAgeSeconds: 3600,
        allowedOrigins: ['https://app.parley.example', 'http://localhost:5173'],
      },
      connectionTtlSeconds: 600,
      maxConnectionsPerUser: 3,
      postConcurrency: 8,
      fastPathMaxConnections: 0,
      logLevel: 'DEBUG',
      serviceName: 'parley-staging',
    });
  });

  it('verifies with the JWKS, its issuer and its audience when a JWKS URL is set', () => {
    const config = configFromEnvironment('authorizer', {
      PARLEY_JWKS_URL: 'https://id.parley.example/.well-known/jwks.json',
      PARLEY_JWT_ISSUER: 'https://id.parley.example/',
      PARLEY_JWT_AUDIENCE: 'parley-api',
    });

    expect(config.tokens).toEqual({
      jwksUrl: 'https://id.parley.example/.well-known/jwks.json',
      issuer: 'https://id.parley.example/',
      audience: 'parley-api',
      maxTokenAgeSeconds: DEFAULT_MAX_TOKEN_AGE_SECONDS,
    });
  });

  it('reads the key from Secrets Manager when only its ARN is set', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:Parley-dev-Key-AbC123';

    expect(configFromEnvironment('authorizer', { PARLEY_JWT_SECRET_ARN: arn }).tokens).toEqual({
      secretArn: arn,
      maxTokenAgeSeconds: DEFAULT_MAX_TOKEN_AGE_SECONDS,
    });
  });

  it('reads process.env when given no environment', () => {
    vi.stubEnv('PARLEY_CONVERSATIONS_TABLE', 'from-process');
    vi.stubEnv('PARLEY_RATE_LIMITS_TABLE', 'rate-limits');
    vi.stubEnv('PARLEY_POST_CONCURRENCY', '3');

    const config = configFromEnvironment('sync');

    expect(config.names.conversationsTable).toBe('from-process');
    expect(config.postConcurrency).toBe(3);
  });

  it.each([
    ['PARLEY_CONNECTION_TTL_SECONDS', 'two hours'],
    ['PARLEY_CONNECTION_TTL_SECONDS', '59'],
    ['PARLEY_CONNECTION_TTL_SECONDS', '7200.5'],
    ['PARLEY_POST_CONCURRENCY', '0'],
    ['PARLEY_POST_CONCURRENCY', '1001'],
    ['FAST_PATH_MAX_CONNECTIONS', '-1'],
    ['FAST_PATH_MAX_CONNECTIONS', 'few'],
    ['POWERTOOLS_LOG_LEVEL', 'LOUD'],
    ['PARLEY_CONNECTIONS_ENDPOINT', 'not a url'],
    ['PARLEY_JWKS_URL', 'jwks.json'],
    ['PARLEY_JWT_SECRET_ARN', 'not-an-arn'],
    ['PARLEY_JWT_SECRET', ''],
    ['POWERTOOLS_SERVICE_NAME', ''],
  ])('refuses %s=%j naming the variable', (name, value) => {
    const function_ = name.startsWith('PARLEY_J') ? 'authorizer' : 'typing';
    const read = () => configFromEnvironment(function_, { ...TYPING_ENVIRONMENT, [name]: value });

    expect(read).toThrow(ConfigurationError);
    expect(read).toThrow(new RegExp(`^environment variable ${name}: `));
  });

  it.each([
    ['PARLEY_CONNECTIONS_ENDPOINT', 'wss://abc123defg.execute-api.eu-west-1.amazonaws.com/prod'],
    ['AWS_ENDPOINT_URL', 'localhost.localstack.cloud:4566'],
    ['AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI', '127.0.0.1:3001'],
  ])('refuses %s=%j, which has no http(s) scheme', (name, value) => {
    const read = () => configFromEnvironment('typing', { ...TYPING_ENVIRONMENT, [name]: value });

    expect(read).toThrow(ConfigurationError);
    expect(read).toThrow(`environment variable ${name}: must be an http:// or https:// URL`);
  });
});

describe('configFromEnvironment with the AWS SDK endpoints overridden', () => {
  it('sends @connections to LocalStack’s own endpoint instead of the API’s endpoint in AWS', () => {
    const config = configFromEnvironment('typing', {
      ...TYPING_ENVIRONMENT,
      AWS_ENDPOINT_URL: `${LOCALSTACK}/`,
    });

    expect(config.endpoints.connections).toBe(LOCALSTACK);
  });

  it('sends @connections to the API Gateway Management API override, before the general one', () => {
    const config = configFromEnvironment('typing', {
      ...TYPING_ENVIRONMENT,
      AWS_ENDPOINT_URL: LOCALSTACK,
      AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI: 'http://127.0.0.1:3001',
    });

    expect(config.endpoints.connections).toBe('http://127.0.0.1:3001');
  });

  it('leaves the DynamoDB and Kinesis endpoints to the SDK, which reads the overrides itself', () => {
    const config = configFromEnvironment('ack', { ...ACK_ENVIRONMENT, AWS_ENDPOINT_URL: LOCALSTACK });

    // @connections is none of them: LocalStack serves it at its own URL (the next tests).
    expect(config.endpoints).toEqual({ region: 'us-east-1', connections: LOCALSTACK });
  });

  it('keeps an explicit @connections endpoint that is not an AWS one', () => {
    const config = configFromEnvironment('typing', {
      ...TYPING_ENVIRONMENT,
      AWS_ENDPOINT_URL: LOCALSTACK,
      PARLEY_CONNECTIONS_ENDPOINT: 'http://127.0.0.1:3001',
    });

    expect(config.endpoints.connections).toBe('http://127.0.0.1:3001');
  });

  it('keeps the API’s endpoint in AWS, where no override is set', () => {
    expect(configFromEnvironment('typing', TYPING_ENVIRONMENT).endpoints.connections).toBe(
      AWS_CONNECTIONS_ENDPOINT,
    );
  });
});

describe('building the deps', () => {
  it('refuses token settings with neither a secret nor a JWKS URL', () => {
    expect(() => createDeps(testConfig({ tokens: {} }))).toThrow(
      'token settings need a secret, a way to load one, or a JWKS URL',
    );
  });

  it('keeps the metrics in memory on this machine, where EMF on stdout would only be noise', () => {
    const deps = createDeps(testConfig());

    expect(deps.metrics).toBeInstanceOf(InMemoryMetrics);
    deps.clients.destroy();
  });

  it('records the metrics with Powertools in AWS', () => {
    const deps = createDeps(testConfig({ endpoints: { region: 'us-east-1' } }));

    expect(deps.metrics).toBeInstanceOf(PowertoolsMetricsRecorder);
    deps.clients.destroy();
  });

  it('builds the deps from the environment once and reuses them', () => {
    vi.stubEnv('PARLEY_CONVERSATIONS_TABLE', 'once-conversations');
    vi.stubEnv('PARLEY_RATE_LIMITS_TABLE', 'rate-limits');
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
    const provider = depsFromEnvironment('sync');

    const first = provider();
    const second = provider();

    expect(second).toBe(first);
    expect(first.config.names.conversationsTable).toBe('once-conversations');
    first.clients.destroy();
  });

  it('fails the first invocation, naming the variable, when a setting the function uses is missing', () => {
    vi.stubEnv('PARLEY_CONVERSATIONS_TABLE', '');

    expect(depsFromEnvironment('sync')).toThrow('environment variable PARLEY_CONVERSATIONS_TABLE');
  });

  it('fails, naming the variable, when a function reaches a resource definitions/functions.ts does not give it', async () => {
    vi.stubEnv('PARLEY_CONVERSATIONS_TABLE', 'conversations');
    vi.stubEnv('PARLEY_RATE_LIMITS_TABLE', 'rate-limits');
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
    const deps = depsFromEnvironment('sync')();

    await expect(deps.presence.get('alice')).rejects.toThrow(
      'PARLEY_PRESENCE_TABLE is not set for this function: definitions/functions.ts does not give it',
    );
    await expect(deps.verifyToken('a.b.c')).rejects.toThrow(ConfigurationError);
    deps.clients.destroy();
  });

  it('keeps sequencing on the wrapped store and publisher', () => {
    const messages = { lastSeq: vi.fn(), storeMessage: vi.fn(), getMessage: vi.fn(), listMessages: vi.fn() };
    const publisher = { publish: vi.fn() };

    const deps = createDeps(testConfig(), { wrap: (real) => ({ ...real, messages, publisher }) });

    expect(deps.sequencing.messages).toBe(messages);
    expect(deps.sequencing.publisher).toBe(publisher);
    deps.clients.destroy();
  });
});

describe('the retention setting', () => {
  it('is absent, keeping messages forever, unless PARLEY_MESSAGE_RETENTION_DAYS is set', () => {
    expect(messageRetentionFrom({})).toEqual({});
    expect(messageRetentionFrom({ PARLEY_MESSAGE_RETENTION_DAYS: '30' })).toEqual({
      messageRetentionDays: 30,
    });
  });

  it('refuses a retention of no days, naming the variable', () => {
    expect(() => messageRetentionFrom({ PARLEY_MESSAGE_RETENTION_DAYS: '0' })).toThrow(
      'environment variable PARLEY_MESSAGE_RETENTION_DAYS',
    );
  });

  it('reaches a function through its environment', () => {
    const config = configFromEnvironment('ack', {
      PARLEY_CONVERSATIONS_TABLE: 'c',
      PARLEY_RATE_LIMITS_TABLE: 'r',
      PARLEY_EVENTS_STREAM: 'e',
      PARLEY_CONNECTIONS_ENDPOINT: AWS_CONNECTIONS_ENDPOINT,
      PARLEY_MESSAGE_RETENTION_DAYS: '14',
    });

    expect(config.messageRetentionDays).toBe(14);
  });
});
