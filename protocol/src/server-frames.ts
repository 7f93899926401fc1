/**
 * The frames the server sends: answers (they echo the `requestId` of the frame they answer)
 * and events (unasked). The server builds them and the SDK reads them, both through the types
 * below; the schemas describe them in docs/protocol.md and docs/asyncapi.yaml, and let a
 * client validate what it receives.
 */
import { z } from 'zod';
import { RECEIPT_KINDS, TYPING_STATES } from './client-frames.js';
import { ERROR_CODES } from './errors.js';
import { apnsAddressSchema, fcmAddressSchema, pushPayloadSchema, webPushAddressSchema } from './push.js';

const timestamp = (description: string) =>
  z
    .int()
    .min(0)
    .meta({ description: `${description}, in milliseconds since the Unix epoch` });

/** What a message is: text, or one of a group's membership events. */
export const MESSAGE_KINDS = [
  'text',
  'group-created',
  'members-added',
  'member-removed',
  'title-changed',
  'admin-changed',
] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];
/** The kinds of a group's membership events: messages with no body. */
export type GroupEventKind = Exclude<MessageKind, 'text'>;

/**
 * A message of a conversation: text, or a group's membership event. An event carries its
 * fields at the top level and no `body`; a message without `kind` (stored by a 1.0 server)
 * is text.
 */
export const messageSchema = z.object({
  conversationId: z.string(),
  seq: z.int().min(1).meta({ description: 'its place in the conversation: 1, 2, 3… with no gaps' }),
  messageId: z.string().meta({ description: 'set by the server' }),
  clientMessageId: z
    .string()
    .meta({ description: "the sender's idempotency key; the messageId for an event" }),
  senderId: z.string().meta({ description: 'the author, or the member who changed the group' }),
  senderDeviceId: z.string(),
  kind: z
    .enum(MESSAGE_KINDS)
    .meta({ description: 'text when absent (a message stored by a 1.0 server)' })
    .optional(),
  body: z.string().meta({ description: 'text messages only' }).optional(),
  title: z.string().meta({ description: 'group-created and title-changed: the title' }).optional(),
  members: z
    .array(z.string())
    .meta({ description: 'group-created (the creator included) and members-added: the users who joined' })
    .optional(),
  userId: z
    .string()
    .meta({ description: 'member-removed: who left or was removed; admin-changed: whose role changed' })
    .optional(),
  admin: z.boolean().meta({ description: 'admin-changed: the new role' }).optional(),
  erased: z
    .literal(true)
    .meta({ description: 'its sender was erased: the message keeps its seq and has no body (1.3)' })
    .optional(),
  serverTs: timestamp('when the server stored it'),
});

export const receiptSchema = z.object({
  userId: z.string(),
  deliveredSeq: z.int().min(0).meta({ description: 'the member has every message up to it' }),
  readSeq: z.int().min(0).meta({ description: 'the member has read every message up to it' }),
});

/** "Everyone has … up to": the lowest watermark of each kind over a group's current members. */
export const everyoneSchema = z.object({
  deliveredSeq: z.int().min(0).meta({ description: 'every current member has every message up to it' }),
  readSeq: z.int().min(0).meta({ description: 'every current member has read every message up to it' }),
});

