import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type AwsClients, createAwsClients } from '../../lambdas/adapters/aws-clients.js';
import { configFromEnvironment } from '../../lambdas/config.js';

const LOCALSTACK = 'http://localhost.localstack.cloud:4566';
/** What the CDK stack sets for the typing function: its tables and the API's `@connections` endpoint in AWS. */
const STACK_ENVIRONMENT = {
  AWS_REGION: 'us-east-1',
  PARLEY_CONNECTIONS_TABLE: 'connections',
  PARLEY_CONVERSATIONS_TABLE: 'conversations',
  PARLEY_GROUP_CONNECTIONS_TABLE: 'group-connections',
  PARLEY_RATE_LIMITS_TABLE: 'rate-limits',
  PARLEY_USER_CONVERSATIONS_TABLE: 'user-conversations',
  PARLEY_CONNECTIONS_ENDPOINT: 'https://abc123defg.execute-api.us-east-1.amazonaws.com/prod',
};
const endpointsOf = (environment: NodeJS.ProcessEnv) =>
  configFromEnvironment('typing', environment).endpoints;

interface SentRequest {
  protocol: string;
  hostname: string;
  port?: number;
  path: string;
}

/** Stops a request once its endpoint is resolved, and tells where it would have gone. */
async function urlOf(client: { middlewareStack: unknown; send: unknown }, command: object): Promise<string> {
  const sent = new Error('stopped before sending');
  const stack = client.middlewareStack as {
    add(middleware: () => (args: { request: unknown }) => never, options: { step: 'build' }): void;
  };
  // The build step comes after the endpoint is resolved and before anything is sent.
  stack.add(
    () => (args) => {
      throw Object.assign(sent, { request: args.request });
    },
    { step: 'build' },
  );
  const send = (client.send as (command: object) => Promise<unknown>).bind(client);
  await expect(send(command)).rejects.toBe(sent);
  const { protocol, hostname, port, path } = (sent as Error & { request: SentRequest }).request;
  return `${protocol}//${hostname}${port ? `:${port}` : ''}${path}`;
}

let clients: AwsClients | undefined;

beforeEach(() => {
  // What LocalStack gives its Lambdas; credentials are signed before the request is built.
  vi.stubEnv('AWS_ENDPOINT_URL', LOCALSTACK);
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
});

afterEach(() => {
  clients?.destroy();
  clients = undefined;
  vi.unstubAllEnvs();
});

describe('the AWS SDK clients under LocalStack', () => {
  it('send DynamoDB, Kinesis and @connections requests to AWS_ENDPOINT_URL alone', async () => {
    clients = createAwsClients(endpointsOf({ ...STACK_ENVIRONMENT, AWS_ENDPOINT_URL: LOCALSTACK }));

    expect(await urlOf(clients.dynamodb, new GetCommand({ TableName: 't', Key: { id: '1' } }))).toBe(
      `${LOCALSTACK}/`,
    );
    expect(await urlOf(clients.kinesis, new ListStreamsCommand({}))).toBe(`${LOCALSTACK}/`);
    expect(
      await urlOf(clients.connections, new PostToConnectionCommand({ ConnectionId: 'c1=', Data: 'hi' })),
    ).toBe(`${LOCALSTACK}/@connections/c1%3D`);
  });

  it('send each service to its own AWS_ENDPOINT_URL_{SERVICE}, as the deployed mode of the local stack sets them', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', 'http://127.0.0.1:8000');
    vi.stubEnv('AWS_ENDPOINT_URL_KINESIS', 'http://127.0.0.1:4567');
    clients = createAwsClients(
      endpointsOf({
        ...STACK_ENVIRONMENT,
        AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI: 'http://127.0.0.1:3001',
      }),
    );

    expect(await urlOf(clients.dynamodb, new GetCommand({ TableName: 't', Key: { id: '1' } }))).toBe(
      'http://127.0.0.1:8000/',
    );
    expect(await urlOf(clients.kinesis, new ListStreamsCommand({}))).toBe('http://127.0.0.1:4567/');
    expect(
      await urlOf(clients.connections, new PostToConnectionCommand({ ConnectionId: 'c1=', Data: 'hi' })),
    ).toBe('http://127.0.0.1:3001/@connections/c1%3D');
  });

  it('go to the regional endpoints and the API’s endpoint in AWS, where AWS_ENDPOINT_URL is not set', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL', undefined);
    clients = createAwsClients(endpointsOf(STACK_ENVIRONMENT));

    expect(await urlOf(clients.dynamodb, new GetCommand({ TableName: 't', Key: { id: '1' } }))).toBe(
      'https://dynamodb.us-east-1.amazonaws.com/',
    );
    expect(await urlOf(clients.kinesis, new ListStreamsCommand({}))).toBe(
      'https://kinesis.us-east-1.amazonaws.com/',
    );
    expect(
      await urlOf(clients.connections, new PostToConnectionCommand({ ConnectionId: 'c1=', Data: 'hi' })),
    ).toBe('https://abc123defg.execute-api.us-east-1.amazonaws.com/prod/@connections/c1%3D');
  });
});

describe('the AWS SDK clients of the local stack', () => {
  it('resolve no account-based DynamoDB endpoint, which the engines do not have', async () => {
    clients = createAwsClients({ region: 'us-east-1', local: true, dynamodb: 'http://127.0.0.1:8000' });
    const config = clients.dynamodb.config as unknown as { accountIdEndpointMode: () => Promise<string> };

    expect(await config.accountIdEndpointMode()).toBe('disabled');
    expect(await urlOf(clients.dynamodb, new GetCommand({ TableName: 't', Key: { id: '1' } }))).toBe(
      'http://127.0.0.1:8000/',
    );
  });
});
