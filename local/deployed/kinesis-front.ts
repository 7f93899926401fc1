/**
 * The Kinesis endpoint the functions' bundles talk to. The AWS SDK's Kinesis client speaks
 * HTTP/2 (cleartext to an http:// endpoint), which kinesis-mock does not: this front
 * takes HTTP/2 and HTTP/1.1 and passes each request on to kinesis-mock over HTTP/1.1 with
 * keep-alive. It also tells the local event source mappings which shard a put went to,
 * as enhanced fan-out pushes records to its consumer in AWS. For fault injection, it can
 * fail a request, or pass it on and then fail its answer, as Kinesis' `InternalFailure`
 * arrives (HTTP 500: "Common Errors" of the Kinesis Data Streams API Reference).
 */
import { createServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { EngineForwarder, listenOnLoopback, parseJson, readBody } from './http-forward.js';

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

const TARGET_PREFIX = 'Kinesis_20131202.';

export async function startKinesisFront(options: KinesisFrontOptions): Promise<RunningKinesisFront> {
  const engine = new EngineForwarder(options.target);
  const server = createServer({ allowHTTP1: true } as never, (request, response) => {
    void forward(request, response).catch((error: unknown) => {
      if (!response.headersSent) answerInternalFailure(response, `kinesis-mock: ${(error as Error).message}`);
    });
  });

  async function forward(request: Http2ServerRequest, response: Http2ServerResponse) {
    const body = await readBody(request);
    const operation = String(request.headers['x-amz-target'] ?? '').replace(TARGET_PREFIX, '');
    const parsed = parseJson(body);
    const fault = options.fault?.({ target: operation, body: parsed });
    if (fault === 'fail') {
      answerInternalFailure(response, 'injected: the request failed');
      return;
    }
    const answer = await engine.pass(request, body);
    if (fault === 'lose-answer') {
      // kinesis-mock has the records; the caller never hears so.
      answerInternalFailure(response, 'injected: the answer was lost');
    } else {
      response.writeHead(answer.statusCode, answer.headers);
      response.end(answer.body);
    }
    if (answer.statusCode === 200) notifyPut(operation, parsed);
  }

  function notifyPut(operation: string, parsed: unknown) {
    if (!options.onPut || typeof parsed !== 'object' || parsed === null) return;
    type Entry = { PartitionKey?: string; Data?: string };
    const request = parsed as Entry & { Records?: Entry[] };
    const entries =
      operation === 'PutRecord' ? [request] : operation === 'PutRecords' ? (request.Records ?? []) : [];
    options.onPut(
      entries.flatMap((entry) =>
        entry.PartitionKey ? [{ partitionKey: entry.PartitionKey, data: decodeData(entry.Data) }] : [],
      ),
    );
  }

  return listenOnLoopback(server, () => engine.destroy());
}

function answerInternalFailure(response: Http2ServerResponse, message: string): void {
  response.writeHead(500, { 'content-type': 'application/x-amz-json-1.1' });
  response.end(JSON.stringify({ __type: 'InternalFailure', message }));
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
