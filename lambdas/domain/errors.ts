/**
 * The server's one error hierarchy, and the one place where errors become protocol error
 * codes. Every error the server throws on purpose is a `ParleyError`: it is named after its
 * class and keeps its `cause`. Those a client is answered with carry their protocol code
 * (`ProtocolError`); the others are the server's own failures, answered `internal` like any
 * unexpected error.
 */
import type { ErrorCode, ErrorFrame } from '@parley/protocol';
import { errorFrame } from '@parley/protocol';

export class ParleyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An error with the protocol code the client is answered with. */
export abstract class ProtocolError extends ParleyError {
  abstract readonly code: ErrorCode;
}

/** The frame is not valid: not JSON, unknown action, a field missing, of the wrong type or out of range. */
export class BadRequestError extends ProtocolError {
  readonly code = 'bad_request';
}

/** The caller is not a member of the conversation it names. */
export class ForbiddenError extends ProtocolError {
  readonly code = 'forbidden';
}

/** The caller is over one of its per-user limits (docs/adr/0012-per-user-limits.md); the client retries later. */
export class RateLimitedError extends ProtocolError {
  readonly code = 'rate_limited';
}

/** Other senders kept taking the next seq until the retry bound ran out; the client retries. */
export class SequencingContentionError extends ProtocolError {
  readonly code = 'internal';
}

/** A setting is missing or wrong: the function was deployed or started without what it needs. */
export class ConfigurationError extends ParleyError {}

/** A post of an event to a connection failed (not for being gone): the stream retries the record. */
export class DeliveryFailedError extends ParleyError {}

/** The token is not one the server accepts: the connection is refused with 401. */
export class InvalidTokenError extends ParleyError {}

/**
 * The keys that verify tokens could not be read (the JWKS URL failed or answered no key
 * set): our outage, not the client's bad token, so it must never be answered with 401.
 */
export class TokenKeysUnavailableError extends ParleyError {}

/** Other writes to a user's conversation list kept coming first until the retry bound ran out. */
export class ConversationListContentionError extends ParleyError {}

/** Writes to the index of a group's connections stayed unprocessed (throttled) past the retry bound. */
export class GroupConnectionIndexError extends ParleyError {}

/** An erasure step could not finish; running the erasure again takes it up where it stopped. */
export class ErasureIncompleteError extends ParleyError {}

/** A post that did not end within its timeout; a failed post like any other. */
export class PostTimeoutError extends ParleyError {
  constructor(connectionId: string, timeoutMs: number, options?: { cause?: unknown }) {
    super(`post to ${connectionId} took more than ${timeoutMs} ms`, options);
  }
}

export const INTERNAL_ERROR_MESSAGE = 'the server failed; retry the same frame';

/**
 * Maps any error to the protocol's error frame. Errors with a protocol code keep their
 * message; anything else is `internal`, with no detail leaked to the client.
 */
export function toErrorFrame(error: unknown, requestId: string | null): ErrorFrame {
  if (error instanceof ProtocolError && error.code !== 'internal') {
    return errorFrame(error.code, error.message, requestId);
  }
  return errorFrame('internal', INTERNAL_ERROR_MESSAGE, requestId);
}
