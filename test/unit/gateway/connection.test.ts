/**
 * Closing a connection: by the client, by the idle and duration limits, and by a stop.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { afterEach, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { ANSWERED_MOCK_ROUTES, MOCK_INTEGRATIONS } from '../../../local/mock-integrations.js';
import {
  allowing,
  cleanUp,
  closeOf,
  connectionEventSchema,
  managementClient,
  open,
  Recorder,
  startGateway,
} from './harness.js';

afterEach(cleanUp);

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

  /**
   * Runs `frame` every 100 ms for two and a half idle limits of 1 s, then waits for the
   * close: how many frames had crossed by then, and the close.
   */
  async function idleCloseAfterFrames(socket: WebSocket, frame: (n: number) => Promise<void>) {
    let closedAfterFrames: number | undefined;
    let frames = 0;
    const closing = closeOf(socket);
    socket.on('close', () => {
      closedAfterFrames = frames;
    });
    for (; frames < 25; frames++) {
      await frame(frames);
      await delay(100);
    }
    const closed = await closing;
    return { closedAfterFrames, closed };
  }

  it('keeps open a connection it posts to, and closes it for idleness once the posts stop', async () => {
    // prepare
    const recorder = new Recorder();
    const { gateway } = await startGateway({ idleTimeoutMs: 1_000, routes: { $connect: recorder.route() } });
    const socket = await open(gateway.url);
    const connectionId = (await recorder.next('$connect')).requestContext.connectionId;
    const client = managementClient(gateway.managementEndpoint);

    // act: posts only, the client sending nothing
    const { closedAfterFrames, closed } = await idleCloseAfterFrames(socket, async (n) => {
      await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: `{"n":${n}}` }));
    });

    // assess
    expect(closedAfterFrames).toBe(25);
    expect(closed).toEqual({ code: 1001, reason: 'Going away' });
  });

  it('keeps open a connection that sends only keepalive, answering none, and closes it once they stop', async () => {
    // prepare: the MOCK routes of the CDK stack, as the local stack serves them
    const { gateway } = await startGateway({
      idleTimeoutMs: 1_000,
      routes: {},
      mocks: MOCK_INTEGRATIONS,
      answeredRoutes: new Set(ANSWERED_MOCK_ROUTES),
    });
    const socket = await open(gateway.url);
    const received: string[] = [];
    socket.on('message', (data) => received.push(data.toString()));

    // act
    const { closedAfterFrames, closed } = await idleCloseAfterFrames(socket, async () => {
      socket.send('{"action":"keepalive"}');
    });

    // assess
    expect(closedAfterFrames).toBe(25);
    expect(closed).toEqual({ code: 1001, reason: 'Going away' });
    expect(received).toEqual([]);
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
