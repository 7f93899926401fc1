/**
 * Verifies the JWT a client connects with. Locally: HS256 with a shared secret. In AWS:
 * HS256 with a key kept in Secrets Manager, or an identity provider's JWKS URL, with an
 * optional issuer and audience.
 */
import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify, SignJWT } from 'jose';
import { userIdSchema } from './protocol.js';

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
  issuer?: string;
  audience?: string;
}

export class InvalidTokenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InvalidTokenError';
  }
}

export type TokenVerifier = (token: string) => Promise<{ userId: string }>;

const DEFAULT_SECRET_MAX_AGE_MS = 5 * 60 * 1000;

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

export function createTokenVerifier(settings: TokenSettings, now: () => number = Date.now): TokenVerifier {
  let key: () => Promise<Uint8Array | JWTVerifyGetKey>;
  let algorithms: string[];
  if (settings.jwksUrl) {
    const jwks = createRemoteJWKSet(new URL(settings.jwksUrl));
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
  return async (token) => {
    // A key that cannot be read is our failure, not the client's: it must not pass for an invalid token.
    const verificationKey = await key();
    try {
      const { payload } = await jwtVerify(token, verificationKey as Uint8Array, {
        algorithms,
        ...(settings.issuer ? { issuer: settings.issuer } : {}),
        ...(settings.audience ? { audience: settings.audience } : {}),
      });
      const userId = userIdSchema.safeParse(payload.sub);
      if (!userId.success) throw new InvalidTokenError('sub: must be a user id');
      return { userId: userId.data };
    } catch (error) {
      if (error instanceof InvalidTokenError) throw error;
      throw new InvalidTokenError(error instanceof Error ? error.message : 'invalid token', { cause: error });
    }
  };
}

/** Mints an HS256 token for a user, as the local stack and the tests do. */
export async function mintToken(
  userId: string,
  secret: string,
  options: { expiresIn?: string | number; issuer?: string; audience?: string } = {},
): Promise<string> {
  let jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(userId).setIssuedAt();
  if (options.expiresIn !== undefined) jwt = jwt.setExpirationTime(options.expiresIn);
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
