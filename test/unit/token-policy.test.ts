import { SignJWT } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import { InvalidTokenError } from '../../lambdas/domain/errors.js';
import {
  CLOCK_TOLERANCE_SECONDS,
  createTokenVerifier,
  DEFAULT_MAX_TOKEN_AGE_SECONDS,
  mintToken,
} from '../../lambdas/domain/tokens.js';
import { createAuthorizerHandler } from '../../lambdas/handlers/authorizer.js';
import {
  authorizerEvent,
  createTestDeps,
  lambdaContext,
  TEST_SECRET,
  testConfig,
} from './support/harness.js';

const nowSeconds = () => Math.floor(Date.now() / 1000);
const HOUR = 60 * 60;

/** A token with exactly the claims given: no defaults, so each rule can be tried alone. */
function tokenWith(claims: { sub?: string; iat?: number; exp?: number }): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(TEST_SECRET));
}

describe('the token policy', () => {
  const verify = createTokenVerifier({ secret: TEST_SECRET });

  it('allows a token issued now that lives exactly the maximum age', async () => {
    const iat = nowSeconds();
    const token = await tokenWith({ sub: 'alice', iat, exp: iat + DEFAULT_MAX_TOKEN_AGE_SECONDS });

    await expect(verify(token)).resolves.toEqual({ userId: 'alice' });
  });

  it.each([
    ['without exp', () => ({ sub: 'alice', iat: nowSeconds() }), /"exp" claim/],
    ['without sub', () => ({ iat: nowSeconds(), exp: nowSeconds() + HOUR }), /"sub" claim/],
    ['without iat', () => ({ sub: 'alice', exp: nowSeconds() + HOUR }), /"iat" claim/],
    [
      'that lives a second longer than the maximum age',
      () => ({ sub: 'alice', iat: nowSeconds(), exp: nowSeconds() + DEFAULT_MAX_TOKEN_AGE_SECONDS + 1 }),
      /^exp: the token lives 86401 s, more than the 86400 s allowed$/,
    ],
    [
      'issued longer ago than the maximum age, though not expired',
      () => ({
        sub: 'alice',
        iat: nowSeconds() - DEFAULT_MAX_TOKEN_AGE_SECONDS - HOUR,
        exp: nowSeconds() + HOUR,
      }),
      /"iat" claim timestamp check failed \(too far in the past\)|lives/,
    ],
    [
      'issued in the future, past the clock tolerance',
      () => ({ sub: 'alice', iat: nowSeconds() + CLOCK_TOLERANCE_SECONDS + 60, exp: nowSeconds() + HOUR }),
      /"iat" claim timestamp check failed \(it should be in the past\)/,
    ],
  ])('refuses a token %s', async (_case, claims, reason) => {
    const refusal = verify(await tokenWith(claims()));

    await expect(refusal).rejects.toThrow(InvalidTokenError);
    await expect(refusal).rejects.toThrow(reason);
  });

  it('takes a shorter maximum age from its settings', async () => {
    const short = createTokenVerifier({ secret: TEST_SECRET, maxTokenAgeSeconds: HOUR });
    const iat = nowSeconds();

    await expect(short(await tokenWith({ sub: 'alice', iat, exp: iat + HOUR }))).resolves.toEqual({
      userId: 'alice',
    });
    await expect(short(await tokenWith({ sub: 'alice', iat, exp: iat + HOUR + 1 }))).rejects.toThrow(
      'more than the 3600 s allowed',
    );
  });

  it('tolerates an issuer whose clock is a few seconds ahead', async () => {
    const iat = nowSeconds() + 5;

    await expect(verify(await tokenWith({ sub: 'alice', iat, exp: iat + HOUR }))).resolves.toEqual({
      userId: 'alice',
    });
  });

  it('mints tokens with an expiry by default, which the verifier accepts', async () => {
    const token = await mintToken('alice', TEST_SECRET);
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as {
      iat: number;
      exp: number;
    };

    expect(payload.exp - payload.iat).toBe(HOUR);
    await expect(verify(token)).resolves.toEqual({ userId: 'alice' });
  });
});

describe('the $connect authorizer with allowed origins', () => {
  const config = testConfig({
    tokens: { secret: TEST_SECRET, allowedOrigins: ['https://app.parley.example'] },
  });
  const handshakeFrom = async (origin: string | undefined, headerName = 'Origin') => {
    const event = authorizerEvent(await mintToken('alice', TEST_SECRET));
    if (origin !== undefined) event.headers = { ...event.headers, [headerName]: origin };
    return event;
  };

  it('allows a handshake from an allowed origin, whatever the case of the header name', async () => {
    const { provider } = createTestDeps({ config });

    for (const name of ['Origin', 'origin']) {
      const result = await createAuthorizerHandler(provider)(
        await handshakeFrom('https://app.parley.example', name),
        lambdaContext,
      );
      expect(result.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow' });
    }
  });

  it('allows a handshake without an Origin, as native clients make', async () => {
    const { provider } = createTestDeps({ config });

    const result = await createAuthorizerHandler(provider)(await handshakeFrom(undefined), lambdaContext);

    expect(result.principalId).toBe('alice');
    expect(result.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow' });
  });

  it('denies a handshake from another origin, which API Gateway answers with 403, and logs why', async () => {
    const { provider, deps } = createTestDeps({ config });
    const info = vi.spyOn(deps.logger, 'info');

    const result = await createAuthorizerHandler(provider)(
      await handshakeFrom('https://evil.example'),
      lambdaContext,
    );

    expect(result.policyDocument.Statement).toEqual([
      {
        Action: 'execute-api:Invoke',
        Effect: 'Deny',
        Resource: 'arn:aws:execute-api:us-east-1:123456789012:abc123defg/prod/$connect',
      },
    ]);
    expect(result.context).toBeUndefined();
    expect(info).toHaveBeenCalledWith('handshake refused: its Origin is not allowed', {
      connectionId: expect.any(String),
      origin: 'https://evil.example',
    });
  });

  it('allows any origin when none is configured', async () => {
    const { provider } = createTestDeps();

    const result = await createAuthorizerHandler(provider)(
      await handshakeFrom('https://evil.example'),
      lambdaContext,
    );

    expect(result.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow' });
  });
});
