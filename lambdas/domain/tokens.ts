/**
 * Verifies the JWT a client connects with. Locally: HS256 with a shared secret. In AWS:
 * HS256 with a key kept in Secrets Manager, or an identity provider's JWKS URL, with the
 * issuer and audience it must name (docs/adr/0014-token-policy.md).
 */

import { userIdSchema } from '@parley/protocol';
import { createRemoteJWKSet, errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify, SignJWT } from 'jose';
import { InvalidTokenError, TokenKeysUnavailableError } from './errors.js';

export interface TokenSettings {
  /** HS256 shared secret. */
  secret?: string;
  /**
   * Reads the HS256 secret from where it is kept (Secrets Manager in AWS): at the first
   * verification, then again once it is `secretMaxAgeMs` old, so a key put by hand is
   * taken up within that time without a redeploy.
   */
  loadSecret?: () => Promise<string>;
  /** Default 5 minutes. */
  secretMaxAgeMs?: number;
  /** Public keys for RS256/ES256 tokens from an identity provider. */
  jwksUrl?: string;
  /** How long one fetch of the JWKS may take; jose's default, 5 s, when unset. */
  jwksTimeoutMs?: number;
  issuer?: string;
  audience?: string;
  /**
   * The longest a token may be used: one whose lifetime (`exp - iat`) is longer is refused,
   * and so is one issued (`iat`) longer ago. Default `DEFAULT_MAX_TOKEN_AGE_SECONDS`.
   */
  maxTokenAgeSeconds?: number;
}

export type TokenVerifier = (token: string) => Promise<{ userId: string }>;

const DEFAULT_SECRET_MAX_AGE_MS = 5 * 60 * 1000;
/** A day: a token lives at most this long, whatever its `exp` says. */
export const DEFAULT_MAX_TOKEN_AGE_SECONDS = 24 * 60 * 60;
/** How far the issuer's clock and ours may disagree, for exp, nbf and iat alike. */
export const CLOCK_TOLERANCE_SECONDS = 30;
/** What `mintToken` gives a token when not told: well within the maximum age. */
const DEFAULT_MINTED_LIFETIME = '1h';

/** The HS256 key from `loadSecret`, read once and again when it is too old; a failed read is retried at the next call. */
function cachedSecret(
  loadSecret: () => Promise<string>,
  maxAgeMs: number,
  now: () => number,
): () => Promise<Uint8Array> {
  let cached: { key: Promise<Uint8Array>; readAt: number } | undefined;
  return () => {
    if (!cached || now() - cached.readAt >= maxAgeMs) {
      const key = loadSecret().then((secret) => {
        if (!secret) throw new Error('the token signing key is empty');
        return new TextEncoder().encode(secret);
      });
      const entry = { key, readAt: now() };
      cached = entry;
      key.catch(() => {
        if (cached === entry) cached = undefined;
      });
    }
    return cached.key;
  };
}

/**
 * Whether an error of the remote key set means the set could not be fetched, rather than
 * that the token names no key of it. jose's remote set throws `JWKSTimeout` when the URL
 * does not answer in time, `JWKSInvalid` when it answers something that is not a key set,
 * a plain `JOSEError` (code `ERR_JOSE_GENERIC`) for an answer other than 200 OK or one
 * that is not JSON, and fetch's own `TypeError` when the URL cannot be reached at all.
 * `JWKSNoMatchingKey` (after a fetch that worked) and `JWKSMultipleMatchingKeys` are the
 * token's fault: a kid that the issuer never published, or none where one is needed.
 */
function isKeySetOutage(error: unknown): boolean {
  if (!(error instanceof errors.JOSEError)) return true;
  return (
    error instanceof errors.JWKSTimeout ||
    error instanceof errors.JWKSInvalid ||
    error.code === errors.JOSEError.code
  );
}

/** The remote key set, with its fetch failures told apart from the token's own. */
function remoteKeySet(url: string, timeoutMs: number | undefined): JWTVerifyGetKey {
  const jwks = createRemoteJWKSet(
    new URL(url),
    timeoutMs === undefined ? {} : { timeoutDuration: timeoutMs },
  );
  return async (protectedHeader, token) => {
    try {
      return await jwks(protectedHeader, token);
    } catch (error) {
      if (!isKeySetOutage(error)) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      throw new TokenKeysUnavailableError(`the JWKS at ${url} could not be read: ${reason}`, {
        cause: error,
      });
    }
  };
}

export function createTokenVerifier(settings: TokenSettings, now: () => number = Date.now): TokenVerifier {
  let key: () => Promise<Uint8Array | JWTVerifyGetKey>;
  let algorithms: string[];
  if (settings.jwksUrl) {
    const jwks = remoteKeySet(settings.jwksUrl, settings.jwksTimeoutMs);
    key = async () => jwks;
    algorithms = ['RS256', 'ES256', 'PS256', 'EdDSA'];
  } else if (settings.secret) {
    const secret = new TextEncoder().encode(settings.secret);
    key = async () => secret;
    algorithms = ['HS256'];
  } else if (settings.loadSecret) {
    key = cachedSecret(settings.loadSecret, settings.secretMaxAgeMs ?? DEFAULT_SECRET_MAX_AGE_MS, now);
    algorithms = ['HS256'];
  } else {
    throw new Error('token settings need a secret, a way to load one, or a JWKS URL');
  }
  const maxTokenAge = settings.maxTokenAgeSeconds ?? DEFAULT_MAX_TOKEN_AGE_SECONDS;
  return async (token) => {
    // A key that cannot be read is our failure, not the client's: it must not pass for an invalid token.
    const verificationKey = await key();
    try {
      // A token without exp would open connections for ever; maxTokenAge makes jose require
      // iat too, so a token that does not say when it was issued is refused.
      const { payload } = await jwtVerify(token, verificationKey as Uint8Array, {
        algorithms,
        requiredClaims: ['exp', 'sub'],
        maxTokenAge,
        // An issuer's clock a little ahead of ours would otherwise make a fresh token's iat "in the future".
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        ...(settings.issuer ? { issuer: settings.issuer } : {}),
        ...(settings.audience ? { audience: settings.audience } : {}),
      });
      assertLifetimeWithin(payload, maxTokenAge);
      const userId = userIdSchema.safeParse(payload.sub);
      if (!userId.success) throw new InvalidTokenError('sub: must be a user id');
      return { userId: userId.data };
    } catch (error) {
      if (error instanceof InvalidTokenError || error instanceof TokenKeysUnavailableError) throw error;
      throw new InvalidTokenError(error instanceof Error ? error.message : 'invalid token', { cause: error });
    }
  };
}

/**
 * jose's `maxTokenAge` bounds how long ago a token was issued, not how long its issuer let
 * it live: a fresh token good for a year would pass it today, so its lifetime is bounded too.
 */
function assertLifetimeWithin(payload: JWTPayload, maxTokenAge: number): void {
  const lifetime = (payload.exp ?? 0) - (payload.iat ?? 0);
  if (lifetime > maxTokenAge) {
    throw new InvalidTokenError(`exp: the token lives ${lifetime} s, more than the ${maxTokenAge} s allowed`);
  }
}

/** Mints an HS256 token for a user, as the local stack and the tests do; it expires in an hour unless told. */
export async function mintToken(
  userId: string,
  secret: string,
  options: { expiresIn?: string | number; issuer?: string; audience?: string } = {},
): Promise<string> {
  let jwt = new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? DEFAULT_MINTED_LIFETIME);
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
