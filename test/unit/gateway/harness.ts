/**
 * What the gateway's unit tests share: a gateway on a free port that records its log, real `ws`
 * clients and the real `ApiGatewayManagementApiClient`, and the Powertools schemas the events
 * are checked against. Each test file calls `cleanUp` after each test.
 */

import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { APIGatewayProxyWebsocketEventSchema } from '@aws-lambda-powertools/parser/schemas';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import WebSocket from 'ws';
import {
  type RequestAuthorizerHandler,
  type RunningWebSocketGateway,
  startWebSocketGateway,
  type WebSocketGatewayEvent,
  type WebSocketGatewayOptions,
  type WebSocketRouteHandler,
  type WebSocketRouteResult,
} from '../../../local/gateway/index.js';

const gateways: RunningWebSocketGateway[] = [];
const sockets: WebSocket[] = [];
const managementClients: ApiGatewayManagementApiClient[] = [];
const rawSockets: Socket[] = [];

/** Closes what a test opened: its clients, then its gateways. */
export async function cleanUp(): Promise<void> {
  for (const socket of sockets.splice(0)) socket.terminate();
  for (const socket of rawSockets.splice(0)) socket.destroy();
  for (const client of managementClients.splice(0)) client.destroy();
  await Promise.all(gateways.splice(0).map((gateway) => gateway.stop()));
}

export interface LogEntry {
  level: string;
  message: string;
}

/** A gateway on a free port; `logs` is what it logged, `logged` waits for a message that matches. */
export async function startGateway(
  options: Partial<WebSocketGatewayOptions> & Pick<WebSocketGatewayOptions, 'routes'>,
) {
  const logs: LogEntry[] = [];
  const waiters: Array<() => void> = [];
  const gateway = await startWebSocketGateway({
    port: 0,
    log: (level, message) => {
      logs.push({ level, message });
      for (const wake of waiters.splice(0)) wake();
    },
    ...options,
  });
  gateways.push(gateway);
  const logged = async (message: RegExp): Promise<LogEntry> => {
    for (;;) {
      const found = logs.find((entry) => message.test(entry.message));
      if (found) return found;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  return { gateway, logs, logged };
}

/** Records every event a route receives and lets a test await the n-th one of a route. */
export class Recorder {
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

export function open(url: string, query: Record<string, string> = {}, headers: Record<string, string> = {}) {
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

/**
 * A plain TCP client that has sent a WebSocket upgrade request, for the tests that reset the
 * connection as a closed browser tab does (`resetAndDestroy`), which a `ws` client cannot.
 */
export async function upgradeRequest(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  rawSockets.push(socket);
  await once(socket, 'connect');
  socket.write(
    'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  return socket;
}

/** The HTTP status of a refused upgrade. */
export async function refusal(url: string, query: Record<string, string> = {}): Promise<number> {
  return (await refused(url, query)).status;
}

/** The HTTP status and headers of a refused upgrade. */
export async function refused(
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
export function texts(socket: WebSocket, count: number): Promise<string[]> {
  const received: string[] = [];
  return new Promise((resolve) =>
    socket.on('message', (data) => {
      received.push(data.toString());
      if (received.length === count) resolve(received);
    }),
  );
}

/** API Gateway's own frame, exactly as AWS writes it (`{"message": "Forbidden", "connectionId":"…", …}`). */
export const GATEWAY_FRAME = /^\{"message": "([^"]+)", "connectionId":"([^"]+)", "requestId":"([^"]+)"\}$/;

export function nextText(socket: WebSocket): Promise<string> {
  return new Promise((resolve) => socket.once('message', (data) => resolve(data.toString())));
}

export function closeOf(socket: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
}

export function allowing(context: Record<string, string | number | boolean>): RequestAuthorizerHandler {
  return async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => ({
    principalId: 'alice',
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
    },
    context,
  });
}

export function managementClient(endpoint: string) {
  const client = new ApiGatewayManagementApiClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  managementClients.push(client);
  return client;
}

export async function caught(
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
export const authorizerEventSchema = APIGatewayProxyWebsocketEventSchema;
export const connectionEventSchema = APIGatewayProxyWebsocketEventSchema.omit({
  type: true,
  methodArn: true,
}).partial({
  queryStringParameters: true,
  multiValueQueryStringParameters: true,
});
export const messageEventSchema = APIGatewayProxyWebsocketEventSchema.pick({
  requestContext: true,
  isBase64Encoded: true,
  body: true,
});
