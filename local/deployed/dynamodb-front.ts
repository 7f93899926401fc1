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
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { EngineForwarder, listenOnLoopback, parseJson, readBody } from './http-forward.js';

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

const TARGET_PREFIX = 'DynamoDB_20120810.';

export async function startDynamoDbFront(options: DynamoDbFrontOptions): Promise<RunningDynamoDbFront> {
  const engine = new EngineForwarder(options.target);
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
    const body = await readBody(request);
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
    const answer = await engine.pass(request, body);
    if (fault === 'lose-answer') {
      // DynamoDB Local applied it; the client never hears so.
      response.socket?.destroy();
      return;
    }
    response.writeHead(answer.statusCode, answer.headers);
    response.end(answer.body);
  }

  return listenOnLoopback(server, () => engine.destroy());
}
