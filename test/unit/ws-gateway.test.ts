/**
 * The local API Gateway WebSocket emulator, driven over loopback sockets by real `ws` clients
 * and the real `ApiGatewayManagementApiClient`.
 */
import { APIGatewayProxyWebsocketEventSchema } from '@aws-lambda-powertools/parser/schemas';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  type RequestAuthorizerHandler,
  type RunningWebSocketGateway,
  startWebSocketGateway,
  type WebSocketGatewayEvent,
  type WebSocketGatewayOptions,
  type WebSocketRouteHandler,
  type WebSocketRouteResult,
} from '../../local/gateway/index.js';

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

const gateways: RunningWebSocketGateway[] = [];
const sockets: WebSocket[] = [];
const managementClients: ApiGatewayManagementApiClient[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.terminate();
  for (const client of managementClients.splice(0)) client.destroy();
  await Promise.all(gateways.splice(0).map((gateway) => gateway.stop()));
});

interface LogEntry {
  level: string;
  message: string;
}

async function startGateway(
  options: Partial<WebSocketGatewayOptions> & Pick<WebSocketGatewayOptions, 'routes'>,
) {
  const logs: LogEntry[] = [];
  const gateway = await startWebSocketGateway({
    port: 0,
    log: (level, message) => logs.push({ level, message }),
    ...options,
  });
  gateways.push(gateway);
  return { gateway, logs };
}

/** Records every event a route receives and lets a test await the n-th one of a route. */
class Recorder {
  readonly events: WebSocketGatewayEvent[] = [];
  readonly contexts: Context[] = [];
  #waiters: Array<() => void> = [];

  route(
    respond?: (event: WebSocketGatewayEvent) => Promise<WebSocketRouteResult | undefined>,
  ): WebSocketRouteHandler {
    return async (event, context) => {
      this.events.push(event);
      this.contexts.push(context);
      for (const wake of this.#waiters.splice(0)) wake();
      return respond?.(event);
    };
  }

  of(routeKey: string): WebSocketGatewayEvent[] {
    return this.events.filter((event) => event.requestContext.routeKey === routeKey);
  }

  async next(routeKey: string, count = 1): Promise<WebSocketGatewayEvent> {
    for (;;) {
      const found = this.of(routeKey)[count - 1];
      if (found) return found;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }
}

function open(url: string, query: Record<string, string> = {}, headers: Record<string, string> = {}) {
  const target = new URL(url);
  for (const [key, value] of Object.entries(query)) target.searchParams.set(key, value);
  const socket = new WebSocket(target, { headers });
  sockets.push(socket);
  return new Promise<WebSocket>((resolve, reject) => {
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_request, response) =>
      reject(
        Object.assign(new Error(`upgrade refused: ${response.statusCode}`), {
          status: response.statusCode,
          headers: response.headers,
        }),
      ),
    );
    socket.once('error', reject);
  });
}

/** The HTTP status of a refused upgrade. */
async function refusal(url: string, query: Record<string, string> = {}): Promise<number> {
  return (await refused(url, query)).status;
}

/** The HTTP status and headers of a refused upgrade. */
async function refused(
  url: string,
  query: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  try {
    await open(url, query);
  } catch (error) {
    return error as { status: number; headers: Record<string, string> };
  }
  throw new Error('the upgrade was accepted');
}

/** The first `count` texts the socket receives from now on. */
function texts(socket: WebSocket, count: number): Promise<string[]> {
  const received: string[] = [];
  return new Promise((resolve) =>
    socket.on('message', (data) => {
      received.push(data.toString());
      if (received.length === count) resolve(received);
    }),
  );
}

/** API Gateway's own frame, exactly as AWS writes it (`{"message": "Forbidden", "connectionId":"…", …}`). */
const GATEWAY_FRAME = /^\{"message": "([^"]+)", "connectionId":"([^"]+)", "requestId":"([^"]+)"\}$/;

