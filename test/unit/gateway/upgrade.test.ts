/**
 * The HTTP upgrade: the authorizer, `$connect`, and the handshakes the gateway refuses.
 */
import { once } from 'node:events';
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestAuthorizerHandler } from '../../../local/gateway/index.js';
import {
  allowing,
  authorizerEventSchema,
  cleanUp,
  connectionEventSchema,
  nextText,
  open,
  Recorder,
  refusal,
  refused,
  startGateway,
  upgradeRequest,
} from './harness.js';

afterEach(cleanUp);

describe('the upgrade', () => {
  it.each([
    {
      name: 'answers 401 when the authorizer throws Unauthorized',
      authorizer: async () => {
        throw new Error('Unauthorized');
      },
      status: 401,
    },
    {
      name: 'answers 403 when the authorizer denies',
      authorizer: async (event: APIGatewayRequestAuthorizerEvent) => ({
        principalId: 'alice',
        policyDocument: {
          Version: '2012-10-17',
          Statement: [{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: event.methodArn }],
        },
      }),
      status: 403,
    },
    {
      name: 'answers 403 when the authorizer allows another resource only',
      authorizer: async () => ({
        principalId: 'alice',
        policyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Action: 'execute-api:Invoke',
              Effect: 'Allow',
              Resource: 'arn:aws:execute-api:us-east-1:000000000000:other/local/$connect',
            },
          ],
        },
      }),
      status: 403,
    },
    {
      name: 'answers 500 when the authorizer fails otherwise',
      authorizer: async () => {
        throw new Error('database down');
      },
      status: 500,
    },
  ])('$name and opens no connection', async ({ authorizer, status }) => {
    // prepare
    const recorder = new Recorder();
    const { gateway } = await startGateway({
      authorizer: authorizer as RequestAuthorizerHandler,
      routes: { $connect: recorder.route(), $disconnect: recorder.route() },
    });

    // act
    const answered = await refusal(gateway.url, { token: 'x' });

    // assess
    expect(answered).toBe(status);
    expect(gateway.connectionCount()).toBe(0);
    expect(recorder.events).toEqual([]);
  });

  it('answers with the status $connect returns when it is 400 or more, and opens no connection', async () => {
    // prepare
    const recorder = new Recorder();
    const { gateway } = await startGateway({
      routes: {
        $connect: recorder.route(async () => ({ statusCode: 400, body: 'deviceId: bad' })),
        $disconnect: recorder.route(),
      },
    });

    // act
    const answered = await refusal(gateway.url, { deviceId: '!' });

    // assess
    expect(answered).toBe(400);
    expect(gateway.connectionCount()).toBe(0);
    expect(recorder.of('$disconnect')).toEqual([]);
  });

  it('answers 500 when $connect throws', async () => {
    // prepare
    const { gateway, logs } = await startGateway({
      routes: {
        $connect: async () => {
          throw new Error('boom');
        },
      },
    });

    // act
    const answered = await refusal(gateway.url);

    // assess
    expect(answered).toBe(500);
    expect(gateway.connectionCount()).toBe(0);
    expect(logs).toContainEqual({ level: 'error', message: '$connect failed' });
  });

  it('gives the authorizer a WebSocket REQUEST event that the Powertools schema accepts', async () => {
    // prepare
    let seen: APIGatewayRequestAuthorizerEvent | undefined;
    const { gateway } = await startGateway({
      authorizer: async (event, context) => {
        seen = event;
        expect(context.functionName).toBe('authorizer');
        return allowing({})(event, context);
      },
      routes: {},
    });

    // act
    await open(gateway.url, { token: 't1', deviceId: 'phone' }, { 'User-Agent': 'parley-test' });

    // assess
    const event = seen as unknown as Record<string, never>;
    const parsed = authorizerEventSchema.safeParse(event);
    expect(parsed.error).toBeUndefined();
    expect(event).toMatchObject({
      type: 'REQUEST',
      queryStringParameters: { token: 't1', deviceId: 'phone' },
      multiValueQueryStringParameters: { token: ['t1'], deviceId: ['phone'] },
      requestContext: { routeKey: '$connect', eventType: 'CONNECT', stage: 'local', messageDirection: 'IN' },
    });
    expect(seen?.methodArn).toMatch(
      /^arn:aws:execute-api:us-east-1:000000000000:[a-z0-9]{10}\/local\/\$connect$/,
    );
    expect(seen?.headers).toMatchObject({ Upgrade: 'websocket', 'User-Agent': 'parley-test' });
    expect(seen?.requestContext.connectionId).toMatch(/^[A-Za-z0-9_-]{15}=$/);
  });

  it('gives $connect a CONNECT event with headers and query that the Powertools schema accepts', async () => {
    // prepare
    const recorder = new Recorder();
    const { gateway } = await startGateway({ routes: { $connect: recorder.route() } });

    // act
    await open(gateway.url, { deviceId: 'phone' }, { 'User-Agent': 'parley-test' });

    // assess
    const event = await recorder.next('$connect');
    expect(connectionEventSchema.safeParse(event).error).toBeUndefined();
    expect(event).toMatchObject({
      queryStringParameters: { deviceId: 'phone' },
      multiValueQueryStringParameters: { deviceId: ['phone'] },
      isBase64Encoded: false,
      requestContext: {
        routeKey: '$connect',
        eventType: 'CONNECT',
        identity: { sourceIp: '127.0.0.1', userAgent: 'parley-test' },
      },
    });
    expect(event.headers).toMatchObject({ 'User-Agent': 'parley-test', 'X-Forwarded-For': '127.0.0.1' });
    expect(event.headers).not.toHaveProperty('Upgrade');
    expect(event.requestContext).not.toHaveProperty('messageId');
    expect(event.requestContext.connectionId).toMatch(/^[A-Za-z0-9_-]{15}=$/);
    expect(gateway.connectionCount()).toBe(1);
  });
});

