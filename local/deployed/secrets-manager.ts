/**
 * A stand-in for AWS Secrets Manager that answers `GetSecretValue` (AWS JSON 1.1 over
 * HTTP, as the SDK's client speaks it) for the secrets the template declares. The
 * authorizer's bundle reads its signing key through it exactly as it does in AWS.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LocalSecret {
  arn: string;
  name: string;
  value: string;
}

export interface RunningSecretsManager {
  endpoint: string;
  stop(): Promise<void>;
}

const JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';

export async function startSecretsManager(secrets: readonly LocalSecret[]): Promise<RunningSecretsManager> {
  const server = createServer((request, response) => {
    void answer(request, response, secrets);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function answer(request: IncomingMessage, response: ServerResponse, secrets: readonly LocalSecret[]) {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const reply = (status: number, body: unknown) => {
    response.writeHead(status, { 'Content-Type': JSON_CONTENT_TYPE });
    response.end(JSON.stringify(body));
  };
  const target = request.headers['x-amz-target'];
  if (target !== 'secretsmanager.GetSecretValue') {
    return reply(400, {
      __type: 'InvalidRequestException',
      message: `the local Secrets Manager answers GetSecretValue only, not ${String(target)}`,
    });
  }
  let secretId: unknown;
  try {
    secretId = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { SecretId?: unknown }).SecretId;
  } catch {
    return reply(400, { __type: 'SerializationException', message: 'the request body is not JSON' });
  }
  const secret = secrets.find(({ arn, name }) => secretId === arn || secretId === name);
  if (!secret) {
    return reply(400, {
      __type: 'ResourceNotFoundException',
      message: "Secrets Manager can't find the specified secret.",
    });
  }
  return reply(200, {
    ARN: secret.arn,
    Name: secret.name,
    SecretString: secret.value,
    VersionId: '00000000-0000-0000-0000-000000000001',
    VersionStages: ['AWSCURRENT'],
    CreatedDate: 0,
  });
}
