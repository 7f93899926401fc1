/**
 * The proxy in front of the local engines under a model of AWS: it holds each response until
 * the call has taken its modelled time, and changes nothing else. A real HTTP server stands in
 * for the engine; the test holds and releases the wait itself, so nothing depends on timing.
 */
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type DelayingHttpProxy,
  operationOf,
  remainingHold,
  startDelayingHttpProxy,
} from '../../../local/latency/delaying-http-proxy.js';

const servers: Server[] = [];
const proxies: DelayingHttpProxy[] = [];

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((proxy) => proxy.stop()));
  await Promise.all(
    servers.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
  );
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** An engine that answers every request with `answer`, after telling the test it got it. */
async function startEngine(answer: Answer) {
  const seen: Array<{ method?: string; url?: string; target?: string; body: string }> = [];
  let answered: () => void = () => {};
  const engineAnswered = new Promise<void>((resolve) => {
    answered = resolve;
  });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      seen.push({
        method: req.method,
        url: req.url,
        target: req.headers['x-amz-target'] as string | undefined,
        body: Buffer.concat(chunks).toString(),
      });
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body, () => answered());
    });
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, engineAnswered };
}

/** A POST through the proxy, as the SDK sends it: its status, headers and body, or the error that ended it. */
function post(endpoint: string, target: string, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${endpoint}/?x=1`,
      { method: 'POST', headers: { 'x-amz-target': target, 'content-type': 'application/x-amz-json-1.0' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

/** A hold the test releases: it records what it was asked to wait. */
function controlledHold() {
  const asked: number[] = [];
  let release: () => void = () => {};
  let held: () => void = () => {};
  const holding = new Promise<void>((resolve) => {
    held = resolve;
  });
  const hold = (ms: number) =>
    new Promise<void>((resolve) => {
      asked.push(ms);
      release = resolve;
      held();
    });
  return { hold, asked, holding, release: () => release() };
}

describe('the delaying HTTP proxy', () => {
  it('holds the engine’s answer until the call has taken its modelled time, then passes it on unchanged', async () => {
    // prepare
    const engine = await startEngine({
      status: 200,
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': 'r-1' },
      body: '{"Item":{"pk":{"S":"a"}}}',
    });
    const control = controlledHold();
    const operations: string[] = [];
    const observed: Array<[string, number]> = [];
    const proxy = await startDelayingHttpProxy({
      target: engine.endpoint,
      delayOf: (operation) => {
        operations.push(operation);
        return 60_000;
      },
      hold: control.hold,
      observe: (operation, engineMs, modelledMs) => {
        expect(engineMs).toBeGreaterThanOrEqual(0);
        observed.push([operation, modelledMs]);
      },
    });
    proxies.push(proxy);
    let arrived = false;

    // act
    const answer = post(proxy.endpoint, 'DynamoDB_20120810.GetItem', '{"TableName":"t"}').then((value) => {
      arrived = true;
      return value;
    });
    await engine.engineAnswered;
    await control.holding;
    const beforeRelease = arrived;
    control.release();
    const received = await answer;

    // assess
    expect(operations).toEqual(['GetItem']);
    expect(observed).toEqual([['GetItem', 60_000]]);
    expect(beforeRelease).toBe(false);
    expect(control.asked).toHaveLength(1);
    expect(control.asked[0]).toBeGreaterThan(0);
    expect(control.asked[0]).toBeLessThanOrEqual(60_000);
    expect(engine.seen).toEqual([
      { method: 'POST', url: '/?x=1', target: 'DynamoDB_20120810.GetItem', body: '{"TableName":"t"}' },
    ]);
    expect(received.status).toBe(200);
    expect(received.body).toBe('{"Item":{"pk":{"S":"a"}}}');
    expect(received.headers['x-amzn-requestid']).toBe('r-1');
    expect(received.headers['content-type']).toBe('application/x-amz-json-1.0');
  });

  it('passes an error answer through unchanged, status, error type and body', async () => {
    // prepare
    const body =
      '{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","message":"cancelled"}';
    const engine = await startEngine({
      status: 400,
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amzn-errortype': 'TransactionCanceledException',
      },
      body,
    });
    const proxy = await startDelayingHttpProxy({ target: engine.endpoint, delayOf: () => 0 });
    proxies.push(proxy);

    // act
    const received = await post(proxy.endpoint, 'DynamoDB_20120810.TransactWriteItems', '{}');

    // assess
    expect(received.status).toBe(400);
    expect(received.headers['x-amzn-errortype']).toBe('TransactionCanceledException');
    expect(received.body).toBe(body);
  });

  it('cuts the client’s connection when the engine cannot be reached, as without the proxy', async () => {
    // prepare: an engine that has stopped listening
    const engine = await startEngine({ status: 200, headers: {}, body: '' });
    const server = servers.pop() as Server;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const proxy = await startDelayingHttpProxy({ target: engine.endpoint, delayOf: () => 5 });
    proxies.push(proxy);

    // act
    const outcome = await post(proxy.endpoint, 'Kinesis_20131202.PutRecord', '{}').then(
      () => 'answered',
      (error: NodeJS.ErrnoException) => error.code,
    );

    // assess
    expect(outcome).toMatch(/^(ECONNRESET|EPIPE)$/);
  });

  it('holds only for what is left of the modelled time, nothing once the engine took longer', () => {
    expect(remainingHold(1_000, 50, 1_020)).toBe(30);
    expect(remainingHold(1_000, 50, 1_050)).toBe(0);
    expect(remainingHold(1_000, 50, 1_400)).toBe(0);
    expect(remainingHold(1_000, 0, 1_000)).toBe(0);
  });

  it('reads the operation from X-Amz-Target, and none when there is no such header', () => {
    expect(operationOf({ 'x-amz-target': 'DynamoDB_20120810.Query' })).toBe('Query');
    expect(operationOf({ 'x-amz-target': 'Kinesis_20131202.PutRecord' })).toBe('PutRecord');
    expect(operationOf({})).toBe('');
  });
});
