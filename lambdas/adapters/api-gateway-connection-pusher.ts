/** Posts frames to WebSocket connections through API Gateway's `@connections` API. */
import {
  type ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import type { ConnectionPusher, PostOutcome } from '../domain/ports.js';

/** A closed connection answers 410; the SDK names it GoneException. Never rely on `statusCode`. */
export function isGone(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as { name?: unknown; $metadata?: { httpStatusCode?: unknown } };
  return candidate.name === 'GoneException' || candidate.$metadata?.httpStatusCode === 410;
}

export class ApiGatewayConnectionPusher implements ConnectionPusher {
  readonly #client: ApiGatewayManagementApiClient;

  constructor(options: { client: ApiGatewayManagementApiClient }) {
    this.#client = options.client;
  }

  async post(connectionId: string, frame: string): Promise<PostOutcome> {
    try {
      await this.#client.send(
        new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(frame, 'utf8') }),
      );
      return 'delivered';
    } catch (error) {
      if (isGone(error)) return 'gone';
      throw error;
    }
  }
}
