/**
 * An HTTP/1.1 front between the functions' bundles and DynamoDB Local, for fault injection
 * at the wire: the bundles' DynamoDB client sees a refused or unanswered request exactly as
 * it would from DynamoDB, and its own retries and backoff handle it as in AWS.
 *
 * - A throttle answers HTTP 400 with the body DynamoDB sends for
 *   `ProvisionedThroughputExceededException`, without passing the request on (the shape is
 *   the one in "Error handling with DynamoDB", DynamoDB Developer Guide:
 *   `{"__type":"com.amazonaws.dynamodb.v20120810#…","message":"…"}`,
 *   `Content-Type: application/x-amz-json-1.0`).
 * - A lost answer passes the request on, lets DynamoDB Local apply it, and then cuts the
 *   connection instead of answering: the client sees a reset connection after the write
 *   happened, as after a network failure or a timeout.
 */
import { randomUUID } from 'node:crypto';
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the front does with one request. */
export type DynamoDbFault = 'throttle' | 'lose-answer' | undefined;

export interface DynamoDbRequest {
  /** The operation, from `X-Amz-Target` without its prefix: `TransactWriteItems`, `Query`… */
  target: string;
  /** The request's JSON body, or undefined when it is not JSON. */
  body: unknown;
}

export interface DynamoDbFrontOptions {
  /** DynamoDB Local's endpoint, `http://127.0.0.1:PORT`. */
  target: string;
  /** Asked once per request attempt; undefined passes the request on untouched. */
  fault: (request: DynamoDbRequest) => DynamoDbFault;
}

export interface RunningDynamoDbFront {
  endpoint: string;
  stop(): Promise<void>;
}

/** Request headers that describe one HTTP connection and are not passed on. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'host']);

const TARGET_PREFIX = 'DynamoDB_20120810.';

export async function startDynamoDbFront(options: DynamoDbFrontOptions): Promise<RunningDynamoDbFront> {
  const target = new URL(options.target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const server = createServer((request, response) => {
    void handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) {
        response.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
        response.end(
          JSON.stringify({
            __type: 'com.amazon.coral.service#InternalFailure',
            message: `dynamodb front: ${(error as Error).message}`,
          }),
        );
      }
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const targetHeader = String(request.headers['x-amz-target'] ?? '');
    const fault = options.fault({
      target: targetHeader.startsWith(TARGET_PREFIX)
        ? targetHeader.slice(TARGET_PREFIX.length)
        : targetHeader,
      body: parseJson(body),
    });
    if (fault === 'throttle') {
      const answer = Buffer.from(
        JSON.stringify({
          __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
          message:
            'The level of configured provisioned throughput for the table was exceeded. ' +
            'Consider increasing your provisioning level with the UpdateTable API.',
        }),
      );
      response.writeHead(400, {
        'content-type': 'application/x-amz-json-1.0',
        'content-length': String(answer.length),
        'x-amzn-requestid': randomUUID(),
      });
      response.end(answer);
      return;
    }
    const answer = await pass(request, body);
    if (fault === 'lose-answer') {
      // DynamoDB Local applied it; the client never hears so.
      response.socket?.destroy();
      return;
    }
    response.writeHead(answer.statusCode, answer.headers);
    response.end(answer.body);
  }

  function pass(
    request: IncomingMessage,
    body: Buffer,
  ): Promise<{ statusCode: number; headers: Record<string, string | string[]>; body: Buffer }> {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (HOP_BY_HOP.has(name) || value === undefined) continue;
      headers[name] = value;
    }
    headers['content-length'] = String(body.length);
    return new Promise((resolve, reject) => {
      const upstream = httpRequest(
        {
          agent,
          host: target.hostname,
          port: target.port,
          method: request.method,
          path: request.url,
          headers,
        },
        (answer) => {
          const answerChunks: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => answerChunks.push(chunk));
          answer.once('error', reject);
          answer.once('end', () => {
            const answerBody = Buffer.concat(answerChunks);
            const answerHeaders: Record<string, string | string[]> = {};
            for (const [name, value] of Object.entries(answer.headers)) {
              if (HOP_BY_HOP.has(name) || value === undefined) continue;
              answerHeaders[name] = value;
            }
            answerHeaders['content-length'] = String(answerBody.length);
            resolve({ statusCode: answer.statusCode ?? 502, headers: answerHeaders, body: answerBody });
          });
        },
      );
      upstream.once('error', reject);
      upstream.end(body);
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
