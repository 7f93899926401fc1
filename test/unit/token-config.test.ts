import { describe, expect, it } from 'vitest';
import { configFromEnvironment } from '../../lambdas/config.js';
import { ConfigurationError } from '../../lambdas/domain/errors.js';
import { DEFAULT_MAX_TOKEN_AGE_SECONDS } from '../../lambdas/domain/tokens.js';

const JWKS = {
  PARLEY_JWKS_URL: 'https://id.parley.example/.well-known/jwks.json',
  PARLEY_JWT_ISSUER: 'https://id.parley.example/',
  PARLEY_JWT_AUDIENCE: 'parley-api',
};

const readAuthorizer = (environment: Record<string, string>) => () =>
  configFromEnvironment('authorizer', environment);

describe('the authorizer’s token settings', () => {
  it.each(['PARLEY_JWT_ISSUER', 'PARLEY_JWT_AUDIENCE'])(
    'refuse to start with a JWKS URL but no %s, naming it',
    (missing) => {
      const environment = Object.fromEntries(Object.entries(JWKS).filter(([name]) => name !== missing));

      expect(readAuthorizer(environment)).toThrow(ConfigurationError);
      expect(readAuthorizer(environment)).toThrow(
        `environment variable ${missing}: the authorizer function needs it with PARLEY_JWKS_URL`,
      );
    },
  );

  it('refuse a JWKS URL over plain http outside the local stack', () => {
    const environment = { ...JWKS, PARLEY_JWKS_URL: 'http://id.parley.example/jwks.json' };

    expect(readAuthorizer(environment)).toThrow(
      'environment variable PARLEY_JWKS_URL: must be an https:// URL (http is for the local stack only)',
    );
  });

  it('take a JWKS URL over plain http when the local stack says it runs them', () => {
    const environment = {
      ...JWKS,
      PARLEY_JWKS_URL: 'http://127.0.0.1:9999/jwks.json',
      PARLEY_LOCAL_STACK: 'true',
    };

    expect(configFromEnvironment('authorizer', environment).tokens?.jwksUrl).toBe(
      'http://127.0.0.1:9999/jwks.json',
    );
  });

  it('bound a token’s age by a day unless told otherwise', () => {
    expect(configFromEnvironment('authorizer', { PARLEY_JWT_SECRET: 's' }).tokens?.maxTokenAgeSeconds).toBe(
      DEFAULT_MAX_TOKEN_AGE_SECONDS,
    );
    expect(DEFAULT_MAX_TOKEN_AGE_SECONDS).toBe(24 * 60 * 60);
  });

  it('allow any Origin when PARLEY_ALLOWED_ORIGINS is empty', () => {
    const config = configFromEnvironment('authorizer', {
      PARLEY_JWT_SECRET: 's',
      PARLEY_ALLOWED_ORIGINS: '',
    });

    expect(config.tokens?.allowedOrigins).toBeUndefined();
  });

  it.each([
    ['PARLEY_MAX_TOKEN_AGE_SECONDS', '59'],
    ['PARLEY_MAX_TOKEN_AGE_SECONDS', 'a day'],
    ['PARLEY_MAX_TOKEN_AGE_SECONDS', String(31 * 24 * 60 * 60)],
    ['PARLEY_ALLOWED_ORIGINS', 'app.parley.example'],
    ['PARLEY_ALLOWED_ORIGINS', 'https://app.parley.example/chat'],
    ['PARLEY_LOCAL_STACK', 'yes'],
  ])('refuse %s=%j, naming the variable', (name, value) => {
    const read = readAuthorizer({ PARLEY_JWT_SECRET: 's', [name]: value });

    expect(read).toThrow(ConfigurationError);
    expect(read).toThrow(new RegExp(`^environment variable ${name}(\\.\\d+)?: `));
  });
});
