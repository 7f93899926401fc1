/**
 * Who a client acts for: the user named by its token, on one device.
 */
import { userIdSchema } from '@parley/protocol';
import { decodeJwt } from 'jose';

/**
 * Who the client acts for. The user is known once the token is read, so the parts read
 * it from this one object rather than keeping a copy.
 */
export interface Identity {
  userId: string;
  readonly deviceId: string;
}

/** A new id for a message: a UUID where the platform has one. */
export function newClientMessageId(): string {
  const crypto = globalThis.crypto;
  if (crypto?.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** The user id a token is for (its `sub`), read without verifying: the server verifies. */
export function userIdOfToken(token: string): string {
  let sub: unknown;
  try {
    sub = decodeJwt(token).sub;
  } catch (error) {
    throw new TypeError('token: not a JWT', { cause: error });
  }
  if (typeof sub !== 'string' || !userIdSchema.safeParse(sub).success) {
    throw new TypeError('token: its sub claim must be a user id');
  }
  return sub;
}