describe('a gateway that is not ready yet', () => {
  it('answers handshakes 503 with Retry-After, invoking nothing, until it is ready, then opens them', async () => {
    // prepare
    const recorder = new Recorder();
    let markReady: () => void = () => {};
    const ready = new Promise<void>((resolve) => {
      markReady = resolve;
    });
    const { gateway } = await startGateway({
      authorizer: allowing({}),
      ready,
      routes: { $connect: recorder.route(), ping: async () => ({ body: 'pong' }) },
    });

    // act
    const early = await refused(gateway.url, { token: 'x' });
    markReady();
    await ready;
    const socket = await open(gateway.url, { token: 'x' });
    const pong = nextText(socket);
    socket.send('{"action":"ping"}');

    // assess
    expect(early.status).toBe(503);
    expect(early.headers['retry-after']).toBe('1');
    expect(recorder.of('$connect')).toHaveLength(1);
    expect(await pong).toBe('pong');
  });

  it('keeps answering 503 when what it waits for fails', async () => {
    // prepare
    const failed = Promise.reject(new Error('tables could not be made'));
    const { gateway } = await startGateway({ ready: failed, routes: {} });
    await failed.catch(() => {});

    // act
    const answered = await refusal(gateway.url);

    // assess
    expect(answered).toBe(503);
  });
});

describe('a client that goes away', () => {
  /** What the gateway logs about an error of a client's socket, fault or not. */
  const SOCKET_ERROR = / (error|closed by the client)$/;

  it('logs a reset during the upgrade at info level, not as a warning, and still runs $disconnect', async () => {
    // prepare: $connect runs until the client has gone
    const recorder = new Recorder();
    let releaseConnect: () => void = () => {};
    const connectMayFinish = new Promise<void>((resolve) => {
      releaseConnect = resolve;
    });
    const { gateway, logs, logged } = await startGateway({
      routes: {
        $connect: recorder.route(async () => {
          await connectMayFinish;
          return undefined;
        }),
        $disconnect: recorder.route(),
      },
    });
    const client = await upgradeRequest(gateway.port);
    await recorder.next('$connect');

    // act: the client resets its TCP connection, as a closed browser tab does
    client.resetAndDestroy();
    const reset = await logged(SOCKET_ERROR);
    releaseConnect();

    // assess
    expect(reset).toEqual({ level: 'info', message: 'upgrade socket closed by the client' });
    expect((await recorder.next('$disconnect')).requestContext).toMatchObject({
      disconnectStatusCode: 1006,
      disconnectReason: 'Connection closed before the upgrade completed',
    });
    expect(logs.filter((entry) => entry.level === 'warn')).toEqual([]);
  });

  it('logs a reset of an open connection at info level, not as a warning', async () => {
    // prepare
    const recorder = new Recorder();
    const { gateway, logs, logged } = await startGateway({ routes: { $disconnect: recorder.route() } });
    const client = await upgradeRequest(gateway.port);
    const [answer] = (await once(client, 'data')) as [Buffer];
    expect(answer.toString()).toMatch(/^HTTP\/1\.1 101 /);

    // act
    client.resetAndDestroy();
    const reset = await logged(SOCKET_ERROR);

    // assess
    expect(reset).toEqual({ level: 'info', message: 'connection closed by the client' });
    expect((await recorder.next('$disconnect')).requestContext.disconnectStatusCode).toBe(1006);
    expect(logs.filter((entry) => entry.level === 'warn')).toEqual([]);
  });
});
