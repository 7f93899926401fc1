/**
 * Checks a push request's VAPID authorization (RFC 8292) as a push service does: the
 * `vapid t=…, k=…` scheme, an ES256 JWT signed with the key `k`, for this push service's
 * origin, expiring within 24 hours, with a contact.
 */
import { decodeJwt, importJWK, jwtVerify } from 'jose';

/** RFC 8292 §2: `exp` MUST NOT be more than 24 hours from the time of the request. */
const MAX_EXPIRY_SECONDS = 24 * 60 * 60;

export type VapidCheck =
  | { ok: true; publicKey: string; subject: string }
  | { ok: false; status: 401 | 403; reason: string };

export interface VapidExpectations {
  /** The push service's origin: the JWT's `aud`. */
  audience: string;
  /** When set, `k` must be this key: the deployment's. */
  publicKey?: string;
  now: number;
}

export async function checkVapid(
  header: string | undefined,
  expected: VapidExpectations,
): Promise<VapidCheck> {
  if (!header) return { ok: false, status: 401, reason: 'no Authorization header (VAPID)' };
  const scheme = /^vapid\s+(.*)$/i.exec(header.trim());
  if (!scheme?.[1]) return { ok: false, status: 401, reason: 'Authorization is not of the vapid scheme' };
  const params = new Map(
    scheme[1].split(',').map((part) => {
      const [name = '', ...value] = part.trim().split('=');
      return [name.trim().toLowerCase(), value.join('=').trim()] as const;
    }),
  );
  const token = params.get('t');
  const key = params.get('k');
  if (!token || !key) return { ok: false, status: 401, reason: 'vapid needs both t= and k=' };
  if (expected.publicKey && key !== expected.publicKey) {
    return { ok: false, status: 403, reason: "k is not the deployment's VAPID public key" };
  }
  const point = Buffer.from(key, 'base64url');
  if (point.length !== 65 || point[0] !== 4) {
    return { ok: false, status: 403, reason: 'k is not an uncompressed P-256 public key' };
  }
  try {
    const publicKey = await importJWK(
      {
        kty: 'EC',
        crv: 'P-256',
        x: point.subarray(1, 33).toString('base64url'),
        y: point.subarray(33).toString('base64url'),
      },
      'ES256',
    );
    await jwtVerify(token, publicKey, {
      algorithms: ['ES256'],
      audience: expected.audience,
      currentDate: new Date(expected.now),
      requiredClaims: ['exp', 'sub'],
    });
  } catch (error) {
    return { ok: false, status: 403, reason: `the VAPID JWT: ${(error as Error).message}` };
  }
  const { exp, sub } = decodeJwt(token);
  if ((exp ?? 0) > Math.floor(expected.now / 1000) + MAX_EXPIRY_SECONDS) {
    return { ok: false, status: 403, reason: 'the VAPID JWT expires more than 24 hours ahead' };
  }
  if (typeof sub !== 'string' || !/^(mailto:|https:)/.test(sub)) {
    return { ok: false, status: 403, reason: 'the VAPID JWT sub must be a mailto: or https: URL' };
  }
  return { ok: true, publicKey: key, subject: sub };
}
