import { describe, expect, it, vi } from 'vitest';
import { InvalidTokenError } from '../../lambdas/domain/errors.js';
import { createTokenVerifier, mintToken } from '../../lambdas/domain/tokens.js';

describe('a token verifier whose key is kept in Secrets Manager', () => {
  it('reads the key at the first verification and not again while it is fresh', async () => {
    const loadSecret = vi.fn(async () => 'key-one');
    let now = 0;
    const verify = createTokenVerifier({ loadSecret, secretMaxAgeMs: 60_000 }, () => now);
    expect(loadSecret).not.toHaveBeenCalled();

    await expect(verify(await mintToken('alice', 'key-one'))).resolves.toEqual({ userId: 'alice' });
    now = 59_999;
    await expect(verify(await mintToken('bob', 'key-one'))).resolves.toEqual({ userId: 'bob' });
    expect(loadSecret).toHaveBeenCalledTimes(1);
  });

  it('takes up a key put by hand once the cached one is old', async () => {
    let secret = 'key-one';
    let now = 0;
    const verify = createTokenVerifier({ loadSecret: async () => secret, secretMaxAgeMs: 60_000 }, () => now);
    await verify(await mintToken('alice', 'key-one'));

    secret = 'key-two';
    const signedWithNewKey = await mintToken('alice', 'key-two');
    await expect(verify(signedWithNewKey)).rejects.toThrow(InvalidTokenError);
    now = 60_000;
    await expect(verify(signedWithNewKey)).resolves.toEqual({ userId: 'alice' });
    await expect(verify(await mintToken('alice', 'key-one'))).rejects.toThrow(InvalidTokenError);
  });

  it('fails as a server error, not as a refused token, when the key cannot be read, and reads again next time', async () => {
    const loadSecret = vi
      .fn<() => Promise<string>>()
      .mockRejectedValueOnce(
        Object.assign(new Error('AccessDeniedException'), { name: 'AccessDeniedException' }),
      )
      .mockResolvedValue('key-one');
    const verify = createTokenVerifier({ loadSecret });
    const token = await mintToken('alice', 'key-one');

    const failure = await verify(token).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(InvalidTokenError);
    expect((failure as Error).name).toBe('AccessDeniedException');

    await expect(verify(token)).resolves.toEqual({ userId: 'alice' });
    expect(loadSecret).toHaveBeenCalledTimes(2);
  });

  it('refuses to work with an empty key', async () => {
    const verify = createTokenVerifier({ loadSecret: async () => '' });
    await expect(verify(await mintToken('alice', 'x'))).rejects.toThrow('the token signing key is empty');
  });

  it('needs a secret, a loader or a JWKS URL', () => {
    expect(() => createTokenVerifier({})).toThrow(
      'token settings need a secret, a way to load one, or a JWKS URL',
    );
  });
});
