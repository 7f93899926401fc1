import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  ForbiddenException,
  GoneException,
  LimitExceededException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { mockClient } from 'aws-sdk-client-mock';
import type { SinonStub } from 'sinon';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  ApiGatewayConnectionPusher,
  DEFAULT_POST_TIMEOUT_MS,
  isGone,
  isThrottled,
} from '../../lambdas/adapters/api-gateway-connection-pusher.js';
import { PostTimeoutError } from '../../lambdas/domain/errors.js';

const api = mockClient(ApiGatewayManagementApiClient);
// The unit files share one module graph per worker: the next file gets the real client.
afterAll(() => api.restore());

afterEach(() => {
  api.reset();
  vi.restoreAllMocks();
});

/** The mocked `send`, seen with the options the pusher hands the SDK. */
const send = () =>
  api.send as unknown as SinonStub<
    [PostToConnectionCommand, { abortSignal?: AbortSignal }?],
    Promise<unknown>
  >;

/** A post that never answers: it ends only when its abort signal fires, as the SDK's HTTP handler does. */
function hangUntilAborted() {
  send().callsFake(
    (_command, options) =>
      new Promise((_resolve, reject) => {
        options?.abortSignal?.addEventListener('abort', () =>
          reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' })),
        );
      }),
  );
}

describe('ApiGatewayConnectionPusher', () => {
  it('fails a post that does not answer within its timeout with a PostTimeoutError', async () => {
    hangUntilAborted();
    const pusher = new ApiGatewayConnectionPusher({
      client: new ApiGatewayManagementApiClient({}),
      timeoutMs: 5,
    });

    const error = await pusher.post('conn-1', '{"type":"message"}').catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(PostTimeoutError);
    expect(error).toMatchObject({ name: 'PostTimeoutError', cause: { name: 'AbortError' } });
    expect((error as Error).message).toContain('conn-1');
    expect(send().firstCall.args[1]?.abortSignal?.aborted).toBe(true);
  });

  it('hands every post an abort signal of the default timeout when none is given', async () => {
    const timeout = vi.spyOn(AbortSignal, 'timeout');
    api.on(PostToConnectionCommand).resolves({});
    const pusher = new ApiGatewayConnectionPusher({ client: new ApiGatewayManagementApiClient({}) });

    await expect(pusher.post('conn-1', 'hello')).resolves.toBe('delivered');

    expect(timeout).toHaveBeenCalledWith(DEFAULT_POST_TIMEOUT_MS);
    const signal = send().firstCall.args[1]?.abortSignal;
    expect(signal).toBe(timeout.mock.results[0]?.value);
    expect(signal?.aborted).toBe(false);
  });

  it('answers gone for a closed connection, even when it answers after a while', async () => {
    api
      .on(PostToConnectionCommand)
      .rejects(new GoneException({ message: 'Gone', $metadata: { httpStatusCode: 410 } }));
    const pusher = new ApiGatewayConnectionPusher({
      client: new ApiGatewayManagementApiClient({}),
      timeoutMs: 5,
    });

    await expect(pusher.post('conn-1', 'hello')).resolves.toBe('gone');
  });

  it('answers throttled when API Gateway throttles the post (429) or fails it (5xx)', async () => {
    api
      .on(PostToConnectionCommand)
      .rejects(new LimitExceededException({ message: 'Limit exceeded', $metadata: { httpStatusCode: 429 } }));
    const pusher = new ApiGatewayConnectionPusher({ client: new ApiGatewayManagementApiClient({}) });

    await expect(pusher.post('conn-1', 'hello')).resolves.toBe('throttled');
  });

  it('passes any other failure on as it is', async () => {
    const forbidden = new ForbiddenException({ message: 'Forbidden', $metadata: { httpStatusCode: 403 } });
    api.on(PostToConnectionCommand).rejects(forbidden);
    const pusher = new ApiGatewayConnectionPusher({ client: new ApiGatewayManagementApiClient({}) });

    await expect(pusher.post('conn-1', 'hello')).rejects.toBe(forbidden);
  });

  it('closes a connection with DELETE and answers closed', async () => {
    api.on(DeleteConnectionCommand).resolves({});
    const pusher = new ApiGatewayConnectionPusher({ client: new ApiGatewayManagementApiClient({}) });

    await expect(pusher.disconnect('conn-1')).resolves.toBe('closed');

    expect(api.commandCalls(DeleteConnectionCommand)[0]?.args[0].input).toEqual({ ConnectionId: 'conn-1' });
  });

  it('answers gone when the connection to close is closed already (410)', async () => {
    api
      .on(DeleteConnectionCommand)
      .rejects(new GoneException({ message: 'Gone', $metadata: { httpStatusCode: 410 } }));
    const pusher = new ApiGatewayConnectionPusher({ client: new ApiGatewayManagementApiClient({}) });

    await expect(pusher.disconnect('conn-1')).resolves.toBe('gone');
  });

  it('passes on any other failure to close', async () => {
    const forbidden = new ForbiddenException({ message: 'Forbidden', $metadata: { httpStatusCode: 403 } });
    api.on(DeleteConnectionCommand).rejects(forbidden);
    const pusher = new ApiGatewayConnectionPusher({ client: new ApiGatewayManagementApiClient({}) });

    await expect(pusher.disconnect('conn-1')).rejects.toBe(forbidden);
  });
});

