/**
 * Frames: route selection, the events routes receive, route responses, API Gateway’s own
 * answers and the frame limits.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ANSWERED_MOCK_ROUTES, MOCK_INTEGRATIONS } from '../../../local/mock-integrations.js';
import {
  allowing,
  cleanUp,
  closeOf,
  GATEWAY_FRAME,
  messageEventSchema,
  nextText,
  open,
  Recorder,
  startGateway,
  texts,
} from './harness.js';

afterEach(cleanUp);

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

describe('routes with a MOCK integration', () => {
  it('answers a mocked route from its template, invoking no handler and not $default', async () => {
    // prepare
    const recorder = new Recorder();
    const { gateway } = await startGateway({
      routes: { $default: recorder.route(), send: recorder.route() },
      mocks: { ping: (frame) => ({ type: 'pong', requestId: frame.requestId }) },
    });
    const socket = await open(gateway.url);
    const answer = nextText(socket);

    // act
    socket.send('{"action":"ping","requestId":"r6"}');

    // assess
    expect(JSON.parse(await answer)).toEqual({ type: 'pong', requestId: 'r6' });
    expect(recorder.of('$default')).toEqual([]);
    expect(recorder.of('send')).toEqual([]);
  });

  it('sends nothing back from a mocked route without a route response', async () => {
    // prepare
    const { gateway } = await startGateway({
      answeredRoutes: new Set(['send']),
      routes: { send: async () => ({ statusCode: 200, body: '{"type":"sent"}' }) },
      mocks: { ping: () => ({ type: 'pong' }) },
    });
    const socket = await open(gateway.url);
    const received = texts(socket, 1);

    // act: the ping first, then a frame that is answered
    socket.send('{"action":"ping"}');
    socket.send('{"action":"send"}');

    // assess
    expect(await received).toEqual(['{"type":"sent"}']);
  });

  it("answers nothing to keepalive and runs no route, as the stack's one-way MOCK route", async () => {
    // prepare: the MOCK routes of the CDK stack, as the local stack serves them
    const recorder = new Recorder();
    const { gateway } = await startGateway({
      routes: { $default: recorder.route() },
      mocks: MOCK_INTEGRATIONS,
      answeredRoutes: new Set(ANSWERED_MOCK_ROUTES),
    });
    const socket = await open(gateway.url);
    const received = texts(socket, 1);

    // act: keepalive first, then a ping, which is answered
    socket.send('{"action":"keepalive","requestId":"k1"}');
    socket.send('{"action":"ping","requestId":"r2"}');

    // assess
    expect((await received).map((text) => JSON.parse(text))).toEqual([{ type: 'pong', requestId: 'r2' }]);
    expect(recorder.of('$default')).toEqual([]);
  });

  it('throttles a mocked route like any other, answering Too Many Requests', async () => {
    // prepare
    const { gateway } = await startGateway({
      routes: {},
      mocks: { ping: () => ({ type: 'pong' }) },
      throttle: { routes: { ping: { rateLimit: 1, burstLimit: 1 } } },
    });
    const socket = await open(gateway.url);
    const received = texts(socket, 2);

    // act
    socket.send('{"action":"ping"}');
    socket.send('{"action":"ping"}');

    // assess
    const [first, second] = await received;
    expect(JSON.parse(first ?? '')).toEqual({ type: 'pong' });
    expect(JSON.parse(second ?? '')).toMatchObject({ message: 'Too Many Requests' });
  });
});
