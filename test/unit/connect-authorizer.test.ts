import {
  DeleteCommand,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { SignJWT } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import { mintToken } from '../../lambdas/domain/tokens.js';
import { createAuthorizerHandler } from '../../lambdas/handlers/authorizer.js';
import { createConnectHandler } from '../../lambdas/handlers/connect.js';
import { createDisconnectHandler } from '../../lambdas/handlers/disconnect.js';
import { createDeps } from '../../lambdas/runtime.js';
import {
  authorizerEvent,
  connectEvent,
  createTestDeps,
  disconnectEvent,
  lambdaContext,
  mockAwsClients,
  NOW,
  publishedRecords,
  TEST_SECRET,
  testConfig,
} from './support/harness.js';

const { ddb, kinesis } = mockAwsClients();

/** The commands the document client sent, by name and table (a transaction's tables), in order. */
const ddbCalls = () =>
  ddb.calls().map((call) => {
    const command = call.args[0] as {
      constructor: { name: string };
      input: { TableName?: string; TransactItems?: Array<Record<string, { TableName?: string }>> };
    };
    const tables = command.input.TransactItems
      ? [
          ...new Set(
            command.input.TransactItems.flatMap((item) => Object.values(item).map((op) => op.TableName)),
          ),
        ]
      : [command.input.TableName];
    return `${command.constructor.name} ${tables.join(',')}`;
  });
const publishedEvents = () => publishedRecords(kinesis);

const METHOD_ARN = 'arn:aws:execute-api:us-east-1:123456789012:abc123defg/prod/$connect';
const nowSeconds = () => Math.floor(Date.now() / 1000);
const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('the $connect authorizer', () => {
  it('allows a valid token on the methodArn and hands userId and deviceId to later routes', async () => {
    const { provider } = createTestDeps();
    const token = await mintToken('alice', TEST_SECRET, { expiresIn: '1h' });

    const result = await createAuthorizerHandler(provider)(authorizerEvent(token), lambdaContext);

    expect(result).toEqual({
      principalId: 'alice',
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: METHOD_ARN }],
      },
      context: { userId: 'alice', deviceId: 'phone' },
    });
  });

  it('refuses a token without exp, which would open connections for ever', async () => {
    const { provider } = createTestDeps();
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setIssuedAt()
      .sign(new TextEncoder().encode(TEST_SECRET));

    await expect(
      createAuthorizerHandler(provider)(authorizerEvent(token), lambdaContext),
    ).rejects.toThrowError(/^Unauthorized$/);
  });

  it('leaves the deviceId check to $connect, passing an empty one on', async () => {
    const { provider } = createTestDeps();
    const event = authorizerEvent(await mintToken('alice', TEST_SECRET));
    delete event.queryStringParameters?.deviceId;

    const result = await createAuthorizerHandler(provider)(event, lambdaContext);

    expect(result.context).toEqual({ userId: 'alice', deviceId: '' });
  });

  it('refuses a handshake without a token', async () => {
    const { provider } = createTestDeps();
    const event = authorizerEvent();
    delete event.queryStringParameters?.token;

    await expect(createAuthorizerHandler(provider)(event, lambdaContext)).rejects.toThrowError(
      /^Unauthorized$/,
    );
  });

  it('refuses a handshake without any query parameters', async () => {
    const { provider } = createTestDeps();
    const event = authorizerEvent();
    event.queryStringParameters = null;

    await expect(createAuthorizerHandler(provider)(event, lambdaContext)).rejects.toThrowError(
      /^Unauthorized$/,
    );
  });

  it.each([
    ['signed with another secret', () => mintToken('alice', 'not-the-secret', { expiresIn: '1h' })],
    ['that expired', () => mintToken('alice', TEST_SECRET, { expiresIn: nowSeconds() - 60 })],
    ['whose sub is not a user id', () => mintToken('alice smith', TEST_SECRET)],
    ['whose sub is too long', () => mintToken('a'.repeat(65), TEST_SECRET)],
    [
      'without sub',
      () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(TEST_SECRET)),
    ],
    ['that is not a JWT', async () => 'not-a-jwt'],
    [
      'with alg none',
      async () => `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ sub: 'alice' })}.`,
    ],
    [
      'not yet valid',
      () =>
        new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('alice')
          .setNotBefore(nowSeconds() + 3600)
          .sign(new TextEncoder().encode(TEST_SECRET)),
    ],
  ])('refuses a token %s', async (_case, makeToken) => {
    const { provider } = createTestDeps();
    const token = await makeToken();

    await expect(
      createAuthorizerHandler(provider)(authorizerEvent(token), lambdaContext),
    ).rejects.toThrowError(/^Unauthorized$/);
  });

  it('refuses a token signed with HS512 when HS256 is expected', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS512' })
      .setSubject('alice')
      .sign(new TextEncoder().encode(TEST_SECRET.repeat(4)));
    const config = testConfig({ tokens: { secret: TEST_SECRET.repeat(4) } });
    const { provider } = createTestDeps({ config });

    await expect(
      createAuthorizerHandler(provider)(authorizerEvent(token), lambdaContext),
    ).rejects.toThrowError(/^Unauthorized$/);
  });

  describe('with an issuer and an audience configured', () => {
    const config = testConfig({
      tokens: { secret: TEST_SECRET, issuer: 'https://id.parley.example', audience: 'parley-api' },
    });

    it('allows a token from that issuer for that audience', async () => {
      const { provider } = createTestDeps({ config });
      const token = await mintToken('alice', TEST_SECRET, {
        expiresIn: '1h',
        issuer: 'https://id.parley.example',
        audience: 'parley-api',
      });

      const result = await createAuthorizerHandler(provider)(authorizerEvent(token), lambdaContext);

      expect(result.principalId).toBe('alice');
    });

    it.each([
      ['without an issuer', { audience: 'parley-api' }],
      ['from another issuer', { issuer: 'https://evil.example', audience: 'parley-api' }],
      ['without an audience', { issuer: 'https://id.parley.example' }],
      ['for another audience', { issuer: 'https://id.parley.example', audience: 'other-api' }],
    ])('refuses a token %s', async (_case, claims) => {
      const { provider } = createTestDeps({ config });
      const token = await mintToken('alice', TEST_SECRET, { expiresIn: '1h', ...claims });

      await expect(
        createAuthorizerHandler(provider)(authorizerEvent(token), lambdaContext),
      ).rejects.toThrowError(/^Unauthorized$/);
    });
  });
});

