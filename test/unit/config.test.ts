import { afterEach, describe, expect, it, vi } from 'vitest';
import { InMemoryMetrics } from '../../lambdas/adapters/in-memory-metrics.js';
import { PowertoolsMetricsRecorder } from '../../lambdas/adapters/powertools-metrics.js';
import {
  ConfigurationError,
  configFromEnvironment,
  DEFAULT_CONNECTION_TTL_SECONDS,
  LOCAL_JWT_SECRET,
} from '../../lambdas/config.js';
import { createDeps, depsFromEnvironment } from '../../lambdas/runtime.js';
import { testConfig } from './support/harness.js';

/** The least an environment in AWS needs: a way to verify tokens. */
const WITH_SECRET = { PARLEY_JWT_SECRET: 's3cret' };
const AWS_CONNECTIONS_ENDPOINT = 'https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod';
const LOCALSTACK = 'http://localhost.localstack.cloud:4566';

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('configFromEnvironment', () => {
  it('falls back to the documented defaults in an environment that sets only the token secret', () => {
    const config = configFromEnvironment(WITH_SECRET);

    expect(config).toEqual({
      names: {
        conversationsTable: 'parley-conversations',
        connectionsTable: 'parley-connections',
        userConversationsTable: 'parley-user-conversations',
        presenceTable: 'parley-presence',
        presenceSubscriptionsTable: 'parley-presence-subscriptions',
        eventsStream: 'parley-events',
      },
      endpoints: { region: 'us-east-1', local: false },
      tokens: { secret: 's3cret' },
      connectionTtlSeconds: DEFAULT_CONNECTION_TTL_SECONDS,
      postConcurrency: 50,
      logLevel: 'INFO',
      serviceName: 'parley',
    });
    expect(DEFAULT_CONNECTION_TTL_SECONDS).toBeGreaterThan(2 * 60 * 60);
  });

  it('refuses, outside the local stack, an environment with neither a JWT secret nor a JWKS URL', () => {
    const read = () => configFromEnvironment({});

    expect(read).toThrow(ConfigurationError);
    expect(read).toThrow(
      /^environment variables PARLEY_JWT_SECRET, PARLEY_JWT_SECRET_ARN and PARLEY_JWKS_URL: one of them is required/,
    );
  });

  it('uses the local development secret on this machine when none is set', () => {
    const config = configFromEnvironment({ PARLEY_LOCAL: 'true' });

    expect(config.endpoints.local).toBe(true);
    expect(config.tokens).toEqual({ secret: LOCAL_JWT_SECRET });
  });

  it('reads every setting it is given', () => {
    const config = configFromEnvironment({
      AWS_REGION: 'eu-west-1',
      PARLEY_RESOURCE_PREFIX: 'parley-staging',
      PARLEY_CONVERSATIONS_TABLE: 'conversations-v2',
      PARLEY_USER_CONVERSATIONS_TABLE: 'user-conversations-v2',
      PARLEY_PRESENCE_TABLE: 'presence-v2',
      PARLEY_PRESENCE_SUBSCRIPTIONS_TABLE: 'presence-subscriptions-v2',
      PARLEY_CONNECTIONS_ENDPOINT: AWS_CONNECTIONS_ENDPOINT,
      PARLEY_DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000',
      PARLEY_KINESIS_ENDPOINT: 'http://127.0.0.1:4567',
      PARLEY_JWT_SECRET: 's3cret',
      PARLEY_JWT_ISSUER: 'https://id.parley.example',
      PARLEY_JWT_AUDIENCE: 'parley-api',
      PARLEY_CONNECTION_TTL_SECONDS: '600',
      PARLEY_POST_CONCURRENCY: '8',
      POWERTOOLS_LOG_LEVEL: 'DEBUG',
      POWERTOOLS_SERVICE_NAME: 'parley-staging',
    });

    expect(config).toEqual({
      names: {
        conversationsTable: 'conversations-v2',
        connectionsTable: 'parley-staging-connections',
        userConversationsTable: 'user-conversations-v2',
        presenceTable: 'presence-v2',
        presenceSubscriptionsTable: 'presence-subscriptions-v2',
        eventsStream: 'parley-staging-events',
      },
      endpoints: {
        region: 'eu-west-1',
        local: false,
        dynamodb: 'http://127.0.0.1:8000',
        kinesis: 'http://127.0.0.1:4567',
        connections: AWS_CONNECTIONS_ENDPOINT,
      },
      tokens: { secret: 's3cret', issuer: 'https://id.parley.example', audience: 'parley-api' },
      connectionTtlSeconds: 600,
      postConcurrency: 8,
      logLevel: 'DEBUG',
      serviceName: 'parley-staging',
    });
  });

  it('verifies with the JWKS alone when only a JWKS URL is set', () => {
    const config = configFromEnvironment({
      PARLEY_JWKS_URL: 'https://id.parley.example/.well-known/jwks.json',
    });

    expect(config.tokens).toEqual({ jwksUrl: 'https://id.parley.example/.well-known/jwks.json' });
    expect('secret' in config.tokens).toBe(false);
  });

  it('reads process.env when given no environment', () => {
    vi.stubEnv('PARLEY_LOCAL', 'true');
    vi.stubEnv('PARLEY_RESOURCE_PREFIX', 'from-process');
    vi.stubEnv('PARLEY_POST_CONCURRENCY', '3');

    const config = configFromEnvironment();

    expect(config.names.eventsStream).toBe('from-process-events');
    expect(config.postConcurrency).toBe(3);
  });

  it.each([
    ['PARLEY_CONNECTION_TTL_SECONDS', 'two hours'],
    ['PARLEY_CONNECTION_TTL_SECONDS', '59'],
    ['PARLEY_CONNECTION_TTL_SECONDS', '7200.5'],
    ['PARLEY_POST_CONCURRENCY', '0'],
    ['PARLEY_POST_CONCURRENCY', '1001'],
    ['PARLEY_LOCAL', 'yes'],
    ['POWERTOOLS_LOG_LEVEL', 'LOUD'],
    ['PARLEY_RESOURCE_PREFIX', 'my stack'],
    ['PARLEY_DYNAMODB_ENDPOINT', 'not a url'],
    ['PARLEY_KINESIS_ENDPOINT', 'not a url'],
    ['PARLEY_CONNECTIONS_ENDPOINT', 'not a url'],
    ['PARLEY_JWKS_URL', 'jwks.json'],
    ['PARLEY_JWT_SECRET', ''],
    ['POWERTOOLS_SERVICE_NAME', ''],
  ])('refuses %s=%j naming the variable', (name, value) => {
    const read = () => configFromEnvironment({ [name]: value });

    expect(read).toThrow(ConfigurationError);
    expect(read).toThrow(new RegExp(`^environment variable ${name}: `));
  });

  it.each([
    ['PARLEY_DYNAMODB_ENDPOINT', 'localhost:8000'],
    ['PARLEY_KINESIS_ENDPOINT', 'localhost:4567'],
    ['PARLEY_CONNECTIONS_ENDPOINT', 'wss://abc123defg.execute-api.eu-west-1.amazonaws.com/prod'],
    ['PARLEY_JWKS_URL', 'ftp://id.parley.example/jwks.json'],
    ['AWS_ENDPOINT_URL', 'localhost.localstack.cloud:4566'],
  ])('refuses %s=%j, which has no http(s) scheme', (name, value) => {
    const read = () => configFromEnvironment({ ...WITH_SECRET, [name]: value });

    expect(read).toThrow(ConfigurationError);
    expect(read).toThrow(`environment variable ${name}: must be an http:// or https:// URL`);
  });

  it.each(['http://127.0.0.1:8000', 'https://dynamodb.eu-west-1.amazonaws.com'])(
    'accepts the endpoint %s',
    (endpoint) => {
      expect(
        configFromEnvironment({ ...WITH_SECRET, PARLEY_DYNAMODB_ENDPOINT: endpoint }).endpoints.dynamodb,
      ).toBe(endpoint);
    },
  );
});

