/**
 * What the AWS fronts of the deployed mode share: read a request whole, pass it on to an
 * engine over HTTP/1.1 with keep-alive, and listen on the loopback interface until stopped.
 */
import { Agent, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { Http2SecureServer, Http2Server } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';

/** Headers that describe one HTTP connection (HTTP/2's pseudo-headers too), not the request. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'host',
  'http2-settings',
]);

export interface Forwarded {
  statusCode: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

export async function readBody(request: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The body as JSON, or undefined when it is not JSON (a CBOR client). */
export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Passes requests on to one engine, over HTTP/1.1 connections it keeps open. */
export class EngineForwarder {
  readonly #target: URL;
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 64 });

  constructor(target: string) {
    this.#target = new URL(target);
  }

  /** Sends the request on and reads the engine's answer whole. */
  pass(
    request: { method?: string | undefined; url?: string | undefined; headers: IncomingHttpHeaders },
    body: Buffer,
  ): Promise<Forwarded> {
    return new Promise((resolve, reject) => {
      const upstream = httpRequest(
        {
          agent: this.#agent,
          host: this.#target.hostname,
          port: this.#target.port,
          method: request.method,
          path: request.url,
          headers: { ...endToEndHeaders(request.headers), 'content-length': String(body.length) },
        },
        (answer) => {
          void readBody(answer).then((answerBody) => {
            resolve({
              statusCode: answer.statusCode ?? 502,
              headers: { ...endToEndHeaders(answer.headers), 'content-length': String(answerBody.length) },
              body: answerBody,
            });
          }, reject);
        },
      );
      upstream.once('error', reject);
      upstream.end(body);
    });
  }

  destroy(): void {
    this.#agent.destroy();
  }
}

/**
 * Listens on a free loopback port; `stop` cuts every open connection (keep-alive ones
 * included, which `close` alone would wait for) and frees the port.
 */
export async function listenOnLoopback(
  server: Server | Http2Server | Http2SecureServer,
  onStop: () => void,
): Promise<{ endpoint: string; stop(): Promise<void> }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
        onStop();
      }),
  };
}

function endToEndHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(':') || HOP_BY_HOP.has(name) || value === undefined) continue;
    kept[name] = value;
  }
  return kept;
}
