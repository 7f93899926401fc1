/**
 * The HS256 key a deployed stack signs tokens with, read from its Secrets Manager secret
 * (the stack's TokenSigningKeyArn output) with the caller's AWS credentials. Shared by
 * `npm run token` and `npm run web`.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

export class SigningKeyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SigningKeyError';
  }
}

export async function readSigningKey(secretArn: string): Promise<string> {
  // The secret's region is part of its ARN: arn:aws:secretsmanager:{region}:…
  const region = secretArn.split(':')[3];
  const client = new SecretsManagerClient(region ? { region } : {});
  let secretString: string | undefined;
  try {
    ({ SecretString: secretString } = await client.send(new GetSecretValueCommand({ SecretId: secretArn })));
  } catch (error) {
    throw new SigningKeyError(
      `could not read the secret ${secretArn}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  } finally {
    client.destroy();
  }
  if (!secretString) throw new SigningKeyError(`the secret ${secretArn} holds no string`);
  return secretString;
}
