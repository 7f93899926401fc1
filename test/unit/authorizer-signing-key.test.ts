import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { configFromEnvironment } from '../../lambdas/config.js';
import { mintToken } from '../../lambdas/domain/tokens.js';
import { createAuthorizerHandler } from '../../lambdas/handlers/authorizer.js';
import { authorizerEvent, createTestDeps, lambdaContext, testConfig } from './support/harness.js';

const secrets = mockClient(SecretsManagerClient);
// The unit files share one module graph per worker: the next file gets the real client.
afterAll(() => secrets.restore());
afterEach(() => secrets.reset());

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:Parley-dev-TokenSigningKey-AbC123';
const KEY = 'a-key-only-secrets-manager-knows';

describe('the $connect authorizer with its key in Secrets Manager', () => {
  it('verifies tokens with the key the secret holds, reading it once', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves({ SecretString: KEY });
    const { provider } = createTestDeps({ config: testConfig({ tokens: { secretArn: SECRET_ARN } }) });
    const authorize = createAuthorizerHandler(provider);

    await expect(
      authorize(authorizerEvent(await mintToken('alice', KEY)), lambdaContext),
    ).resolves.toMatchObject({
      principalId: 'alice',
    });
    await expect(
      authorize(authorizerEvent(await mintToken('bob', KEY)), lambdaContext),
    ).resolves.toMatchObject({
      principalId: 'bob',
    });
    await expect(
      authorize(authorizerEvent(await mintToken('mallory', 'another-key')), lambdaContext),
    ).rejects.toThrowError(/^Unauthorized$/);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('fails with the read error, not Unauthorized, when the key cannot be read', async () => {
    secrets.on(GetSecretValueCommand).rejects(
      Object.assign(new Error('User is not authorized to perform GetSecretValue'), {
        name: 'AccessDeniedException',
      }),
    );
    const { provider } = createTestDeps({ config: testConfig({ tokens: { secretArn: SECRET_ARN } }) });

    await expect(
      createAuthorizerHandler(provider)(authorizerEvent(await mintToken('alice', KEY)), lambdaContext),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
  });

  it('is what the environment the stack sets asks for', () => {
    const config = configFromEnvironment('authorizer', { PARLEY_JWT_SECRET_ARN: SECRET_ARN });
    expect(config.tokens).toEqual({ secretArn: SECRET_ARN, maxTokenAgeSeconds: 24 * 60 * 60 });
  });

  it('refuses an environment that names no way to verify tokens, naming all three variables', () => {
    expect(() => configFromEnvironment('authorizer', {})).toThrow(
      'environment variables PARLEY_JWT_SECRET, PARLEY_JWT_SECRET_ARN and PARLEY_JWKS_URL: the authorizer function needs one of them to verify tokens',
    );
    expect(() => configFromEnvironment('authorizer', { PARLEY_JWT_SECRET_ARN: 'not-an-arn' })).toThrow(
      'environment variable PARLEY_JWT_SECRET_ARN: must be a Secrets Manager secret ARN',
    );
  });
});
