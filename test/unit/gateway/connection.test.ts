/**
 * Closing a connection: by the client, by the idle and duration limits, and by a stop.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { afterEach, describe, expect, it } from 'vitest';
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

  it('keeps open a connection it posts to, and closes it for idleness once the posts stop', async () => {
    // prepare
    const recorder = new Recorder();
    const { gateway } = await startGateway({ idleTimeoutMs: 1_000, routes: { $connect: recorder.route() } });
    const socket = await open(gateway.url);
    const connectionId = (await recorder.next('$connect')).requestContext.connectionId;
    const client = managementClient(gateway.managementEndpoint);
    let closedAfterPosts: number | undefined;
    let posts = 0;
    const closing = closeOf(socket);
    socket.on('close', () => {
      closedAfterPosts = posts;
    });

    // act: a post every 100 ms for two and a half idle limits, the client sending nothing
    for (; posts < 25; posts++) {
      await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: `{"n":${posts}}` }));
      await delay(100);
    }
    const closed = await closing;

    // assess
    expect(closedAfterPosts).toBe(25);
    expect(closed).toEqual({ code: 1001, reason: 'Going away' });
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
