/**
 * The `@connections` management API, driven by the real `ApiGatewayManagementApiClient`.
 */
import {
  DeleteConnectionCommand,
  GetConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocketGatewayOptions } from '../../../local/gateway/index.js';
import {
  caught,
  cleanUp,
  closeOf,
  managementClient,
  nextText,
  open,
  Recorder,
  startGateway,
} from './harness.js';

afterEach(cleanUp);

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
