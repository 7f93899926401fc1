/**
 * The error codes of the `error` answer, what each means for a client, and the helpers that
 * build that answer from a frame that may not even parse.
 */
import type { z } from 'zod';
import { requestIdSchema } from './ids.js';
import type { ErrorFrame } from './server-frames.js';

export const ERROR_CODES = ['bad_request', 'too_large', 'forbidden', 'rate_limited', 'internal'] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** When the server answers each code, and what a client does then. */
export const ERROR_MEANINGS: Record<ErrorCode, string> = {
  bad_request:
    'not JSON, not an object, unknown `action`, a field missing, of the wrong type or out of range; resending the same frame fails again',
  too_large:
    'reserved for what Parley itself refuses as too large; no action of this version answers it; a client treats it as final for that frame',
  forbidden: 'the caller is not a member of the conversation it names',
  rate_limited:
    'the caller is over one of its per-user limits (1.3; the message names it and says when to retry); nothing was done; a client retries the same frame after a backoff',
  internal: 'the server failed; the client may retry the same frame',
};

export function errorFrame(code: ErrorCode, message: string, requestId: string | null): ErrorFrame {
  return { type: 'error', requestId, code, message };
}

/** Formats the first zod issue as `field: what is wrong`. */
export function describeZodError(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid frame';
  const path = issue.path.join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

/**
 * Reads `requestId` from a frame that may be invalid, so that an error answer can echo it
 * when the frame had a readable one.
 */
export function readableRequestId(frame: unknown): string | null {
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) return null;
  const requestId = (frame as Record<string, unknown>).requestId;
  return requestIdSchema.safeParse(requestId).success ? (requestId as string) : null;
}

/** Best-effort `requestId` of raw frame text, for answers to frames that are not parsed whole. */
export function requestIdFromText(text: string): string | null {
  try {
    return readableRequestId(JSON.parse(text));
  } catch {
    const match = /"requestId"\s*:\s*"([^"\\]{1,64})"/.exec(text.slice(0, 4096));
    return match?.[1] ?? null;
  }
}
