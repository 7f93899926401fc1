/**
 * Deletes the SNS platform endpoints made for APNs and FCM tokens (protocol 1.4): the
 * registration routes call it for a registration they replace or remove, and erasure for
 * every registration of the user, so that a device token leaves no endpoint behind.
 * DeleteEndpoint is idempotent (https://docs.aws.amazon.com/sns/latest/api/API_DeleteEndpoint.html,
 * read 2026-12-05); a `NotFoundException` is taken as "already gone" all the same, in case
 * a region or an emulator answers one.
 */
import { DeleteEndpointCommand, NotFoundException, SNSClient } from '@aws-sdk/client-sns';
import type { PlatformEndpoints } from '../domain/ports.js';

/** The region of an endpoint, from its ARN (`arn:aws:sns:{region}:{account}:endpoint/…`). */
export function regionOfEndpoint(endpointArn: string): string | undefined {
  return endpointArn.split(':')[3] || undefined;
}

/** One client per region, made on first use and kept for the module's life, as the other adapters keep theirs. */
const clients = new Map<string, SNSClient>();

function clientFor(region: string): SNSClient {
  let client = clients.get(region);
  if (!client) {
    client = new SNSClient({ region });
    clients.set(region, client);
  }
  return client;
}

export class SnsPlatformEndpoints implements PlatformEndpoints {
  async deleteEndpoint(endpointArn: string): Promise<void> {
    // SNS makes every endpoint ARN with its region: one without is not SNS's.
    const region = regionOfEndpoint(endpointArn);
    if (!region) throw new Error(`${endpointArn} is not an SNS platform endpoint ARN`);
    const client = clientFor(region);
    try {
      await client.send(new DeleteEndpointCommand({ EndpointArn: endpointArn }));
    } catch (error) {
      if (error instanceof NotFoundException) return;
      throw error;
    }
  }
}
