/**
 * The wire protocol (docs/protocol.md, version 1) as zod schemas and types: the one definition
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

/** A surrogate without its pair: JSON can carry one as an escape, UTF-8 (and so DynamoDB) cannot. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when the string is Unicode text, with no lone surrogate (`String.prototype.isWellFormed`). */
export function isWellFormedText(value: string): boolean {
  return !LONE_SURROGATE.test(value);
}

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const idRule = 'must be 1 to 64 characters of A-Z, a-z, 0-9, _ or -';

export const userIdSchema = z.string({ error: typeError('a string') }).regex(ID_PATTERN, idRule);
export const deviceIdSchema = userIdSchema;
export const clientMessageIdSchema = userIdSchema;
export const requestIdSchema = z
  .string({ error: typeError('a string') })
  .min(1, 'must be 1 to 64 characters')
  .max(64, 'must be 1 to 64 characters');
/** `dm:{x}:{y}`; membership and order of the two ids are checked by the domain. */
export const conversationIdSchema = z
  .string({ error: typeError('a string') })
  .min(1, 'must be a conversation id')
  .max(140, 'must be a conversation id of at most 140 characters');
const seqSchema = z
  .number({ error: typeError('a number') })
  .int('must be an integer')
  .min(0, 'must be 0 or more');
const limitSchema = (max: number, fallback: number) =>
  z
    .number({ error: typeError('a number') })
    .int('must be an integer')
    .min(1, `must be 1 to ${max}`)
    .max(max, `must be 1 to ${max}`)
    .default(fallback);

/** A client frame: only the fields the protocol names; an unknown field is refused by name. */
function frameSchema<Shape extends z.ZodRawShape>(shape: Shape) {
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys' ? `${issue.keys[0]}: is not a field of this action` : undefined,
  });
}

/** A message body: the SDK checks it too, before it queues a message the server would refuse. */
export const messageBodySchema = z
  .string({ error: typeError('a string') })
  .min(1, `must be 1 to ${MAX_BODY_CHARS} characters`)
  .max(MAX_BODY_CHARS, `must be 1 to ${MAX_BODY_CHARS} characters`)
  .refine(
    isWellFormedText,
    'must be well-formed Unicode: a lone surrogate (\\uD800 to \\uDFFF without its pair) is not text',
  );

export const sendFrameSchema = frameSchema({
  action: z.literal('send'),
  requestId: requestIdSchema,
  to: userIdSchema.optional(),
  conversationId: conversationIdSchema.optional(),
  clientMessageId: clientMessageIdSchema,
  body: messageBodySchema,
}).refine((frame) => (frame.to === undefined) !== (frame.conversationId === undefined), {
  message: 'exactly one of to or conversationId is required',
  path: ['to'],
});

export const syncFrameSchema = frameSchema({
  action: z.literal('sync'),
  requestId: requestIdSchema,
  conversationId: conversationIdSchema,
  afterSeq: seqSchema,
  limit: limitSchema(SYNC_MAX_LIMIT, SYNC_DEFAULT_LIMIT),
});

export const pingFrameSchema = frameSchema({ action: z.literal('ping'), requestId: requestIdSchema });

export const RECEIPT_KINDS = ['delivered', 'read'] as const;
export type ReceiptKind = (typeof RECEIPT_KINDS)[number];

export const ackFrameSchema = frameSchema({
  action: z.literal('ack'),
  requestId: requestIdSchema,
  conversationId: conversationIdSchema,
  seq: seqSchema,
  kind: z.enum(RECEIPT_KINDS, { error: 'must be delivered or read' }),
});

export const CONVERSATIONS_DEFAULT_LIMIT = 50;
export const CONVERSATIONS_MAX_LIMIT = 100;

export const conversationsFrameSchema = frameSchema({
  action: z.literal('conversations'),
  requestId: requestIdSchema,
  since: z
    .string({ error: typeError('a string') })
    .min(1, 'must be a cursor from an earlier answer')
    .max(200, 'must be a cursor from an earlier answer')
    .optional(),
  limit: limitSchema(CONVERSATIONS_MAX_LIMIT, CONVERSATIONS_DEFAULT_LIMIT),
});

export const TYPING_STATES = ['start', 'stop'] as const;

export const typingFrameSchema = frameSchema({
  action: z.literal('typing'),
  /** Optional: typing has no answer, but an error answer echoes it. */
  requestId: requestIdSchema.optional(),
  conversationId: conversationIdSchema,
  state: z.enum(TYPING_STATES, { error: 'must be start or stop' }),
});

export const PRESENCE_MAX_USERS = 100;

export const subscribePresenceFrameSchema = frameSchema({
  action: z.literal('subscribePresence'),
  requestId: requestIdSchema,
  userIds: z
    .array(userIdSchema, { error: typeError('a list of user ids') })
    .min(1, `must hold 1 to ${PRESENCE_MAX_USERS} user ids`)
    .max(PRESENCE_MAX_USERS, `must hold 1 to ${PRESENCE_MAX_USERS} user ids`),
});

export type SendFrame = z.infer<typeof sendFrameSchema>;
export type SyncFrame = z.infer<typeof syncFrameSchema>;
export type PingFrame = z.infer<typeof pingFrameSchema>;
export type AckFrame = z.infer<typeof ackFrameSchema>;
export type ConversationsFrame = z.infer<typeof conversationsFrameSchema>;
export type TypingFrame = z.infer<typeof typingFrameSchema>;
export type SubscribePresenceFrame = z.infer<typeof subscribePresenceFrameSchema>;

/** The actions this server version routes; anything else goes to `$default`. */
export const ROUTED_ACTIONS = [
  'send',
  'ack',
  'sync',
  'conversations',
  'typing',
  'subscribePresence',
  'ping',
] as const;
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

export interface AckedFrame {
  type: 'acked';
  requestId: string;
  conversationId: string;
  kind: ReceiptKind;
  seq: number;
}

export interface ReceiptEventFrame {
  type: 'receipt';
  conversationId: string;
  userId: string;
  kind: ReceiptKind;
  seq: number;
}

export interface ConversationSummary {
  conversationId: string;
  members: string[];
  lastSeq: number;
  lastMessage: Message | null;
  receipts: Receipt[];
  updatedAt: number;
}

export interface ConversationsPageFrame {
  type: 'conversations';
  requestId: string;
  conversations: ConversationSummary[];
  cursor: string;
  hasMore: boolean;
}

export interface TypingEventFrame {
  type: 'typing';
  conversationId: string;
  userId: string;
  state: (typeof TYPING_STATES)[number];
}

export interface UserPresence {
  userId: string;
  online: boolean;
  lastSeen: number | null;
}

export interface PresenceFrame {
  type: 'presence';
  /** Present on the answer to subscribePresence, absent on later updates. */
  requestId?: string;
  users: UserPresence[];
}

export type ServerFrame =
  | ErrorFrame
  | SentFrame
  | HistoryFrame
  | PongFrame
  | MessageEventFrame
  | AckedFrame
  | ReceiptEventFrame
  | ConversationsPageFrame
  | TypingEventFrame
  | PresenceFrame;

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
