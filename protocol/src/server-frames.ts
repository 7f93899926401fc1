/**
 * The frames the server sends: answers (they echo the `requestId` of the frame they answer)
 * and events (unasked). The server builds them and the SDK reads them, both through the types
 * below; the schemas describe them in docs/protocol.md and docs/asyncapi.yaml, and let a
 * client validate what it receives.
 */
import { z } from 'zod';
import { RECEIPT_KINDS, TYPING_STATES } from './client-frames.js';
import { ERROR_CODES } from './errors.js';

const timestamp = (description: string) =>
  z
    .int()
    .min(0)
    .meta({ description: `${description}, in milliseconds since the Unix epoch` });

export const messageSchema = z.object({
  conversationId: z.string(),
  seq: z.int().min(1).meta({ description: 'its place in the conversation: 1, 2, 3… with no gaps' }),
  messageId: z.string().meta({ description: 'set by the server' }),
  clientMessageId: z.string(),
  senderId: z.string(),
  senderDeviceId: z.string(),
  body: z.string(),
  serverTs: timestamp('when the server stored it'),
});

export const receiptSchema = z.object({
  userId: z.string(),
  deliveredSeq: z.int().min(0).meta({ description: 'the member has every message up to it' }),
  readSeq: z.int().min(0).meta({ description: 'the member has read every message up to it' }),
});

export const conversationSummarySchema = z.object({
  conversationId: z.string(),
  members: z.array(z.string()),
  lastSeq: z.int().min(0).meta({ description: 'the seq of its last message; 0 before any' }),
  lastMessage: messageSchema.nullable(),
  receipts: z.array(receiptSchema).meta({ description: 'one per member' }),
  updatedAt: timestamp('its last change'),
});

export const userPresenceSchema = z.object({
  userId: z.string(),
  online: z.boolean().meta({ description: 'while at least one of its devices is connected' }),
  lastSeen: z
    .int()
    .min(0)
    .nullable()
    .meta({ description: 'when its last connection closed; null while online or if never seen' }),
});

export const errorFrameSchema = z.object({
  type: z.literal('error'),
  requestId: z.string().nullable().meta({ description: "the frame's own when it had a readable one" }),
  code: z.enum(ERROR_CODES),
  message: z.string().meta({ description: 'what was wrong, in plain words, naming the field' }),
});

export const sentFrameSchema = z.object({
  type: z.literal('sent'),
  requestId: z.string(),
  conversationId: z.string(),
  clientMessageId: z.string(),
  seq: z.int().min(1),
  messageId: z.string(),
  serverTs: timestamp('when the server stored it'),
  duplicate: z.boolean().meta({ description: "true when it answers a resend: the first send's seq" }),
});

export const ackedFrameSchema = z.object({
  type: z.literal('acked'),
  requestId: z.string(),
  conversationId: z.string(),
  kind: z.enum(RECEIPT_KINDS),
  seq: z.int().min(0).meta({ description: "the caller's watermark of that kind after the ack" }),
});

export const historyFrameSchema = z.object({
  type: z.literal('history'),
  requestId: z.string(),
  conversationId: z.string(),
  messages: z.array(messageSchema).meta({ description: 'after `afterSeq`, ascending, at most `limit`' }),
  lastSeq: z.int().min(0).meta({ description: "the conversation's last seq; 0 before any" }),
  hasMore: z.boolean(),
  receipts: z.array(receiptSchema).meta({ description: 'one per member' }),
});

export const conversationsPageFrameSchema = z.object({
  type: z.literal('conversations'),
  requestId: z.string(),
  conversations: z.array(conversationSummarySchema).meta({ description: 'oldest change first' }),
  cursor: z.string().meta({ description: 'the `since` of the next `conversations` frame' }),
  hasMore: z.boolean(),
});

export const presenceFrameSchema = z.object({
  type: z.literal('presence'),
  requestId: z
    .string()
    .meta({ description: 'present on the answer to subscribePresence, absent on later updates' })
    .optional(),
  users: z.array(userPresenceSchema),
});

export const pongFrameSchema = z.object({ type: z.literal('pong'), requestId: z.string() });

export const messageEventFrameSchema = messageSchema.extend({ type: z.literal('message') });

export const receiptEventFrameSchema = z.object({
  type: z.literal('receipt'),
  conversationId: z.string(),
  userId: z.string(),
  kind: z.enum(RECEIPT_KINDS),
  seq: z.int().min(0).meta({ description: "the member's new watermark of that kind" }),
});

export const typingEventFrameSchema = z.object({
  type: z.literal('typing'),
  conversationId: z.string(),
  userId: z.string(),
  state: z.enum(TYPING_STATES),
});

export type Message = z.infer<typeof messageSchema>;
export type Receipt = z.infer<typeof receiptSchema>;
export type ConversationSummary = z.infer<typeof conversationSummarySchema>;
export type UserPresence = z.infer<typeof userPresenceSchema>;
export type ErrorFrame = z.infer<typeof errorFrameSchema>;
export type SentFrame = z.infer<typeof sentFrameSchema>;
export type AckedFrame = z.infer<typeof ackedFrameSchema>;
export type HistoryFrame = z.infer<typeof historyFrameSchema>;
export type ConversationsPageFrame = z.infer<typeof conversationsPageFrameSchema>;
export type PresenceFrame = z.infer<typeof presenceFrameSchema>;
export type PongFrame = z.infer<typeof pongFrameSchema>;
export type MessageEventFrame = z.infer<typeof messageEventFrameSchema>;
export type ReceiptEventFrame = z.infer<typeof receiptEventFrameSchema>;
export type TypingEventFrame = z.infer<typeof typingEventFrameSchema>;

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

/** The answers and events a client can receive, by name, for the tools that describe the protocol. */
export const SERVER_FRAME_SCHEMAS = {
  error: errorFrameSchema,
  sent: sentFrameSchema,
  acked: ackedFrameSchema,
  history: historyFrameSchema,
  conversations: conversationsPageFrameSchema,
  presence: presenceFrameSchema,
  pong: pongFrameSchema,
  message: messageEventFrameSchema,
  receipt: receiptEventFrameSchema,
  typing: typingEventFrameSchema,
} as const satisfies Record<ServerFrame['type'], z.ZodType>;

/** The objects that server frames hold, by name. */
export const SERVER_OBJECT_SCHEMAS = {
  Message: messageSchema,
  Receipt: receiptSchema,
  ConversationSummary: conversationSummarySchema,
  UserPresence: userPresenceSchema,
} as const;