describe('the $connect route', () => {
  // Protocol 1.1: both read the user's groups in its list (none here; test/unit/group-index.test.ts has some).
  beforeEach(() => {
    ddb.on(QueryCommand, { TableName: 'unit-user-conversations' }).resolves({ Items: [] });
    // An empty partition: the connection cap (test/unit/dynamodb-connection-store.test.ts) lets it in.
    ddb.on(QueryCommand, { TableName: 'unit-connections' }).resolves({ Items: [] });
    ddb.on(TransactWriteCommand).resolves({});
  });

  /** The connection item `$connect` wrote, in the transaction that opens it. */
  const registeredConnection = () =>
    ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems?.[0]?.Put;

  it('registers the connection under its user with an expiry a little over two hours ahead', async () => {
    const { provider, deps } = createTestDeps();
    ddb.on(UpdateCommand).resolves({});

    const result = await createConnectHandler(provider)(connectEvent(), lambdaContext);

    expect(result).toEqual({ statusCode: 200 });
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(1);
    expect(registeredConnection()).toEqual({
      TableName: 'unit-connections',
      Item: {
        userId: 'alice',
        connectionId: 'Jyw1ZebpoAMCKZQ=',
        deviceId: 'phone',
        connectedAt: NOW,
        expiresAt: Math.floor(NOW / 1000) + deps.config.connectionTtlSeconds,
      },
    });
    expect(deps.config.connectionTtlSeconds).toBeGreaterThan(2 * 60 * 60);
  });

  it('then marks the user online until the same expiry, and publishes the change of a user who was offline', async () => {
    const { provider, deps } = createTestDeps();
    ddb
      .on(UpdateCommand)
      .resolves({ Attributes: { userId: 'alice', online: false, lastSeen: NOW - 60_000 } });

    const result = await createConnectHandler(provider)(connectEvent(), lambdaContext);

    expect(result).toEqual({ statusCode: 200 });
    expect(ddbCalls()).toEqual([
      'QueryCommand unit-connections',
      'TransactWriteCommand unit-connections',
      'QueryCommand unit-user-conversations',
      'UpdateCommand unit-presence',
    ]);
    expect(ddb.commandCalls(UpdateCommand)[0]?.args[0].input).toEqual({
      TableName: 'unit-presence',
      Key: { userId: 'alice' },
      UpdateExpression: 'SET #online = :true, lastActiveAt = :now, expiresAt = :expiresAt ADD #version :one',
      ExpressionAttributeNames: { '#online': 'online', '#version': 'version' },
      ExpressionAttributeValues: {
        ':true': true,
        ':now': NOW,
        ':expiresAt': Math.floor(NOW / 1000) + deps.config.connectionTtlSeconds,
        ':one': 1,
      },
      ReturnValues: 'ALL_OLD',
    });
    expect(publishedEvents()).toEqual([
      {
        StreamName: 'unit-events',
        PartitionKey: 'presence:alice',
        event: { type: 'presence-changed', userId: 'alice' },
      },
    ]);
  });

  it('sets the expiry from the real clock when no clock is injected', async () => {
    const before = nowSeconds();
    const deps = createDeps(testConfig());
    ddb.on(UpdateCommand).resolves({});

    await createConnectHandler(() => deps)(connectEvent(), lambdaContext);

    const item = registeredConnection()?.Item;
    const presenceExpiry =
      ddb.commandCalls(UpdateCommand)[0]?.args[0].input.ExpressionAttributeValues?.[':expiresAt'];
    const ttl = deps.config.connectionTtlSeconds;
    for (const expiresAt of [item?.expiresAt, presenceExpiry]) {
      expect(expiresAt).toBeGreaterThanOrEqual(before + ttl);
      expect(expiresAt).toBeLessThanOrEqual(nowSeconds() + ttl);
    }
    deps.clients.destroy();
  });

  it('answers 500 through Lambda when the presence update fails, after registering the connection', async () => {
    const { provider } = createTestDeps();
    ddb.on(UpdateCommand).rejects(new Error('ProvisionedThroughputExceededException'));

    await expect(createConnectHandler(provider)(connectEvent(), lambdaContext)).rejects.toThrow(
      'ProvisionedThroughputExceededException',
    );
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(1);
    expect(kinesis.calls()).toHaveLength(0);
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['with a space', 'my phone'],
    ['of 65 characters', 'd'.repeat(65)],
    ['with a colon', 'phone:1'],
  ])('refuses a deviceId that is %s with 400 and registers nothing', async (_case, deviceId) => {
    const { provider } = createTestDeps();
    const event = connectEvent();
    const query = event.queryStringParameters ?? {};
    if (deviceId === undefined) delete query.deviceId;
    else query.deviceId = deviceId;

    const result = await createConnectHandler(provider)(event, lambdaContext);

    expect(result.statusCode).toBe(400);
    expect(result.body).toBe('deviceId: must be 1 to 64 characters of A-Z, a-z, 0-9, _ or -');
    expect(ddb.calls()).toHaveLength(0);
  });

  it('refuses a handshake without query parameters with 400', async () => {
    const { provider } = createTestDeps();
    const event = connectEvent();
    delete event.queryStringParameters;

    const result = await createConnectHandler(provider)(event, lambdaContext);

    expect(result.statusCode).toBe(400);
    expect(ddb.calls()).toHaveLength(0);
  });

  it('fails rather than guess a user when the authorizer context is missing', async () => {
    const { provider } = createTestDeps();
    const event = connectEvent();
    event.requestContext.authorizer = undefined;

    await expect(createConnectHandler(provider)(event, lambdaContext)).rejects.toThrow(
      'the connection has no authorizer context',
    );
    expect(ddb.calls()).toHaveLength(0);
    expect(kinesis.calls()).toHaveLength(0);
  });
});

