/**
 * Makes the AWS SDK clients once per module. In AWS every endpoint is the default one;
 * locally the endpoints come from the configuration. Against LocalStack the SDK takes
 * them from `AWS_ENDPOINT_URL` by itself, so an endpoint is passed only when one is set
 * (the `@connections` one, which the configuration points at LocalStack).
 */
import { Agent } from 'node:http';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/** Engines on this machine accept any credentials; these keep the SDK from looking for real ones. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

/**
 * kinesis-mock fails the SDK's default HTTP/2 handler for Kinesis: talk HTTP/1.1 with
 * keep-alive to it instead.
 */
export function localKinesisRequestHandler(): NodeHttpHandler {
  return new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }) });
}

export interface AwsEndpoints {
  region: string;
  /** Unset in AWS: the SDK picks the regional endpoint (or AWS_ENDPOINT_URL). */
  dynamodb?: string;
  kinesis?: string;
  /** The API's `@connections` endpoint: https://{apiId}.execute-api.{region}.amazonaws.com/{stage}. */
  connections?: string;
  /** True for engines on this machine: static credentials and HTTP/1.1 for Kinesis. */
  local?: boolean;
}

export interface AwsClients {
  dynamodb: DynamoDBDocumentClient;
  kinesis: KinesisClient;
  connections: ApiGatewayManagementApiClient;
  destroy(): void;
}

export function createAwsClients(endpoints: AwsEndpoints): AwsClients {
  const common = {
    region: endpoints.region,
    ...(endpoints.local ? { credentials: LOCAL_CREDENTIALS } : {}),
  };
  const dynamodbBase = new DynamoDBClient({
    ...common,
    ...(endpoints.dynamodb ? { endpoint: endpoints.dynamodb } : {}),
    ...(endpoints.local
      ? {
          requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }) }),
          // An engine on this machine has no account-based endpoint; resolving one for every
          // request costs about 0.15 ms of CPU (a tenth of the SDK's own work per call).
          accountIdEndpointMode: 'disabled' as const,
        }
      : {}),
  });
  const dynamodb = DynamoDBDocumentClient.from(dynamodbBase, {
    marshallOptions: { removeUndefinedValues: true },
  });
  const kinesis = new KinesisClient({
    ...common,
    ...(endpoints.kinesis ? { endpoint: endpoints.kinesis } : {}),
    ...(endpoints.local ? { requestHandler: localKinesisRequestHandler() } : {}),
  });
  const connections = new ApiGatewayManagementApiClient({
    ...common,
    ...(endpoints.connections ? { endpoint: endpoints.connections } : {}),
    ...(endpoints.local
      ? { requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }) }) }
      : {}),
  });
  return {
    dynamodb,
    kinesis,
    connections,
    destroy() {
      dynamodbBase.destroy();
      kinesis.destroy();
      connections.destroy();
    },
  };
}
