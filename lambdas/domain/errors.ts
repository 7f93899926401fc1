/**
 * The typed errors of the domain, and the one place where they become protocol error codes.
 */
import type { ErrorCode, ErrorFrame } from '@parley/protocol';
import { errorFrame } from '@parley/protocol';

export abstract class ParleyError extends Error {
  abstract readonly code: ErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The frame is not valid: not JSON, unknown action, a field missing, of the wrong type or out of range. */
export class BadRequestError extends ParleyError {
  readonly code = 'bad_request';
}

/** The caller is not a member of the conversation it names. */
export class ForbiddenError extends ParleyError {
  readonly code = 'forbidden';
}

export class TooLargeError extends ParleyError {
  readonly code = 'too_large';
}

export class RateLimitedError extends ParleyError {
  readonly code = 'rate_limited';
}

/** Other senders kept taking the next seq until the retry bound ran out; the client retries. */
export class SequencingContentionError extends ParleyError {
  readonly code = 'internal';
}

export const INTERNAL_ERROR_MESSAGE = 'the server failed; retry the same frame';

/**
 * Maps any error to the protocol's error frame. Errors of our own hierarchy keep their
 * message; anything else is `internal`, with no detail leaked to the client.
 */
export function toErrorFrame(error: unknown, requestId: string | null): ErrorFrame {
  if (error instanceof ParleyError && error.code !== 'internal') {
    return errorFrame(error.code, error.message, requestId);
  }
  return errorFrame('internal', INTERNAL_ERROR_MESSAGE, requestId);
}
