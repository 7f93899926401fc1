/**
 * Stage and route throttling of frames and handshakes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  allowing,
  cleanUp,
  GATEWAY_FRAME,
  nextText,
  open,
  Recorder,
  refusal,
  startGateway,
  texts,
} from './harness.js';

afterEach(cleanUp);

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