export const conversationSummarySchema = z.object({
  conversationId: z.string(),
  kind: z.enum(['dm', 'group']).meta({ description: 'absent from a 1.0 server: dm' }).optional(),
  members: z.array(z.string()).meta({ description: 'dm: the two members' }).optional(),
  title: z.string().meta({ description: 'group: its title' }).optional(),
  memberCount: z.int().min(0).meta({ description: 'group: its current members' }).optional(),
  member: z
    .boolean()
    .meta({ description: 'group: false once the caller left or was removed (the entry stays, up to then)' })
    .optional(),
  lastSeq: z.int().min(0).meta({ description: 'the seq of its last message; 0 before any' }),
  lastMessage: messageSchema
    .nullable()
    .meta({ description: 'null before any message, and once the last message is gone (retention)' }),
  receipts: z.array(receiptSchema).meta({ description: "dm: one per member; group: the caller's own only" }),
  everyone: everyoneSchema.meta({ description: 'group: the lowest watermarks over its members' }).optional(),
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
  receipts: z.array(receiptSchema).meta({ description: "dm: one per member; group: the caller's own only" }),
  everyone: everyoneSchema.meta({ description: 'group: the lowest watermarks over its members' }).optional(),
  goneThrough: z
    .int()
    .min(1)
    .meta({
      description:
        'every seq after `afterSeq` up to it is gone (past the retention period) and never comes: ask after it (1.3)',
    })
    .optional(),
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

export const groupChangedFrameSchema = z.object({
  type: z.literal('groupChanged'),
  requestId: z.string(),
  conversationId: z.string(),
  seq: z
    .int()
    .min(1)
    .nullable()
    .meta({ description: 'the seq of the last event the change made; null when it changed nothing' }),
  duplicate: z
    .boolean()
    .meta({ description: "createGroup repeated by its creator: the first creation's answer" }),
});

export const groupMemberSchema = z.object({
  userId: z.string(),
  admin: z.boolean(),
  joinedSeq: z
    .int()
    .min(1)
    .meta({ description: 'the seq of the event that added it: it sees messages from there' }),
  deliveredSeq: z.int().min(0),
  readSeq: z.int().min(0),
});

export const groupFrameSchema = z.object({
  type: z.literal('group'),
  requestId: z.string(),
  conversationId: z.string(),
  title: z.string(),
  createdBy: z.string(),
  lastSeq: z.int().min(0),
  memberCount: z.int().min(1),
  members: z
    .array(groupMemberSchema)
    .meta({ description: 'in user id order, after `after`; as many as fit a frame' }),
  hasMore: z.boolean().meta({ description: 'ask again with `after` set to the last userId' }),
});

export const groupReceiptEventFrameSchema = z.object({
  type: z.literal('groupReceipt'),
  conversationId: z.string(),
  kind: z.enum(RECEIPT_KINDS),
  seq: z.int().min(0).meta({ description: 'every current member has this kind of receipt up to it' }),
});

/** Answers `block` (with `requestId`) and tells the blocker's other devices (without it), protocol 1.3. */
const blockChangeFrameSchema = <Type extends 'blocked' | 'unblocked'>(type: Type) =>
  z.object({
    type: z.literal(type),
    requestId: z
      .string()
      .meta({
        description: `present on the answer to ${type === 'blocked' ? 'block' : 'unblock'}, absent on the event to the caller's other devices`,
      })
      .optional(),
    userId: z.string(),
  });

export const blockedFrameSchema = blockChangeFrameSchema('blocked');
export const unblockedFrameSchema = blockChangeFrameSchema('unblocked');

export const blocksPageFrameSchema = z.object({
  type: z.literal('blocks'),
  requestId: z.string(),
  userIds: z
    .array(z.string())
    .meta({ description: 'the users the caller blocks, in user id order, after `after`' }),
  hasMore: z.boolean().meta({ description: 'ask again with `after` set to the last userId' }),
});

/** Answers `registerPush` and `unregisterPush` (protocol 1.4). */
export const pushRegisteredFrameSchema = z.object({
  type: z.literal('pushRegistered'),
  requestId: z.string(),
});
export const pushUnregisteredFrameSchema = z.object({
  type: z.literal('pushUnregistered'),
  requestId: z.string(),
});

export type Message = z.infer<typeof messageSchema>;
export type Everyone = z.infer<typeof everyoneSchema>;
export type GroupChangedFrame = z.infer<typeof groupChangedFrameSchema>;
export type GroupMember = z.infer<typeof groupMemberSchema>;
export type GroupFrame = z.infer<typeof groupFrameSchema>;
export type GroupReceiptEventFrame = z.infer<typeof groupReceiptEventFrameSchema>;
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
export type BlockedFrame = z.infer<typeof blockedFrameSchema>;
export type UnblockedFrame = z.infer<typeof unblockedFrameSchema>;
export type BlocksPageFrame = z.infer<typeof blocksPageFrameSchema>;
export type PushRegisteredFrame = z.infer<typeof pushRegisteredFrameSchema>;
export type PushUnregisteredFrame = z.infer<typeof pushUnregisteredFrameSchema>;

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
  | PresenceFrame
  | GroupChangedFrame
  | GroupFrame
  | GroupReceiptEventFrame
  | BlockedFrame
  | UnblockedFrame
  | BlocksPageFrame
  | PushRegisteredFrame
  | PushUnregisteredFrame;

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
  groupChanged: groupChangedFrameSchema,
  group: groupFrameSchema,
  groupReceipt: groupReceiptEventFrameSchema,
  blocked: blockedFrameSchema,
  unblocked: unblockedFrameSchema,
  blocks: blocksPageFrameSchema,
  pushRegistered: pushRegisteredFrameSchema,
  pushUnregistered: pushUnregisteredFrameSchema,
} as const satisfies Record<ServerFrame['type'], z.ZodType>;

/** The objects that server frames hold, by name. */
export const SERVER_OBJECT_SCHEMAS = {
  Message: messageSchema,
  Receipt: receiptSchema,
  ConversationSummary: conversationSummarySchema,
  UserPresence: userPresenceSchema,
  Everyone: everyoneSchema,
  GroupMember: groupMemberSchema,
  // Protocol 1.4: the push addresses `registerPush` takes, and what a push carries.
  WebPushAddress: webPushAddressSchema,
  ApnsAddress: apnsAddressSchema,
  FcmAddress: fcmAddressSchema,
  PushPayload: pushPayloadSchema,
} as const;