function nextText(socket: WebSocket): Promise<string> {
  return new Promise((resolve) => socket.once('message', (data) => resolve(data.toString())));
}

function closeOf(socket: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
}

function allowing(context: Record<string, string | number | boolean>): RequestAuthorizerHandler {
  return async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => ({
    principalId: 'alice',
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
    },
    context,
  });
}

function managementClient(endpoint: string) {
  const client = new ApiGatewayManagementApiClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  managementClients.push(client);
  return client;
}

async function caught(
  promise: Promise<unknown>,
): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

// The Powertools schema of the WebSocket `$connect` REQUEST authorizer event, captured from real
// events. Proxy events lack the authorizer's `type` and `methodArn`; MESSAGE events also lack
// headers and query strings, so for those only the request context and body are checked.
const authorizerEventSchema = APIGatewayProxyWebsocketEventSchema;
const connectionEventSchema = APIGatewayProxyWebsocketEventSchema.omit({
  type: true,
  methodArn: true,
}).partial({
  queryStringParameters: true,
  multiValueQueryStringParameters: true,
});
const messageEventSchema = APIGatewayProxyWebsocketEventSchema.pick({
  requestContext: true,
  isBase64Encoded: true,
  body: true,
});

// ---------------------------------------------------------------------------------------------
// The upgrade
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

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

