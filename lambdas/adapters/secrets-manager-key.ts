/**
 * Reads the token signing key from Secrets Manager: the `SecretString` of the secret the
 * CDK stack names in `PARLEY_JWT_SECRET_ARN`. The verifier decides when to read it again.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/** The region of a secret, from its ARN (`arn:aws:secretsmanager:{region}:…`). */
function regionOfSecret(secretArn: string): string | undefined {
  return secretArn.split(':')[3] || undefined;
}

export function secretStringLoader(client: SecretsManagerClient, secretArn: string): () => Promise<string> {
  return async () => {
    const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: secretArn }));
    if (!SecretString) throw new Error(`the secret ${secretArn} holds no SecretString`);
    return SecretString;
  };
}

export function createSecretsManagerClient(secretArn: string, fallbackRegion: string): SecretsManagerClient {
  return new SecretsManagerClient({ region: regionOfSecret(secretArn) ?? fallbackRegion });
}
