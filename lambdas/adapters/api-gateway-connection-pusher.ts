/** Posts frames to WebSocket connections through API Gateway's `@connections` API. */
import {
  type ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { PostTimeoutError } from '../domain/errors.js';
import type { ConnectionPusher, PostOutcome } from '../domain/ports.js';

/**
 * How long one post may take, the SDK's own retries included. A post normally takes tens
 * of milliseconds; a throttled one is retried by the SDK up to twice, with full-jitter
 * backoff on a 500 ms base, so about 1.5 s at worst. 3 s covers that and is still a
 * twentieth of the fanout function's 60 s timeout: a post that hangs (the SDK sets no
 * timeout of its own, aws/aws-sdk-js-v3#7632) fails its record, which the stream retries,
 * instead of holding the whole batch until Lambda kills it.
 */
export const DEFAULT_POST_TIMEOUT_MS = 3_000;

/** A closed connection answers 410; the SDK names it GoneException. Never rely on `statusCode`. */
export function isGone(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as { name?: unknown; $metadata?: { httpStatusCode?: unknown } };
  return candidate.name === 'GoneException' || candidate.$metadata?.httpStatusCode === 410;
}

/** The error names API Gateway and the SDK give a throttled request. */
const THROTTLING_NAMES = new Set([
  'LimitExceededException',
  'ThrottlingException',
  'TooManyRequestsException',
]);

/**
 * A post refused for load rather than for the connection: 429 (the account's request
 * quota, which every `@connections` call shares) or a 5xx. The connection may be open;
 * only this frame did not reach it.
 */
export function isThrottled(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as { name?: unknown; $metadata?: { httpStatusCode?: unknown } };
  const status = candidate.$metadata?.httpStatusCode;
  if (typeof candidate.name === 'string' && THROTTLING_NAMES.has(candidate.name)) return true;
  return status === 429 || (typeof status === 'number' && status >= 500 && status < 600);
}

export class ApiGatewayConnectionPusher implements ConnectionPusher {
  readonly #client: ApiGatewayManagementApiClient;
  readonly #timeoutMs: number;

  constructor(options: { client: ApiGatewayManagementApiClient; timeoutMs?: number }) {
    this.#client = options.client;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_POST_TIMEOUT_MS;
  }

  async post(connectionId: string, frame: string): Promise<PostOutcome> {
    const abortSignal = AbortSignal.timeout(this.#timeoutMs);
    try {
      await this.#client.send(
        new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(frame, 'utf8') }),
        { abortSignal },
      );
      return 'delivered';
    } catch (error) {
      if (isGone(error)) return 'gone';
      if (abortSignal.aborted) throw new PostTimeoutError(connectionId, this.#timeoutMs, { cause: error });
      if (isThrottled(error)) return 'throttled';
      throw error;
    }
  }

  async disconnect(connectionId: string): Promise<'closed' | 'gone'> {
    try {
      await this.#client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }), {
        abortSignal: AbortSignal.timeout(this.#timeoutMs),
      });
      return 'closed';
    } catch (error) {
      if (isGone(error)) return 'gone';
      throw error;
    }
  }
}
