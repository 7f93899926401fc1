/**
 * The events and Lambda contexts the gateway hands its handlers, in the shapes API Gateway
 * sends (AWS developer guide, "Input format of a Lambda function for proxy integration for
 * WebSocket APIs", and the Powertools parser fixtures, which were captured from real events).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Context } from 'aws-lambda';
import type {
  WebSocketAuthorizerContext,
  WebSocketAuthorizerEvent,
  WebSocketGatewayEvent,
  WebSocketGatewayRequestContext,
} from './types.js';

const REGION = 'us-east-1';
const ACCOUNT_ID = '000000000000';
/** API Gateway's integration timeout: what a handler's Lambda context counts down from. */
const INTEGRATION_TIMEOUT_MS = 29_000;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const HOP_HEADERS = new Set(['connection', 'upgrade', 'content-length']);

/** Who is on the other end of a connection: what every event of the connection repeats. */
export interface Caller {
  connectionId: string;
  connectedAt: number;
  sourceIp: string;
  userAgent: string | undefined;
  domainName: string;
  authorizer: WebSocketAuthorizerContext | undefined;
}

/** What the authorizer and `$connect` events take from the HTTP upgrade request. */
export interface HandshakeRequest {
  headers: Record<string, string>;
  multiValueHeaders: Record<string, string[]>;
  query: { single: Record<string, string> | undefined; multi: Record<string, string[]> | undefined };
  /** The trace and `X-Forwarded-*` headers API Gateway adds to the client's. */
  forwarded: Record<string, string>;
}

export function handshakeRequestOf(request: IncomingMessage, url: URL, caller: Caller): HandshakeRequest {
  const { headers, multiValueHeaders } = headersOf(request.rawHeaders);
  const traceTime = Math.floor(caller.connectedAt / 1000).toString(16);
  return {
    headers,
    multiValueHeaders,
    query: queryOf(url),
    forwarded: {
      'X-Amzn-Trace-Id': `Root=1-${traceTime}-${randomBytes(12).toString('hex')}`,
      'X-Forwarded-For': caller.sourceIp,
      'X-Forwarded-Port': String(request.socket.localPort ?? ''),
      'X-Forwarded-Proto': 'http',
    },
  };
}

/** Builds the events of one API (one stage, one API id). */
export class EventShapes {
  readonly apiId = randomApiId();

  constructor(readonly stage: string) {}

  authorizerEvent(caller: Caller, handshake: HandshakeRequest): WebSocketAuthorizerEvent {
    const { headers, multiValueHeaders, query, forwarded } = handshake;
    return {
      type: 'REQUEST',
      methodArn: `arn:aws:execute-api:${REGION}:${ACCOUNT_ID}:${this.apiId}/${this.stage}/$connect`,
      headers: { ...headers, 'content-length': '0', ...forwarded },
      multiValueHeaders: { ...multiValueHeaders, 'content-length': ['0'], ...multiValued(forwarded) },
      queryStringParameters: query.single ?? {},
      multiValueQueryStringParameters: query.multi ?? {},
      stageVariables: {},
      requestContext: this.#requestContext(caller, '$connect', 'CONNECT'),
      isBase64Encoded: false,
      body: null,
    };
  }

  connectEvent(caller: Caller, handshake: HandshakeRequest): WebSocketGatewayEvent {
    const { headers, multiValueHeaders, query, forwarded } = handshake;
    // The $connect event carries the client's headers, not the hop-by-hop upgrade ones.
    const connectHeaders = { ...withoutHopHeaders(headers), ...forwarded };
    return {
      headers: connectHeaders,
      multiValueHeaders: multiValued(connectHeaders, withoutHopHeaders(multiValueHeaders)),
      ...(query.single ? { queryStringParameters: query.single } : {}),
      ...(query.multi ? { multiValueQueryStringParameters: query.multi } : {}),
      requestContext: {
        ...this.#requestContext(caller, '$connect', 'CONNECT'),
        ...(caller.authorizer ? { authorizer: caller.authorizer } : {}),
      } as WebSocketGatewayRequestContext,
      isBase64Encoded: false,
    };
  }

  messageEvent(caller: Caller, routeKey: string, text: string) {
    const requestContext = {
      ...this.#requestContext(caller, routeKey, 'MESSAGE'),
      messageId: randomId(),
      ...(caller.authorizer ? { authorizer: caller.authorizer } : {}),
    };
    return { requestContext, body: text, isBase64Encoded: false } satisfies WebSocketGatewayEvent;
  }

