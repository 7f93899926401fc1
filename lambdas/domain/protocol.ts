/**
 * The wire protocol (PROTOCOL.md, version 1) as zod schemas and types: the one definition
 * that the server and the client SDK share.
 */
import { z } from 'zod';

export const PROTOCOL_VERSION = 1;
/** API Gateway's WebSocket frame limit. */
export const MAX_FRAME_BYTES = 32 * 1024;
export const MAX_BODY_CHARS = 4096;
export const SYNC_DEFAULT_LIMIT = 100;
export const SYNC_MAX_LIMIT = 200;

/** A type error that tells a missing field from a field of the wrong type. */
const typeError = (expected: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? 'is required' : `must be ${expected}`;

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const idRule = 'must be 1 to 64 characters of A-Z, a-z, 0-9, _ or -';

export const userIdSchema = z.string({ error: typeError('a string') }).regex(ID_PATTERN, idRule);
export const deviceIdSchema = userIdSchema;
export const clientMessageIdSchema = userIdSchema;
export const requestIdSchema = z
  .string({ error: 'must be a string' })
  .min(1, 'must be 1 to 64 characters')
  .max(64, 'must be 1 to 64 characters');
/** `dm:{x}:{y}`; membership and order of the two ids are checked by the domain. */
export const conversationIdSchema = z
  .string({ error: 'must be a string' })
  .min(1, 'must be a conversation id')
  .max(140, 'must be a conversation id of at most 140 characters');
const seqSchema = z
  .number({ error: typeError('a number') })
  .int('must be an integer')
  .min(0, 'must be 0 or more');

export const sendFrameSchema = z
  .strictObject(
    {
      action: z.literal('send'),
      requestId: requestIdSchema,
      to: userIdSchema.optional(),
      conversationId: conversationIdSchema.optional(),
      clientMessageId: clientMessageIdSchema,
      body: z
        .string({ error: 'must be a string' })
        .min(1, `must be 1 to ${MAX_BODY_CHARS} characters`)
        .max(MAX_BODY_CHARS, `must be 1 to ${MAX_BODY_CHARS} characters`),
    },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.join(', ')}` : undefined,
    },
  )
  .refine((frame) => (frame.to === undefined) !== (frame.conversationId === undefined), {
    message: 'exactly one of to or conversationId is required',
    path: ['to'],
  });

export const syncFrameSchema = z.strictObject(
  {
    action: z.literal('sync'),
    requestId: requestIdSchema,
    conversationId: conversationIdSchema,
    afterSeq: seqSchema,
    limit: z
      .number({ error: 'must be a number' })
      .int('must be an integer')
      .min(1, `must be 1 to ${SYNC_MAX_LIMIT}`)
      .max(SYNC_MAX_LIMIT, `must be 1 to ${SYNC_MAX_LIMIT}`)
      .default(SYNC_DEFAULT_LIMIT),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.join(', ')}` : undefined,
  },
);

export const pingFrameSchema = z.strictObject(
  { action: z.literal('ping'), requestId: requestIdSchema },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.join(', ')}` : undefined,
  },
);

export type SendFrame = z.infer<typeof sendFrameSchema>;
export type SyncFrame = z.infer<typeof syncFrameSchema>;
export type PingFrame = z.infer<typeof pingFrameSchema>;

/** The actions this server version routes; anything else goes to `$default`. */
export const ROUTED_ACTIONS = ['send', 'sync', 'ping'] as const;
export type RoutedAction = (typeof ROUTED_ACTIONS)[number];

// ---------------------------------------------------------------------------------------
// Server frames
// ---------------------------------------------------------------------------------------

export const ERROR_CODES = ['bad_request', 'too_large', 'forbidden', 'rate_limited', 'internal'] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface Message {
  conversationId: string;
  seq: number;
  messageId: string;
  clientMessageId: string;
  senderId: string;
  senderDeviceId: string;
  body: string;
  serverTs: number;
}

export interface ErrorFrame {
  type: 'error';
  requestId: string | null;
  code: ErrorCode;
  message: string;
}

export interface SentFrame {
  type: 'sent';
  requestId: string;
  conversationId: string;
  clientMessageId: string;
  seq: number;
  messageId: string;
  serverTs: number;
  duplicate: boolean;
}

export interface HistoryFrame {
  type: 'history';
  requestId: string;
  conversationId: string;
  messages: Message[];
  lastSeq: number;
  hasMore: boolean;
  receipts: Receipt[];
}

export interface Receipt {
  userId: string;
  deliveredSeq: number;
  readSeq: number;
}

export interface PongFrame {
  type: 'pong';
  requestId: string;
}

export type MessageEventFrame = Message & { type: 'message' };

export type ServerFrame = ErrorFrame | SentFrame | HistoryFrame | PongFrame | MessageEventFrame;

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