describe('messages', () => {
  it('hands the authorizer context to $connect, named routes, $default and $disconnect', async () => {
    // prepare
    const recorder = new Recorder();
    const { gateway } = await startGateway({
      authorizer: allowing({ userId: 'alice', deviceId: 'phone', admin: false, level: 3 }),
      routes: {
        $connect: recorder.route(),
        $disconnect: recorder.route(),
        $default: recorder.route(),
        send: recorder.route(),
      },
    });
    const socket = await open(gateway.url);

    // act
    socket.send('{"action":"send"}');
    socket.send('hello');
    await recorder.next('send');
    await recorder.next('$default');
    socket.close(1000);
    await recorder.next('$disconnect');

    // assess
    const expected = {
      principalId: 'alice',
      userId: 'alice',
      deviceId: 'phone',
      admin: 'false',
      level: '3',
      integrationLatency: expect.any(Number),
    };
    for (const routeKey of ['$connect', 'send', '$default', '$disconnect']) {
      expect(recorder.of(routeKey)[0]?.requestContext.authorizer).toEqual(expected);
    }
  });

  it.each([
    { text: '{"action":"send","body":"hi"}', routeKey: 'send' },
    { text: '{"action":"fly"}', routeKey: '$default' },
    { text: '{"action":"$disconnect"}', routeKey: '$default' },
    { text: '{"action":7}', routeKey: '$default' },
    { text: '["send"]', routeKey: '$default' },
    { text: 'not json', routeKey: '$default' },
  ])('routes $text to $routeKey', async ({ text, routeKey }) => {
    // prepare
    const recorder = new Recorder();
    const { gateway } = await startGateway({
      routes: { $default: recorder.route(), send: recorder.route(), $disconnect: recorder.route() },
    });
    const socket = await open(gateway.url);

    // act
    socket.send(text);

    // assess
    const event = await recorder.next(routeKey);
    expect(event.body).toBe(text);
    expect(recorder.events).toHaveLength(1);
  });

  it('gives routes a MESSAGE event that the Powertools schema accepts, with a Lambda context', async () => {
    // prepare
    const recorder = new Recorder();
    const { gateway } = await startGateway({
      routes: { $connect: recorder.route(), send: recorder.route() },
    });
    const socket = await open(gateway.url, {}, { 'User-Agent': 'parley-test' });
    const connect = await recorder.next('$connect');

    // act
    socket.send('{"action":"send"}');

    // assess
    const event = await recorder.next('send');
    expect(messageEventSchema.safeParse(event).error).toBeUndefined();
    expect(event).toEqual({
      body: '{"action":"send"}',
      isBase64Encoded: false,
      requestContext: {
        routeKey: 'send',
        messageId: expect.stringMatching(/^[A-Za-z0-9_-]{15}=$/),
        eventType: 'MESSAGE',
        extendedRequestId: event.requestContext.requestId,
        requestTime: expect.stringMatching(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/),
        messageDirection: 'IN',
        stage: 'local',
        connectedAt: connect.requestContext.connectedAt,
        requestTimeEpoch: expect.any(Number),
        identity: { sourceIp: '127.0.0.1', userAgent: 'parley-test' },
        requestId: expect.stringMatching(/^[A-Za-z0-9_-]{15}=$/),
        domainName: new URL(gateway.url).host,
        connectionId: connect.requestContext.connectionId,
        apiId: connect.requestContext.apiId,
      },
    });
    const context = recorder.contexts[1];
    expect(context?.functionName).toBe('send');
    expect(context?.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(context?.getRemainingTimeInMillis()).toBeGreaterThan(0);
  });

  it('sends the route response body back to the client', async () => {
    // prepare
    const { gateway } = await startGateway({
      routes: { ping: async () => ({ statusCode: 200, body: '{"type":"pong"}' }) },
    });
    const socket = await open(gateway.url);
    const answer = nextText(socket);

    // act
    socket.send('{"action":"ping"}');

    // assess
    expect(await answer).toBe('{"type":"pong"}');
  });

  it('answers a throwing handler with the Internal server error frame of API Gateway', async () => {
    // prepare
    const recorder = new Recorder();
    const { gateway, logs } = await startGateway({
      routes: {
        send: recorder.route(async () => {
          throw new Error('boom');
        }),
      },
    });
    const socket = await open(gateway.url);
    const answer = nextText(socket);

    // act
    socket.send('{"action":"send"}');

    // assess
    const event = await recorder.next('send');
    expect(JSON.parse(await answer)).toEqual({
      message: 'Internal server error',
      connectionId: event.requestContext.connectionId,
      requestId: event.requestContext.requestId,
    });
    expect(logs).toContainEqual({ level: 'error', message: 'send failed' });
    expect(socket.readyState).toBe(WebSocket.OPEN);
  });

  it('answers Forbidden when no route matches and there is no $default, in API Gateway’s exact bytes', async () => {
    // prepare
    const { gateway } = await startGateway({ routes: {} });
    const socket = await open(gateway.url);
    const answer = nextText(socket);

    // act
    socket.send('hello');

    // assess
    expect(await answer).toMatch(GATEWAY_FRAME);
    expect(JSON.parse(await answer)).toMatchObject({ message: 'Forbidden' });
  });

  it('sends nothing back from a route without a route response, though the route runs', async () => {
    // prepare
    const recorder = new Recorder();
    const { gateway } = await startGateway({
      answeredRoutes: new Set(['ping']),
      routes: {
        typing: recorder.route(async () => ({ statusCode: 200, body: '{"type":"typed"}' })),
        ping: async () => ({ statusCode: 200, body: '{"type":"pong"}' }),
      },
    });
    const socket = await open(gateway.url);
    const received = texts(socket, 1);

    // act: the typing frame is served first, then the ping
    socket.send('{"action":"typing"}');
    await recorder.next('typing');
    socket.send('{"action":"ping"}');

    // assess
    expect(await received).toEqual(['{"type":"pong"}']);
  });

  it('still sends API Gateway’s Internal server error frame for a route without a route response', async () => {
    // prepare
    const { gateway } = await startGateway({
      answeredRoutes: new Set(),
      routes: {
        typing: async () => {
          throw new Error('boom');
        },
      },
    });
    const socket = await open(gateway.url);
    const answer = nextText(socket);

    // act
    socket.send('{"action":"typing"}');

    // assess
    expect(JSON.parse(await answer)).toMatchObject({ message: 'Internal server error' });
  });

  it('invokes routes concurrently, not one frame after another', async () => {
    // prepare
    let releaseSlow: () => void = () => {};
    const slowMayFinish = new Promise<void>((resolve) => {
      releaseSlow = resolve;
    });
    const { gateway } = await startGateway({
      routes: {
        slow: async () => {
          await slowMayFinish;
          return { body: 'slow' };
        },
        fast: async () => {
          releaseSlow();
          return { body: 'fast' };
        },
      },
    });
    const socket = await open(gateway.url);
    const answers: string[] = [];
    const both = new Promise<void>((resolve) =>
      socket.on('message', (data) => {
        answers.push(data.toString());
        if (answers.length === 2) resolve();
      }),
    );

    // act
    socket.send('{"action":"slow"}');
    socket.send('{"action":"fast"}');
    await both;

    // assess
    expect(answers).toEqual(['fast', 'slow']);
  });

  it('closes the connection with 1009 on a frame over the limit, counted in bytes, invoking no route', async () => {
    // prepare
    const recorder = new Recorder();
    const { gateway } = await startGateway({
      maxFrameBytes: 1024,
      routes: { $default: recorder.route(), $disconnect: recorder.route() },
    });
    const socket = await open(gateway.url);
    const closed = closeOf(socket);

    // act
    socket.send('é'.repeat(513)); // 1026 bytes in UTF-8

    // assess
    expect((await closed).code).toBe(1009);
    expect((await recorder.next('$disconnect')).requestContext.disconnectStatusCode).toBe(1009);
    expect(recorder.of('$default')).toEqual([]);
  });

  it('closes the connection with 1003 on a binary frame, as API Gateway does', async () => {
    // prepare
    const recorder = new Recorder();
    const { gateway } = await startGateway({ routes: { $default: recorder.route() } });
    const socket = await open(gateway.url);
    const closed = closeOf(socket);

    // act
    socket.send(Buffer.from([1, 2, 3]), { binary: true });

    // assess
    expect((await closed).code).toBe(1003);
    expect(recorder.events).toEqual([]);
  });
});

describe('throttling', () => {
  it('answers frames past the stage’s bucket with API Gateway’s Too Many Requests frame, invoking no route, and stays open', async () => {
    // prepare: the handshake and three frames at once, and no refill
    const recorder = new Recorder();
    const { gateway } = await startGateway({
      throttle: { stage: { rateLimit: 0, burstLimit: 4 } },
      routes: { $default: recorder.route(async (event) => ({ body: `served ${event.body}` })) },
    });
    const socket = await open(gateway.url);
    const received = texts(socket, 5);

    // act
    for (const frame of ['a', 'b', 'c', 'd', 'e']) socket.send(frame);

    // assess
    const answers = await received;
    const served = answers.filter((text) => text.startsWith('served'));
    const throttled = answers.filter((text) => !text.startsWith('served'));
    expect(served.sort()).toEqual(['served a', 'served b', 'served c']);
    expect(throttled).toHaveLength(2);
    for (const text of throttled) {
      const [, message, connectionId, requestId] = GATEWAY_FRAME.exec(text) ?? [];
      expect(message).toBe('Too Many Requests');
      expect(connectionId).toBe((await recorder.next('$default')).requestContext.connectionId);
      expect(requestId).toMatch(/^[\w-]{15}=$/);
    }
    expect(recorder.of('$default').map((event) => event.body)).toEqual(['a', 'b', 'c']);
    expect(socket.readyState).toBe(WebSocket.OPEN);
  });

  it('shares the stage’s bucket among all connections, as there is no limit per connection', async () => {
    // prepare: two handshakes and one frame
    const { gateway } = await startGateway({
      throttle: { stage: { rateLimit: 0, burstLimit: 3 } },
      routes: { $default: async () => ({ body: 'served' }) },
    });
    const first = await open(gateway.url);
    const second = await open(gateway.url);
    const firstServed = nextText(first);
    first.send('x');
    expect(await firstServed).toBe('served');

    // act
    const secondAnswer = nextText(second);
    second.send('x');

    // assess
    expect(JSON.parse(await secondAnswer)).toMatchObject({ message: 'Too Many Requests' });
  });

  it('throttles a route with its own settings by its own bucket, in place of the stage’s', async () => {
    // prepare: the stage lets the handshake and one frame through, `send` two of its own
    const { gateway } = await startGateway({
      throttle: {
        stage: { rateLimit: 0, burstLimit: 2 },
        routes: { send: { rateLimit: 0, burstLimit: 2 } },
      },
      routes: {
        $default: async () => ({ body: 'default' }),
        send: async () => ({ body: 'sent' }),
      },
    });
    const socket = await open(gateway.url);
    const received = texts(socket, 5);

    // act
    for (let i = 0; i < 3; i++) socket.send('{"action":"send"}');
    socket.send('hello');
    socket.send('hello');

    // assess
    const answers = (await received).map((text) => (text.startsWith('{') ? JSON.parse(text).message : text));
    expect(answers.sort()).toEqual(['Too Many Requests', 'Too Many Requests', 'default', 'sent', 'sent']);
  });

  it('answers a handshake past the $connect bucket with HTTP 429, before the authorizer runs', async () => {
    // prepare
    let authorized = 0;
    const allow = allowing({});
    const { gateway } = await startGateway({
      authorizer: async (event, context) => {
        authorized++;
        return allow(event, context);
      },
      throttle: { routes: { $connect: { rateLimit: 0, burstLimit: 1 } } },
      routes: { $connect: async () => ({ statusCode: 200 }), ping: async () => ({ body: 'pong' }) },
    });
    const first = await open(gateway.url, { token: 'x' });

    // act
    const answered = await refusal(gateway.url, { token: 'x' });
    const pong = nextText(first);
    first.send('{"action":"ping"}');

    // assess: only $connect has a throttle, so frames are not limited
    expect(answered).toBe(429);
    expect(authorized).toBe(1);
    expect(gateway.connectionCount()).toBe(1);
    expect(await pong).toBe('pong');
  });

  it('counts handshakes against the stage’s bucket when $connect has none of its own', async () => {
    // prepare: room for one handshake and one frame
    const { gateway } = await startGateway({
      throttle: { stage: { rateLimit: 0, burstLimit: 2 } },
      routes: { ping: async () => ({ body: 'pong' }) },
    });
    const socket = await open(gateway.url);
    const pong = nextText(socket);
    socket.send('{"action":"ping"}');
    expect(await pong).toBe('pong');

    // act
    const answered = await refusal(gateway.url);

    // assess
    expect(answered).toBe(429);
  });

  it.each([
    [
      { stage: { rateLimit: 10, burstLimit: -1 } },
      'throttle.stage.burstLimit: must be an integer of 0 or more, not -1',
    ],
    [
      { routes: { send: { rateLimit: -5, burstLimit: 10 } } },
      'throttle.routes.send.rateLimit: must be a number of 0 or more, not -5',
    ],
    [
      { routes: { sned: { rateLimit: 5, burstLimit: 10 } } },
      'throttle.routes.sned: the API has no route sned',
    ],
  ])('refuses to start with the throttle %j, naming the setting', async (throttle, message) => {
    await expect(startGateway({ throttle, routes: { send: async () => undefined } })).rejects.toThrow(
      new RangeError(message),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Closing
// ---------------------------------------------------------------------------------------------

describe('closing', () => {
  it('runs $disconnect once with the client close code and reason, in a DISCONNECT event the schema accepts', async () => {
    // prepare
    const recorder = new Recorder();
    const { gateway } = await startGateway({ routes: { $disconnect: recorder.route() } });
    const socket = await open(gateway.url);

    // act
    socket.close(1000, 'bye');
    const event = await recorder.next('$disconnect');

    // assess
    expect(connectionEventSchema.safeParse(event).error).toBeUndefined();
    expect(event.requestContext).toMatchObject({
      routeKey: '$disconnect',
      eventType: 'DISCONNECT',
      disconnectStatusCode: 1000,
      disconnectReason: 'bye',
    });
    expect(event.headers).toEqual({
      Host: new URL(gateway.url).host,
      'x-api-key': '',
      'X-Forwarded-For': '',
      'x-restapi': '',
    });
    expect(gateway.connectionCount()).toBe(0);
    await gateway.stop();
    expect(recorder.of('$disconnect')).toHaveLength(1);
  });

  it('reports a close without status as 1005 with the reason API Gateway gives', async () => {
    // prepare
    const recorder = new Recorder();
    const { gateway } = await startGateway({ routes: { $disconnect: recorder.route() } });
    const socket = await open(gateway.url);

    // act
    socket.close();

    // assess
    expect((await recorder.next('$disconnect')).requestContext).toMatchObject({
      disconnectStatusCode: 1005,
      disconnectReason: 'Client-side close frame status not set',
    });
  });

  it('closes an idle connection with 1001 Going away', async () => {
    // prepare
    const recorder = new Recorder();
    const { gateway } = await startGateway({ idleTimeoutMs: 150, routes: { $disconnect: recorder.route() } });
    const socket = await open(gateway.url);

    // act
    const closed = await closeOf(socket);

    // assess
    expect(closed).toEqual({ code: 1001, reason: 'Going away' });
    expect((await recorder.next('$disconnect')).requestContext).toMatchObject({
      disconnectStatusCode: 1001,
      disconnectReason: 'Going away',
    });
  });

  it('closes a connection at its maximum duration with 1001', async () => {
    // prepare
    const { gateway } = await startGateway({ maxConnectionMs: 150, routes: {} });
    const socket = await open(gateway.url);

    // act
    const closed = await closeOf(socket);

    // assess
    expect(closed.code).toBe(1001);
    expect(gateway.connectionCount()).toBe(0);
  });

  it('logs a failing $disconnect and goes on', async () => {
    // prepare
    const { gateway, logs } = await startGateway({
      routes: {
        $disconnect: async () => {
          throw new Error('boom');
        },
      },
    });
    const socket = await open(gateway.url);

    // act
    socket.close(1000);
    await gateway.stop();

    // assess
    expect(logs).toContainEqual({ level: 'error', message: '$disconnect failed' });
  });

  it('stops by closing every connection with $disconnect and frees the port', async () => {
    // prepare
    const recorder = new Recorder();
    const { gateway } = await startGateway({
      authorizer: allowing({ userId: 'alice' }),
      routes: { $disconnect: recorder.route() },
    });
    const first = await open(gateway.url);
    const second = await open(gateway.url);
    const closes = Promise.all([closeOf(first), closeOf(second)]);

    // act
    await gateway.stop();

    // assess
    expect((await closes).map((close) => close.code)).toEqual([1001, 1001]);
    expect(recorder.of('$disconnect').map((event) => event.requestContext.authorizer?.userId)).toEqual([
      'alice',
      'alice',
    ]);
    const again = await startGateway({ port: gateway.port, routes: {} });
    expect(again.gateway.port).toBe(gateway.port);
  });
});

// ---------------------------------------------------------------------------------------------
// The @connections management API
// ---------------------------------------------------------------------------------------------

describe('the @connections API', () => {
  async function connected(options: Partial<WebSocketGatewayOptions> = {}) {
    const recorder = new Recorder();
    const { gateway } = await startGateway({
      routes: { $connect: recorder.route(), $disconnect: recorder.route() },
      ...options,
    });
    const socket = await open(gateway.url, {}, { 'User-Agent': 'parley-test' });
    const connectionId = (await recorder.next('$connect')).requestContext.connectionId;
    return { gateway, recorder, socket, connectionId };
  }

  it('delivers a PostToConnection as one text frame', async () => {
    // prepare
    const { gateway, socket, connectionId } = await connected();
    const client = managementClient(gateway.managementEndpoint);
    const received = new Promise<{ text: string; isBinary: boolean }>((resolve) =>
      socket.once('message', (data, isBinary) => resolve({ text: data.toString(), isBinary })),
    );

    // act
    const output = await client.send(
      new PostToConnectionCommand({ ConnectionId: connectionId, Data: '{"type":"message"}' }),
    );

    // assess
    expect(output.$metadata.httpStatusCode).toBe(200);
    expect(await received).toEqual({ text: '{"type":"message"}', isBinary: false });
  });

  it('accepts the stage in the endpoint path', async () => {
    // prepare
    const { gateway, socket, connectionId } = await connected();
    const client = managementClient(`${gateway.managementEndpoint}/local`);
    const received = nextText(socket);

    // act
    await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'hello' }));

    // assess
    expect(await received).toBe('hello');
  });

  it('describes a connection with GetConnection', async () => {
    // prepare
    const { gateway, recorder, connectionId } = await connected();
    const client = managementClient(gateway.managementEndpoint);

    // act
    const output = await client.send(new GetConnectionCommand({ ConnectionId: connectionId }));

    // assess
    const connectedAt = (await recorder.next('$connect')).requestContext.connectedAt;
    expect(output.ConnectedAt?.getTime()).toBe(connectedAt);
    expect(output.Identity).toEqual({ SourceIp: '127.0.0.1', UserAgent: 'parley-test' });
    expect(output.LastActiveAt).toBeInstanceOf(Date);
  });

  it('closes a connection with DeleteConnection and runs $disconnect', async () => {
    // prepare
    const { gateway, recorder, socket, connectionId } = await connected();
    const client = managementClient(gateway.managementEndpoint);
    const closed = closeOf(socket);

    // act
    const output = await client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));

    // assess
    expect(output.$metadata.httpStatusCode).toBe(204);
    expect((await closed).code).toBe(1000);
    expect((await recorder.next('$disconnect')).requestContext.connectionId).toBe(connectionId);
    const error = await caught(client.send(new GetConnectionCommand({ ConnectionId: connectionId })));
    expect(error.name).toBe('GoneException');
  });

  it.each([
    ['PostToConnection', new PostToConnectionCommand({ ConnectionId: 'AAAAAAAAAAAAAAA=', Data: 'x' })],
    ['GetConnection', new GetConnectionCommand({ ConnectionId: 'AAAAAAAAAAAAAAA=' })],
    ['DeleteConnection', new DeleteConnectionCommand({ ConnectionId: 'AAAAAAAAAAAAAAA=' })],
  ])('raises GoneException from %s for an unknown connection', async (_name, command) => {
    // prepare
    const { gateway } = await startGateway({ routes: {} });
    const client = managementClient(gateway.managementEndpoint);

    // act
    const error = await caught(client.send(command as PostToConnectionCommand));

    // assess
    expect(error.name).toBe('GoneException');
    expect(error.$metadata?.httpStatusCode).toBe(410);
  });

  it('raises PayloadTooLargeException for a message over 128 KB', async () => {
    // prepare
    const { gateway, connectionId } = await connected();
    const client = managementClient(gateway.managementEndpoint);

    // act
    const error = await caught(
      client.send(
        new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'x'.repeat(128 * 1024 + 1) }),
      ),
    );

    // assess
    expect(error.name).toBe('PayloadTooLargeException');
    expect(error.$metadata?.httpStatusCode).toBe(413);
  });

  it('answers 404 for another path and 405 for another method', async () => {
    // prepare
    const { gateway } = await startGateway({ routes: {} });

    // act
    const notFound = await fetch(`${gateway.managementEndpoint}/elsewhere`);
    const notAllowed = await fetch(`${gateway.managementEndpoint}/@connections/abc`, { method: 'PUT' });

    // assess
    expect(notFound.status).toBe(404);
    expect(await notFound.json()).toEqual({ message: 'Not Found' });
    expect(notAllowed.status).toBe(405);
  });
});
