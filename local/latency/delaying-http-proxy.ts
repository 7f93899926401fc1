/**
 * An HTTP proxy in front of a local engine (DynamoDB Local, kinesis-mock) that holds each
 * response until the call has taken at least the time AWS would take: max(the engine's own
 * time, a delay drawn for the call's operation). So the engine's own time is a floor: a call
 * the engine answers slower than AWS would is not made faster.
 *
 * The operation is the `X-Amz-Target` header's action (`DynamoDB_20120810.GetItem` →
 * `GetItem`), which both engines' JSON protocols carry. Bodies, statuses and headers pass
 * through unchanged, errors included; when the engine cannot be reached or cuts the
 * connection, the client's connection is cut too, as it would have been without the proxy.
 */
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface DelayingHttpProxyOptions {
  /** The engine: `http://127.0.0.1:PORT`. */
  target: string;
  /** The least time of a call, in ms, by its operation; 0 passes it on as fast as the engine answers. */
  delayOf: (operation: string) => number;
  /** Told, for each answered call, how long the engine took and how long the model wanted. */
  observe?: (operation: string, engineMs: number, modelledMs: number) => void;
  /** Waits `ms` before the held response goes out; a timer unless a test controls it. */
  hold?: (ms: number) => Promise<void>;
}

export interface DelayingHttpProxy {
  /** `http://127.0.0.1:PORT`: give it to the SDK clients in place of the engine's endpoint. */
  endpoint: string;
  stop(): Promise<void>;
}

export async function startDelayingHttpProxy(options: DelayingHttpProxyOptions): Promise<DelayingHttpProxy> {
  const target = new URL(options.target);
  // Connections to the engine are kept open, as the SDK keeps its own to AWS.
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const server = createServer((request, response) => {
    void forward(request, response, target, agent, options);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      agent.destroy();
    },
  };
}

/** The action of an `X-Amz-Target` header, or '' when there is none. */
export function operationOf(headers: IncomingMessage['headers']): string {
  const header = headers['x-amz-target'];
  const value = Array.isArray(header) ? header[0] : header;
  return value?.split('.').at(-1) ?? '';
}

async function forward(
  request: IncomingMessage,
  response: ServerResponse,
  target: URL,
  agent: Agent,
  { delayOf, observe, hold = sleep }: DelayingHttpProxyOptions,
): Promise<void> {
  const startedAt = Date.now();
  const operation = operationOf(request.headers);
  const delayMs = delayOf(operation);
  const cut = () => {
    request.destroy();
    response.destroy();
  };
  const upstream = httpRequest({
    host: target.hostname,
    port: target.port,
    method: request.method,
    path: request.url,
    headers: request.headers as OutgoingHttpHeaders,
    agent,
  });
  upstream.once('error', cut);
  request.once('error', () => upstream.destroy());
  request.pipe(upstream);
  let answer: { status: number; headers: IncomingMessage['headers']; body: Buffer };
  try {
    answer = await new Promise((resolve, reject) => {
      upstream.once('response', (engine) => {
        const chunks: Buffer[] = [];
        engine.on('data', (chunk: Buffer) => chunks.push(chunk));
        engine.once('end', () =>
          resolve({ status: engine.statusCode ?? 502, headers: engine.headers, body: Buffer.concat(chunks) }),
        );
        engine.once('error', reject);
      });
      upstream.once('error', reject);
    });
  } catch {
    cut();
    return;
  }
  const answeredAt = Date.now();
  observe?.(operation, answeredAt - startedAt, delayMs);
  const wait = remainingHold(startedAt, delayMs, answeredAt);
  if (wait > 0) await hold(wait);
  if (response.destroyed) return;
  response.writeHead(answer.status, endToEnd(answer.headers));
  response.end(answer.body);
}

/** How much longer a call that started at `startedAt` must be held to have taken `delayMs`; 0 once it has. */
export function remainingHold(startedAt: number, delayMs: number, now: number): number {
  return Math.max(0, startedAt + delayMs - now);
}

/** The headers without those of one hop: the proxy sends the whole body with its own length. */
function endToEnd(headers: IncomingMessage['headers']): OutgoingHttpHeaders {
  const {
    connection: _connection,
    'keep-alive': _keepAlive,
    'transfer-encoding': _encoding,
    ...rest
  } = headers;
  return rest;
}
