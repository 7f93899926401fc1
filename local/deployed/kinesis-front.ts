/**
 * The Kinesis endpoint the functions' bundles talk to. The AWS SDK's Kinesis client speaks
 * HTTP/2 (cleartext to an http:// endpoint), which kinesis-mock does not: this front
 * takes HTTP/2 and HTTP/1.1 and passes each request on to kinesis-mock over HTTP/1.1 with
 * keep-alive. It also tells the local event source mappings which shard a put went to,
 * as enhanced fan-out pushes records to its consumer in AWS. For fault injection, it can
 * fail a request, or pass it on and then fail its answer, as Kinesis' `InternalFailure`
 * arrives (HTTP 500: "Common Errors" of the Kinesis Data Streams API Reference).
 */
import { Agent, request as httpRequest } from 'node:http';
import { createServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { AddressInfo } from 'node:net';

export interface KinesisFrontOptions {
  /** kinesis-mock's endpoint, `http://127.0.0.1:PORT`. */
  target: string;
  /** After a PutRecord or PutRecords that succeeded: what it put, the data decoded as JSON when it is JSON. */
  onPut?: (records: PutRecordSummary[]) => void;
  /** Asked once per request attempt; undefined passes the request on untouched. */
  fault?: (request: KinesisRequest) => KinesisFault;
}

/** `fail`: answer InternalFailure without passing the request on; `lose-answer`: pass it on, then answer InternalFailure. */
export type KinesisFault = 'fail' | 'lose-answer' | undefined;

export interface KinesisRequest {
  /** The operation, from `X-Amz-Target` without its prefix: `PutRecord`, `GetRecords`… */
  target: string;
  /** The request's JSON body, or undefined when it is not JSON (a CBOR client). */
  body: unknown;
}

export interface PutRecordSummary {
  partitionKey: string;
  data: unknown;
}

export interface RunningKinesisFront {
  endpoint: string;
  stop(): Promise<void>;
}

/** Request headers that describe one HTTP connection and are not passed on. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'host',
  'http2-settings',
]);

export async function startKinesisFront(options: KinesisFrontOptions): Promise<RunningKinesisFront> {
  const target = new URL(options.target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const server = createServer({ allowHTTP1: true } as never, (request, response) => {
    void forward(request, response);
  });

  async function forward(request: Http2ServerRequest, response: Http2ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (name.startsWith(':') || HOP_BY_HOP.has(name) || value === undefined) continue;
      headers[name] = value;
    }
    headers['content-length'] = String(body.length);
    const targetHeader = String(request.headers['x-amz-target'] ?? '');
    const fault = options.fault?.({
      target: targetHeader.replace(/^Kinesis_20131202\./, ''),
      body: parseJson(body),
    });
    if (fault === 'fail') {
      answerInternalFailure(response, 'injected: the request failed');
      return;
    }
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
        answer.on('end', () => {
          const answerBody = Buffer.concat(answerChunks);
          const answerHeaders: Record<string, string | string[]> = {};
          for (const [name, value] of Object.entries(answer.headers)) {
            if (HOP_BY_HOP.has(name) || value === undefined) continue;
            answerHeaders[name] = value;
          }
          answerHeaders['content-length'] = String(answerBody.length);
          if (fault === 'lose-answer') {
            // kinesis-mock has the records; the caller never hears so.
            answerInternalFailure(response, 'injected: the answer was lost');
          } else {
            response.writeHead(answer.statusCode ?? 502, answerHeaders);
            response.end(answerBody);
          }
          if (answer.statusCode === 200) notifyPut(request.headers['x-amz-target'], body);
        });
      },
    );
    upstream.on('error', (error) => {
      if (response.headersSent) return;
      response.writeHead(502, { 'content-type': 'application/x-amz-json-1.1' });
      response.end(JSON.stringify({ __type: 'InternalFailure', message: `kinesis-mock: ${error.message}` }));
    });
    upstream.end(body);
  }

  function notifyPut(target: unknown, body: Buffer) {
    if (!options.onPut) return;
    type Entry = { PartitionKey?: string; Data?: string };
    let entries: Entry[] = [];
    try {
      const parsed = JSON.parse(body.toString('utf8')) as Entry & { Records?: Entry[] };
      if (target === 'Kinesis_20131202.PutRecord') entries = [parsed];
      if (target === 'Kinesis_20131202.PutRecords') entries = parsed.Records ?? [];
    } catch {
      // Not JSON (a CBOR client): the mapping's periodic poll finds the records instead.
      return;
    }
    options.onPut(
      entries.flatMap((entry) =>
        entry.PartitionKey ? [{ partitionKey: entry.PartitionKey, data: decodeData(entry.Data) }] : [],
      ),
    );
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  const sockets = new Set<{ destroy(): void }>();
  server.on('connection', (socket: import('node:net').Socket) => {
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

function answerInternalFailure(response: Http2ServerResponse, message: string): void {
  response.writeHead(500, { 'content-type': 'application/x-amz-json-1.1' });
  response.end(JSON.stringify({ __type: 'InternalFailure', message }));
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** A record's data as JSON, or undefined when it is not JSON. */
function decodeData(data: string | undefined): unknown {
  if (!data) return undefined;
  try {
    return JSON.parse(Buffer.from(data, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
}
