import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, errors, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MetricName } from '../../definitions/metrics.js';
import { TokenKeysUnavailableError } from '../../lambdas/domain/errors.js';
import { createTokenVerifier } from '../../lambdas/domain/tokens.js';
import { createAuthorizerHandler } from '../../lambdas/handlers/authorizer.js';
import { authorizerEvent, createTestDeps, lambdaContext, testConfig } from './support/harness.js';

const ISSUER = 'https://id.parley.example/';
const AUDIENCE = 'parley';
const KID = 'key-1';

type Answer = (response: ServerResponse) => void;

/** An identity provider's JWKS endpoint, whose answer each test sets. */
let server: Server;
let jwksUrl: string;
let published: JWK;
let signingKey: CryptoKey;
const answerTheKeySet: Answer = (response) => {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ keys: [published] }));
};
let answer = answerTheKeySet;

async function listen(target: Server): Promise<string> {
  target.listen(0, '127.0.0.1');
  await once(target, 'listening');
  return `http://127.0.0.1:${(target.address() as AddressInfo).port}/.well-known/jwks.json`;
}

async function close(target: Server): Promise<void> {
  if (!target.listening) return;
  target.closeAllConnections();
  target.close();
  await once(target, 'close');
}

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  signingKey = pair.privateKey;
  published = { ...(await exportJWK(pair.publicKey)), kid: KID, alg: 'ES256', use: 'sig' };
  server = createServer((_request, response) => answer(response));
  jwksUrl = await listen(server);
});

afterAll(() => close(server));

afterEach(() => {
  answer = answerTheKeySet;
});

async function tokenOf(
  userId: string,
  options: { key?: CryptoKey; kid?: string; expiresIn?: string | number; audience?: string } = {},
) {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: options.kid ?? KID })
    .setSubject(userId)
    .setIssuer(ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '5m')
    .sign(options.key ?? signingKey);
}

function authorizerWith(url = jwksUrl) {
  const { provider, deps, metrics } = createTestDeps({
    config: testConfig({ tokens: { jwksUrl: url, issuer: ISSUER, audience: AUDIENCE } }),
  });
  const logged = vi.spyOn(deps.logger, 'error');
  const flushed = vi.spyOn(deps.metrics, 'flush');
  return { authorize: createAuthorizerHandler(provider), metrics, logged, flushed };
}

describe('the $connect authorizer with an identity provider’s JWKS', () => {
  it('lets in a token signed by a key the JWKS publishes', async () => {
    const { authorize, metrics } = authorizerWith();

    await expect(authorize(authorizerEvent(await tokenOf('alice')), lambdaContext)).resolves.toMatchObject({
      principalId: 'alice',
    });
    expect(metrics.sum(MetricName.TokenKeysUnavailable)).toBe(0);
  });

  it.each([
    [
      'signed by another key under the published kid',
      async () => tokenOf('mallory', { key: await otherKey() }),
    ],
    [
      'signed by a key the JWKS does not publish',
      async () => tokenOf('mallory', { key: await otherKey(), kid: 'key-2' }),
    ],
    ['expired', async () => tokenOf('alice', { expiresIn: Math.floor(Date.now() / 1000) - 60 })],
    ['for another audience', async () => tokenOf('alice', { audience: 'someone-else' })],
  ])('refuses a token %s with Unauthorized, and records no outage', async (_case, token) => {
    const { authorize, metrics, logged } = authorizerWith();

    await expect(authorize(authorizerEvent(await token()), lambdaContext)).rejects.toThrowError(
      /^Unauthorized$/,
    );
    expect(metrics.sum(MetricName.TokenKeysUnavailable)).toBe(0);
    expect(logged).not.toHaveBeenCalled();
  });

  it.each<[string, Answer]>([
    [
      'answers 500',
      (response) => {
        response.writeHead(500);
        response.end('internal error');
      },
    ],
    [
      'answers something that is not JSON',
      (response) => {
        response.writeHead(200, { 'content-type': 'text/html' });
        response.end('<html>maintenance</html>');
      },
    ],
    [
      'answers JSON that is not a key set',
      (response) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ keys: 'none today' }));
      },
    ],
    ['drops the connection', (response) => response.socket?.destroy()],
  ])('fails loudly, not with Unauthorized, when the JWKS URL %s', async (_case, failure) => {
    answer = failure;
    const { authorize, metrics, logged, flushed } = authorizerWith();

    const error = await authorize(authorizerEvent(await tokenOf('alice')), lambdaContext).catch(
      (caught: unknown) => caught,
    );

    expect(error).toBeInstanceOf(TokenKeysUnavailableError);
    expect((error as Error).message).not.toBe('Unauthorized');
    expect(metrics.sum(MetricName.TokenKeysUnavailable)).toBe(1);
    expect(flushed).toHaveBeenCalled();
    expect(logged).toHaveBeenCalledWith(expect.stringContaining('could not verify a token'), {
      error,
    });
  });

  it('fails loudly when nothing listens at the JWKS URL', async () => {
    const gone = createServer();
    const url = await listen(gone);
    await close(gone);
    const { authorize, metrics } = authorizerWith(url);

    await expect(authorize(authorizerEvent(await tokenOf('alice')), lambdaContext)).rejects.toMatchObject({
      name: 'TokenKeysUnavailableError',
      cause: expect.any(TypeError),
    });
    expect(metrics.sum(MetricName.TokenKeysUnavailable)).toBe(1);
  });

  it('fails loudly when the JWKS URL takes the request and does not answer in time', async () => {
    answer = () => {};
    const verify = createTokenVerifier({ jwksUrl, jwksTimeoutMs: 20, issuer: ISSUER, audience: AUDIENCE });

    await expect(verify(await tokenOf('alice'))).rejects.toMatchObject({
      name: 'TokenKeysUnavailableError',
      cause: expect.any(errors.JWKSTimeout),
    });
  });

  it('lets tokens in again once the JWKS URL answers again', async () => {
    answer = (response) => {
      response.writeHead(503);
      response.end();
    };
    const { authorize } = authorizerWith();
    await expect(authorize(authorizerEvent(await tokenOf('alice')), lambdaContext)).rejects.toBeInstanceOf(
      TokenKeysUnavailableError,
    );

    answer = answerTheKeySet;

    await expect(authorize(authorizerEvent(await tokenOf('alice')), lambdaContext)).resolves.toMatchObject({
      principalId: 'alice',
    });
  });
});

async function otherKey(): Promise<CryptoKey> {
  return (await generateKeyPair('ES256')).privateKey;
}