describe('isThrottled', () => {
  it.each([
    ['LimitExceededException', { name: 'LimitExceededException', $metadata: { httpStatusCode: 429 } }],
    ['ThrottlingException', { name: 'ThrottlingException', $metadata: {} }],
    ['TooManyRequestsException', { name: 'TooManyRequestsException' }],
    ['a bare 429', { name: 'UnknownError', $metadata: { httpStatusCode: 429 } }],
    ['a 500', { name: 'InternalServerErrorException', $metadata: { httpStatusCode: 500 } }],
    ['a 503', { name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503 } }],
  ])('says yes for %s', (_case, error) => {
    expect(isThrottled(error)).toBe(true);
  });

  it.each([
    ['a 410', { name: 'GoneException', $metadata: { httpStatusCode: 410 } }],
    ['a 403', { name: 'ForbiddenException', $metadata: { httpStatusCode: 403 } }],
    ['a plain error', new Error('Limit exceeded')],
    ['null', null],
  ])('says no for %s', (_case, error) => {
    expect(isThrottled(error)).toBe(false);
  });
});

describe('ApiGatewayConnectionPusher over HTTP', () => {
  it('stops waiting for an endpoint that takes the request and never answers', async () => {
    // The real SDK this time, request handler and all.
    send().callThrough();
    const received: IncomingMessage[] = [];
    const server = createServer((request) => {
      received.push(request);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = new ApiGatewayManagementApiClient({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });
    try {
      // Long enough for the request to reach the server on a busy machine, short for a test.
      const pusher = new ApiGatewayConnectionPusher({ client, timeoutMs: 1_000 });

      await expect(pusher.post('conn-1', 'hello')).rejects.toBeInstanceOf(PostTimeoutError);

      expect(received.map((request) => request.url)).toEqual(['/@connections/conn-1']);
    } finally {
      client.destroy();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    }
  });
});

describe('isGone', () => {
  it('recognises the SDK’s GoneException by its name', () => {
    expect(isGone(new GoneException({ message: 'Gone', $metadata: {} }))).toBe(true);
    expect(isGone({ name: 'GoneException' })).toBe(true);
  });

  it('recognises an answer with HTTP status 410 in $metadata', () => {
    expect(isGone({ name: 'UnknownError', $metadata: { httpStatusCode: 410 } })).toBe(true);
  });

  it('does not trust a statusCode property', () => {
    expect(isGone({ name: 'Error', statusCode: 410 })).toBe(false);
  });

  it.each([
    ['another service error', { name: 'LimitExceededException', $metadata: { httpStatusCode: 429 } }],
    ['a plain error', new Error('Gone')],
    ['null', null],
    ['undefined', undefined],
    ['a string', 'GoneException'],
  ])('says no for %s', (_case, error) => {
    expect(isGone(error)).toBe(false);
  });
});