describe('the $disconnect route', () => {
  // Protocol 1.1: both read the user's groups in its list (none here; test/unit/group-index.test.ts has some).
  beforeEach(() => {
    ddb.on(QueryCommand, { TableName: 'unit-user-conversations' }).resolves({ Items: [] });
  });

  it('deletes the connection item of the user', async () => {
    const { provider } = createTestDeps();
    ddb.on(GetCommand).resolves({});

    const result = await createDisconnectHandler(provider)(disconnectEvent(), lambdaContext);

    expect(result).toEqual({ statusCode: 200 });
    const deletes = ddb.commandCalls(DeleteCommand);
    expect(deletes).toHaveLength(1);
    expect(deletes[0]?.args[0].input).toEqual({
      TableName: 'unit-connections',
      Key: { userId: 'alice', connectionId: 'Jyw1ZebpoAMCKZQ=' },
    });
  });

  it('then marks the user offline when it was its last connection, and publishes the change', async () => {
    const { provider } = createTestDeps();
    ddb.on(GetCommand).resolves({
      Item: {
        userId: 'alice',
        online: true,
        lastActiveAt: NOW - 1000,
        expiresAt: nowSeconds() + 3600,
        version: 4,
      },
    });
    ddb.on(QueryCommand).resolves({ Items: [] });
    ddb.on(UpdateCommand).resolves({});

    const result = await createDisconnectHandler(provider)(disconnectEvent(), lambdaContext);

    expect(result).toEqual({ statusCode: 200 });
    expect(ddbCalls()).toEqual([
      'DeleteCommand unit-connections',
      'QueryCommand unit-user-conversations',
      'GetCommand unit-presence',
      'QueryCommand unit-connections',
      'UpdateCommand unit-presence',
    ]);
    expect(ddb.commandCalls(GetCommand)[0]?.args[0].input).toEqual({
      TableName: 'unit-presence',
      Key: { userId: 'alice' },
      ConsistentRead: true,
    });
    expect(ddb.commandCalls(UpdateCommand)[0]?.args[0].input).toEqual({
      TableName: 'unit-presence',
      Key: { userId: 'alice' },
      UpdateExpression: 'SET #online = :false, lastSeen = :now REMOVE expiresAt',
      ConditionExpression: '#version = :version AND #online = :true',
      ExpressionAttributeNames: { '#online': 'online', '#version': 'version' },
      ExpressionAttributeValues: { ':false': false, ':true': true, ':now': NOW, ':version': 4 },
    });
    expect(publishedEvents()).toEqual([
      {
        StreamName: 'unit-events',
        PartitionKey: 'presence:alice',
        event: { type: 'presence-changed', userId: 'alice' },
      },
    ]);
  });
});
