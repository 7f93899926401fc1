/**
 * The SDK's errors: one base class, so that an app can tell the client's errors from its
 * own, and below it `ParleyError` (a protocol error code, or one of the client's own) and
 * `OutboxFullError`. The protocol's codes come from `@parley/protocol`.
 */
import type { ErrorCode } from '@parley/protocol';

/**
 * The base of every error the SDK throws or reports: `name` is the subclass's, and `cause`
 * keeps the error that led to it.
 *
 * @example
 * try { await client.send({ to: 'bob' }, text); } catch (error) { if (error instanceof ParleySdkError) console.log(error.name); }
 */
export class ParleySdkError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    // Set by hand, since a minifier may rename classes.
    this.name = 'ParleySdkError';
  }
}

/** The codes the client gives itself, for requests that got no answer. */
export type ClientErrorCode = 'timeout' | 'connection_lost' | 'closed';

/**
 * The error codes of docs/protocol.md, plus the client's own.
 *
 * @example
 * client.on('error', (error) => error.code === ParleyErrorCode.Forbidden && alert(error.message));
 */
export enum ParleyErrorCode {
  BadRequest = 'bad_request',
  TooLarge = 'too_large',
  Forbidden = 'forbidden',
  RateLimited = 'rate_limited',
  Internal = 'internal',
  /** No answer within `requestTimeoutMs`. */
  Timeout = 'timeout',
  /** The connection closed before the answer came. */
  ConnectionLost = 'connection_lost',
  /** The client is closed. */
  Closed = 'closed',
}

/** Fails to compile when the protocol gains an error code that the enum lacks. */
type EveryCodeNamed = [ErrorCode | ClientErrorCode] extends [`${ParleyErrorCode}`] ? true : never;
const everyCodeNamed: EveryCodeNamed = true;
void everyCodeNamed;

/**
 * An error answer from the server, or a request the client gave up on.
 *
 * @example
 * try { await client.subscribePresence(['bob']); } catch (error) { if (error instanceof ParleyError) console.log(error.code); }
 */
export class ParleyError extends ParleySdkError {
  readonly code: ErrorCode | ClientErrorCode;
  constructor(code: ErrorCode | ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ParleyError';
    this.code = code;
  }
}

/**
 * Thrown by `send` when the outbox already holds its limit of unsent messages.
 *
 * @example
 * try { await client.send({ to: 'bob' }, text); } catch (error) { if (error instanceof OutboxFullError) showFull(); }
 */
export class OutboxFullError extends ParleySdkError {
  constructor(limit: number) {
    super(`the outbox is full: ${limit} messages are waiting to be sent`);
    this.name = 'OutboxFullError';
  }
}

/** The error as a `ParleyError`: an unexpected one becomes `internal`, keeping it as `cause`. */
export function toParleyError(error: unknown): ParleyError {
  if (error instanceof ParleyError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ParleyError(ParleyErrorCode.Internal, message, { cause: error });
}

/** The code of a `ParleyError`, undefined for any other error. */
export function codeOf(error: unknown): ParleyError['code'] | undefined {
  return error instanceof ParleyError ? error.code : undefined;
}

/** Errors after which the same frame will never succeed. */
export function isFinal(code: ParleyError['code'] | undefined): boolean {
  return code === 'bad_request' || code === 'forbidden' || code === 'too_large';
}

/**
 * The server failed or was busy (`internal`, `rate_limited`), or gave no answer in time:
 * the same request on the same connection may succeed after a backoff.
 */
export function isTransient(code: ParleyError['code'] | undefined): boolean {
  return (
    code === ParleyErrorCode.Internal ||
    code === ParleyErrorCode.RateLimited ||
    code === ParleyErrorCode.Timeout
  );
}

/** The connection went away (or the client closed): the next open takes the work up again. */
export function isDisconnect(code: ParleyError['code'] | undefined): boolean {
  return code === ParleyErrorCode.ConnectionLost || code === ParleyErrorCode.Closed;
}