describe('configFromEnvironment under LocalStack', () => {
  it('sends @connections to LocalStack’s own endpoint instead of the API’s endpoint in AWS', () => {
    const config = configFromEnvironment({
      ...WITH_SECRET,
      AWS_ENDPOINT_URL: `${LOCALSTACK}/`,
      PARLEY_CONNECTIONS_ENDPOINT: AWS_CONNECTIONS_ENDPOINT,
    });

    expect(config.endpoints.connections).toBe(LOCALSTACK);
  });

  it('leaves the DynamoDB and Kinesis endpoints to the SDK, which reads AWS_ENDPOINT_URL itself', () => {
    const config = configFromEnvironment({ ...WITH_SECRET, AWS_ENDPOINT_URL: LOCALSTACK });

    expect(config.endpoints).toEqual({ region: 'us-east-1', local: false });
  });

  it('keeps an explicit @connections endpoint that is not an AWS one', () => {
    const config = configFromEnvironment({
      ...WITH_SECRET,
      AWS_ENDPOINT_URL: LOCALSTACK,
      PARLEY_CONNECTIONS_ENDPOINT: 'http://127.0.0.1:3001',
    });

    expect(config.endpoints.connections).toBe('http://127.0.0.1:3001');
  });

  it('keeps the API’s endpoint in AWS when AWS_ENDPOINT_URL is not set', () => {
    const config = configFromEnvironment({
      ...WITH_SECRET,
      PARLEY_CONNECTIONS_ENDPOINT: AWS_CONNECTIONS_ENDPOINT,
    });

    expect(config.endpoints.connections).toBe(AWS_CONNECTIONS_ENDPOINT);
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
    vi.stubEnv('PARLEY_LOCAL', 'true');
    vi.stubEnv('PARLEY_RESOURCE_PREFIX', 'once');
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
    const provider = depsFromEnvironment();

    const first = provider();
    const second = provider();

    expect(second).toBe(first);
    expect(first.config.names.conversationsTable).toBe('once-conversations');
    first.clients.destroy();
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
