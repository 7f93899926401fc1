/**
 * The `@connections` management API on the gateway's port: POST sends a frame to a
 * connection, GET describes it, DELETE closes it. Unknown connections are 410 with
 * `x-amzn-ErrorType: GoneException`, so that the real `ApiGatewayManagementApiClient` raises
 * `GoneException` as it does against AWS.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Connection } from './connection.js';
import { describeError, type GatewayLog } from './log.js';

/** API Gateway's message payload limit, for PostToConnection and for client messages. */
export const MAX_MESSAGE_BYTES = 128 * 1024;

type Reply = (status: number, body?: unknown, headers?: Record<string, string>) => void;

/** The connection and method a request is for, or the answer that refuses it. */
type Target =
  | { connectionId: string; method: 'POST' | 'GET' | 'DELETE' }
  | { refusal: [status: number, body: unknown, headers: Record<string, string>] };

export class ManagementApi {
  readonly #stage: string;
  readonly #connections: ReadonlyMap<string, Connection>;
  readonly #log: GatewayLog;
  readonly #postDelay: (() => number) | undefined;

  /** `postDelay`: how long a POST takes inside API Gateway before its frame leaves (a model of AWS). */
  constructor(
    stage: string,
    connections: ReadonlyMap<string, Connection>,
    log: GatewayLog,
    postDelay?: () => number,
  ) {
    this.#stage = stage;
    this.#connections = connections;
    this.#log = log;
    this.#postDelay = postDelay;
  }

  /** Answers one request; a failure is logged and answered 500. */
  serve(request: IncomingMessage, response: ServerResponse): void {
    this.#handle(request, response).catch((error) => {
      this.#log('error', 'management request failed', { error: describeError(error) });
      if (!response.headersSent) {
        response.writeHead(500, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify({ message: 'Internal server error' }));
      }
    });
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const reply = replyTo(response);
    // No body, exactly as API Gateway answers: the error type is in the header.
    const gone = () => reply(410, undefined, { 'x-amzn-ErrorType': 'GoneException' });
    const target = this.#targetOf(request);
    if ('refusal' in target) {
      request.resume();
      return reply(...target.refusal);
    }

    if (target.method === 'POST') {
      const body = await readBody(request, MAX_MESSAGE_BYTES);
      if (body === 'too large') {
        return reply(
          413,
          { message: 'Request Entity Too Large' },
          { 'x-amzn-ErrorType': 'PayloadTooLargeException' },
        );
      }
      const delayMs = this.#postDelay?.() ?? 0;
      if (delayMs > 0) await sleep(delayMs);
      const connection = this.#connections.get(target.connectionId);
      if (!connection || connection.closing || !connection.send(body)) return gone();
      return reply(200);
    }

    request.resume();
    const connection = this.#connections.get(target.connectionId);
    if (!connection || connection.closing) return gone();
    if (target.method === 'GET') {
      const { connectedAt, sourceIp, userAgent } = connection.caller;
      return reply(200, {
        connectedAt: new Date(connectedAt).toISOString(),
        identity: { sourceIp, userAgent: userAgent ?? '' },
        lastActiveAt: new Date(connection.lastActiveAt).toISOString(),
      });
    }
    connection.close(1000, '');
    return reply(204);
  }

  /** `[/{stage}]/@connections/{connectionId}` with POST, GET or DELETE. */
  #targetOf(request: IncomingMessage): Target {
    const pathname = (request.url ?? '/').split('?')[0] ?? '/';
    const match = /^(?:\/([^/]+))?\/@connections\/([^/]+)\/?$/.exec(pathname);
    if (!match || (match[1] !== undefined && match[1] !== this.#stage)) {
      return { refusal: [404, { message: 'Not Found' }, { 'x-amzn-ErrorType': 'NotFoundException' }] };
    }
    let connectionId: string;
    try {
      connectionId = decodeURIComponent(match[2] ?? '');
    } catch {
      return {
        refusal: [400, { message: 'Invalid connection id' }, { 'x-amzn-ErrorType': 'BadRequestException' }],
      };
    }
    const method = request.method ?? 'GET';
    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
      return { refusal: [405, { message: 'Method Not Allowed' }, { Allow: 'POST, GET, DELETE' }] };
    }
    return { connectionId, method };
  }
}

/** Answers a request once, with JSON and the request id header API Gateway sends. */
function replyTo(response: ServerResponse): Reply {
  const requestId = randomUUID();
  return (status, body, headers = {}) => {
    if (response.headersSent) return;
    const text = body === undefined ? '' : JSON.stringify(body);
    response.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(text)),
      'x-amzn-RequestId': requestId,
      ...headers,
    });
    response.end(text);
  };
}

/** The body, or 'too large' once it passes `limit` bytes (the rest is read and dropped). */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer | 'too large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    request.on('end', () => resolve(size > limit ? 'too large' : Buffer.concat(chunks)));
    request.on('error', reject);
  });
}
