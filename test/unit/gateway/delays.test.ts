/**
 * The gateway under a model of AWS (`delays`): it draws a delay for each frame in and out, each
 * invoke and each PostToConnection, and frames to a device keep their order whatever each took.
 */
import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayDelays } from '../../../local/gateway/index.js';
import { cleanUp, managementClient, nextText, open, Recorder, startGateway } from './harness.js';

afterEach(cleanUp);

/** Delays that count their draws; frames out take the next of `outbound`, then none. */
function countingDelays(outbound: number[] = []) {
  const drawn = { clientToGateway: 0, gatewayToClient: 0, invoke: [] as string[], postToConnection: 0 };
  const delays: GatewayDelays = {
    clientToGateway: () => {
      drawn.clientToGateway += 1;
      return 0;
    },
    gatewayToClient: () => {
      drawn.gatewayToClient += 1;
      return outbound.shift() ?? 0;
    },
    invoke: (routeKey) => {
      drawn.invoke.push(routeKey);
      return 1;
    },
    postToConnection: () => {
      drawn.postToConnection += 1;
      return 1;
    },
  };
  return { delays, drawn };
}

describe('the gateway under a model of AWS', () => {
  it('draws a delay for the frame in, the invoke, the answer out and each post', async () => {
    // prepare
    const { delays, drawn } = countingDelays();
    const recorder = new Recorder();
    const { gateway } = await startGateway({
      routes: {
        $connect: recorder.route(),
        send: recorder.route(async () => ({ body: '{"type":"sent"}' })),
      },
      delays,
    });
    const socket = await open(gateway.url);
    const connectionId = (await recorder.next('$connect')).requestContext.connectionId;

    // act
    const answer = nextText(socket);
    socket.send('{"action":"send"}');
    const answered = await answer;
    const posted = nextText(socket);
    await managementClient(gateway.managementEndpoint).send(
      new PostToConnectionCommand({ ConnectionId: connectionId, Data: '{"type":"message"}' }),
    );

    // assess
    expect(answered).toBe('{"type":"sent"}');
    expect(await posted).toBe('{"type":"message"}');
    expect(drawn).toEqual({
      clientToGateway: 1,
      gatewayToClient: 2,
      invoke: ['$connect', 'send'],
      postToConnection: 1,
    });
  });

  it('delivers frames to a device in the order they were posted, a later one never overtaking', async () => {
    // prepare: each frame out takes less time than the one before it
    const { delays } = countingDelays([40, 30, 20, 10, 0]);
    const recorder = new Recorder();
    const { gateway } = await startGateway({ routes: { $connect: recorder.route() }, delays });
    const socket = await open(gateway.url);
    const connectionId = (await recorder.next('$connect')).requestContext.connectionId;
    const received: string[] = [];
    const allFive = new Promise<void>((resolve) =>
      socket.on('message', (data) => {
        received.push(data.toString());
        if (received.length === 5) resolve();
      }),
    );
    const client = managementClient(gateway.managementEndpoint);

    // act
    for (const seq of [1, 2, 3, 4, 5]) {
      await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: `{"seq":${seq}}` }));
    }
    await allFive;

    // assess
    expect(received).toEqual(['{"seq":1}', '{"seq":2}', '{"seq":3}', '{"seq":4}', '{"seq":5}']);
  });
});
