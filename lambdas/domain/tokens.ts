/**
 * Verifies the JWT a client connects with. Locally: HS256 with a shared secret. In AWS:
 * a shared secret or a JWKS URL, with an optional issuer and audience.
 */
import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify, SignJWT } from 'jose';
import { userIdSchema } from './protocol.js';

export interface TokenSettings {
  /** HS256 shared secret. */
  secret?: string;
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

export function createTokenVerifier(settings: TokenSettings): TokenVerifier {
  let key: Uint8Array | JWTVerifyGetKey;
  let algorithms: string[];
  if (settings.jwksUrl) {
    key = createRemoteJWKSet(new URL(settings.jwksUrl));
    algorithms = ['RS256', 'ES256', 'PS256', 'EdDSA'];
  } else if (settings.secret) {
    key = new TextEncoder().encode(settings.secret);
    algorithms = ['HS256'];
  } else {
    throw new Error('token settings need a secret or a JWKS URL');
  }
  return async (token) => {
    try {
      const { payload } = await jwtVerify(token, key as Uint8Array, {
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