  disconnectEvent(caller: Caller, statusCode: number, reason: string): WebSocketGatewayEvent {
    const headers = disconnectHeaders(caller.domainName);
    return {
      headers,
      multiValueHeaders: multiValued(headers),
      requestContext: {
        ...this.#requestContext(caller, '$disconnect', 'DISCONNECT'),
        disconnectStatusCode: statusCode,
        disconnectReason: reason,
        ...(caller.authorizer ? { authorizer: caller.authorizer } : {}),
      } as WebSocketGatewayRequestContext,
      isBase64Encoded: false,
    };
  }

  #requestContext(caller: Caller, routeKey: string, eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT') {
    const requestId = randomId();
    const now = Date.now();
    return {
      routeKey,
      eventType,
      extendedRequestId: requestId,
      requestTime: formatClfTime(now),
      messageDirection: 'IN' as const,
      stage: this.stage,
      connectedAt: caller.connectedAt,
      requestTimeEpoch: now,
      identity: identityOf(caller),
      requestId,
      domainName: caller.domainName,
      connectionId: caller.connectionId,
      apiId: this.apiId,
    };
  }
}

/**
 * The frame API Gateway sends when it does not serve a frame (`Forbidden`, `Internal server
 * error`, `Too Many Requests`), byte for byte as clients receive it from AWS, spacing included:
 * `{"message": "Forbidden", "connectionId":"…", "requestId":"…"}`.
 */
export function gatewayMessage(message: string, connectionId: string, requestId: string): string {
  const json = JSON.stringify;
  return `{"message": ${json(message)}, "connectionId":${json(connectionId)}, "requestId":${json(requestId)}}`;
}

/** The `disconnectReason` API Gateway reports for a close frame's code and reason. */
export function disconnectReasonOf(code: number, reason: string): string {
  if (code === 1005) return 'Client-side close frame status not set';
  if (code === 1006 && reason === '') return 'Connection closed abnormally';
  return reason;
}

/** Ids shaped like API Gateway's connection and request ids: 15 url-safe base64 chars and `=`. */
export function randomId(): string {
  return `${randomBytes(11).toString('base64url')}=`;
}

export function createLambdaContext(functionName: string): Context {
  const deadline = Date.now() + INTEGRATION_TIMEOUT_MS;
  const today = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${today}/[$LATEST]${randomBytes(16).toString('hex')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

function identityOf(caller: Caller): { sourceIp: string; userAgent?: string } {
  return caller.userAgent === undefined
    ? { sourceIp: caller.sourceIp }
    : { sourceIp: caller.sourceIp, userAgent: caller.userAgent };
}

/** The headers API Gateway puts on every `$disconnect` event. */
function disconnectHeaders(domainName: string): Record<string, string> {
  return { Host: domainName, 'x-api-key': '', 'X-Forwarded-For': '', 'x-restapi': '' };
}

function headersOf(rawHeaders: string[]) {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (let index = 0; index + 1 < rawHeaders.length; index += 2) {
    const name = rawHeaders[index] as string;
    const value = rawHeaders[index + 1] as string;
    headers[name] = value;
    multiValueHeaders[name] = [...(multiValueHeaders[name] ?? []), value];
  }
  return { headers, multiValueHeaders };
}

function withoutHopHeaders<T>(headers: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_HEADERS.has(name.toLowerCase())));
}

function multiValued(
  headers: Record<string, string>,
  base: Record<string, string[]> = {},
): Record<string, string[]> {
  const result: Record<string, string[]> = { ...base };
  for (const [name, value] of Object.entries(headers)) if (!(name in result)) result[name] = [value];
  return result;
}

function queryOf(url: URL): HandshakeRequest['query'] {
  if ([...url.searchParams.keys()].length === 0) return { single: undefined, multi: undefined };
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const [name, value] of url.searchParams) {
    single[name] = value;
    multi[name] = [...(multi[name] ?? []), value];
  }
  return { single, multi };
}

function randomApiId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(10)].map((byte) => alphabet[byte % alphabet.length]).join('');
}

/** `09/Feb/2024:18:11:43 +0000`, the CLF time API Gateway puts in `requestTime`. */
function formatClfTime(epochMs: number): string {
  const date = new Date(epochMs);
  const two = (value: number) => String(value).padStart(2, '0');
  return (
    `${two(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}:` +
    `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} +0000`
  );
}
