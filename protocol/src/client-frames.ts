/**
 * The frames a client sends, one per action, as zod schemas: the server validates every
 * frame with them, and the SDK checks a message body with them before it queues it. The
 * descriptions end up in docs/protocol.md and docs/asyncapi.yaml.
 */
import { z } from 'zod';
import { GROUP_ID_PATTERN } from './conversation-id.js';
import { limitSchema, seqSchema, typeError } from './fields.js';
import { clientMessageIdSchema, conversationIdSchema, requestIdSchema, userIdSchema } from './ids.js';
import {
  BLOCKS_PAGE_SIZE,
  CONVERSATIONS_DEFAULT_LIMIT,
  CONVERSATIONS_MAX_LIMIT,
  GROUP_MAX_MEMBERS,
  GROUP_TITLE_MAX_CHARS,
  MAX_BODY_CHARS,
  PRESENCE_MAX_USERS,
  SYNC_DEFAULT_LIMIT,
  SYNC_MAX_LIMIT,
} from './limits.js';
import { pushAddressSchema } from './push.js';

/** A surrogate without its pair: JSON can carry one as an escape, UTF-8 (and so DynamoDB) cannot. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when the string is Unicode text, with no lone surrogate (`String.prototype.isWellFormed`). */
export function isWellFormedText(value: string): boolean {
  return !LONE_SURROGATE.test(value);
}

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

const answeredRequestId = requestIdSchema.meta({ description: 'echoed in the answer' });

export const sendFrameSchema = frameSchema({
  action: z.literal('send'),
  requestId: answeredRequestId,
  to: userIdSchema
    .meta({
      description:
        "the recipient, a user id other than the sender's; exactly one of `to` or `conversationId`",
    })
    .optional(),
  conversationId: conversationIdSchema
    .meta({
      description:
        'a conversation of the sender (`dm:…` or `grp:…`); exactly one of `to` or `conversationId`',
    })
    .optional(),
  clientMessageId: clientMessageIdSchema.meta({
    description: 'chosen by the client, unique per message (a UUID): the idempotency key',
  }),
  body: messageBodySchema.meta({ description: 'well-formed Unicode: a lone surrogate is `bad_request`' }),
  // Optional, and true when absent, so that a 1.0 to 1.4 client sees no change.
  echo: z
    .boolean({ error: typeError('true or false') })
    .meta({
      description:
        "1.5; default true; false: no `message` event of this send to the sending connection (the sender's other devices still get it)",
    })
    .optional(),
}).refine((frame) => (frame.to === undefined) !== (frame.conversationId === undefined), {
  message: 'exactly one of to or conversationId is required',
  path: ['to'],
});

export const RECEIPT_KINDS = ['delivered', 'read'] as const;
export type ReceiptKind = (typeof RECEIPT_KINDS)[number];

export const ackFrameSchema = frameSchema({
  action: z.literal('ack'),
  requestId: requestIdSchema
    .meta({
      description:
        'echoed in the `acked` answer; without it (1.2) no answer: the `receipt` event confirms it; an error answer still comes, but none over the per-user limit (1.6)',
    })
    .optional(),
  conversationId: conversationIdSchema,
  seq: seqSchema.meta({
    description: "every message up to it; above the conversation's last is `bad_request`",
  }),
  kind: z.enum(RECEIPT_KINDS, { error: 'must be delivered or read' }),
});

export const syncFrameSchema = frameSchema({
  action: z.literal('sync'),
  requestId: answeredRequestId,
  conversationId: conversationIdSchema,
  afterSeq: seqSchema.meta({ description: 'the answer holds the messages after it' }),
  limit: limitSchema(SYNC_MAX_LIMIT, SYNC_DEFAULT_LIMIT).meta({ description: 'messages at most' }),
});

export const conversationsFrameSchema = frameSchema({
  action: z.literal('conversations'),
  requestId: answeredRequestId,
  since: z
    .string({ error: typeError('a string') })
    .min(1, 'must be a cursor from an earlier answer')
    .max(200, 'must be a cursor from an earlier answer')
    .meta({ description: 'the `cursor` of an earlier answer; without it, every conversation' })
    .optional(),
  limit: limitSchema(CONVERSATIONS_MAX_LIMIT, CONVERSATIONS_DEFAULT_LIMIT).meta({
    description: 'conversations at most',
  }),
});

export const TYPING_STATES = ['start', 'stop'] as const;

export const typingFrameSchema = frameSchema({
  action: z.literal('typing'),
  requestId: requestIdSchema
    .meta({
      description: 'typing has no answer; an error answer echoes it (none over the per-user limit, 1.6)',
    })
    .optional(),
  conversationId: conversationIdSchema,
  state: z.enum(TYPING_STATES, { error: 'must be start or stop' }),
});

export const subscribePresenceFrameSchema = frameSchema({
  action: z.literal('subscribePresence'),
  requestId: answeredRequestId,
  userIds: z
    .array(userIdSchema, { error: typeError('a list of user ids') })
    .min(1, `must hold 1 to ${PRESENCE_MAX_USERS} user ids`)
    .max(PRESENCE_MAX_USERS, `must hold 1 to ${PRESENCE_MAX_USERS} user ids`),
});

export const pingFrameSchema = frameSchema({ action: z.literal('ping'), requestId: answeredRequestId });

/** Protocol 1.6: a keep-alive that nothing answers (API Gateway runs no function for it). */
export const keepaliveFrameSchema = frameSchema({
  action: z.literal('keepalive'),
  requestId: requestIdSchema
    .meta({
      description:
        'keepalive has no answer; a server older than 1.6 refuses the unknown action with an error that echoes it',
    })
    .optional(),
});

/** `grp:{id}`: the id of a group, chosen by its creator. */
export const groupIdSchema = z
  .string({ error: typeError('a string') })
  .regex(GROUP_ID_PATTERN, 'must be grp: and 1 to 64 characters of A-Z, a-z, 0-9, _ or -');

export const groupTitleSchema = z
  .string({ error: typeError('a string') })
  .min(1, `must be 1 to ${GROUP_TITLE_MAX_CHARS} characters`)
  .max(GROUP_TITLE_MAX_CHARS, `must be 1 to ${GROUP_TITLE_MAX_CHARS} characters`)
  .refine(isWellFormedText, 'must be well-formed Unicode: a lone surrogate is not text');

/** Users to add: distinct user ids; whether the caller may be among them is the action's rule. */
const memberListSchema = (description: string) =>
  z
    .array(userIdSchema, { error: typeError('a list of user ids') })
    .min(1, `must hold 1 to ${GROUP_MAX_MEMBERS - 1} user ids`)
    .max(GROUP_MAX_MEMBERS - 1, `must hold 1 to ${GROUP_MAX_MEMBERS - 1} user ids`)
    .refine((ids) => new Set(ids).size === ids.length, 'must not name a user twice')
    .meta({ description });

export const createGroupFrameSchema = frameSchema({
  action: z.literal('createGroup'),
  requestId: answeredRequestId,
  conversationId: groupIdSchema.meta({
    description: 'chosen by the creator (grp: and a UUID): repeating the frame creates nothing twice',
  }),
  title: groupTitleSchema,
  members: memberListSchema('the other members, not the caller; the caller joins as admin'),
});

export const addMembersFrameSchema = frameSchema({
  action: z.literal('addMembers'),
  requestId: answeredRequestId,
  conversationId: groupIdSchema,
  members: memberListSchema('users to add; those already members are left as they are'),
});

export const removeMemberFrameSchema = frameSchema({
  action: z.literal('removeMember'),
  requestId: answeredRequestId,
  conversationId: groupIdSchema,
  userId: userIdSchema.meta({ description: 'the member to remove; the caller itself to leave' }),
});

export const setTitleFrameSchema = frameSchema({
  action: z.literal('setTitle'),
  requestId: answeredRequestId,
  conversationId: groupIdSchema,
  title: groupTitleSchema,
});

export const setAdminFrameSchema = frameSchema({
  action: z.literal('setAdmin'),
  requestId: answeredRequestId,
  conversationId: groupIdSchema,
  userId: userIdSchema.meta({ description: 'a current member' }),
  admin: z.boolean({ error: typeError('true or false') }),
});

export const groupInfoFrameSchema = frameSchema({
  action: z.literal('groupInfo'),
  requestId: answeredRequestId,
  conversationId: groupIdSchema,
  after: userIdSchema
    .meta({ description: 'the last `userId` of the previous page; without it, the first page' })
    .optional(),
});

/** `block` and `unblock` (protocol 1.3): the other user, never the caller itself. */
const blockTargetSchema = (description: string) => userIdSchema.meta({ description });

export const blockFrameSchema = frameSchema({
  action: z.literal('block'),
  requestId: answeredRequestId,
  userId: blockTargetSchema('the user to block; the caller itself is `bad_request`'),
});

export const unblockFrameSchema = frameSchema({
  action: z.literal('unblock'),
  requestId: answeredRequestId,
  userId: blockTargetSchema('the user to unblock; one not blocked is answered all the same'),
});

export const blocksFrameSchema = frameSchema({
  action: z.literal('blocks'),
  requestId: answeredRequestId,
  after: userIdSchema
    .meta({
      description: `the last \`userId\` of the previous page; without it, the first (${BLOCKS_PAGE_SIZE} at most a page)`,
    })
    .optional(),
});

/** `registerPush` (protocol 1.4): the push address of the calling device, replacing its earlier one. */
export const registerPushFrameSchema = frameSchema({
  action: z.literal('registerPush'),
  requestId: answeredRequestId,
  push: pushAddressSchema.meta({
    description: 'a Web Push subscription, or an APNs or FCM device token; it outlives the connection',
  }),
});

/** `unregisterPush` (protocol 1.4): the calling device gets no more pushes; one not registered is answered all the same. */
export const unregisterPushFrameSchema = frameSchema({
  action: z.literal('unregisterPush'),
  requestId: answeredRequestId,
});

export type SendFrame = z.infer<typeof sendFrameSchema>;
export type AckFrame = z.infer<typeof ackFrameSchema>;
export type SyncFrame = z.infer<typeof syncFrameSchema>;
export type ConversationsFrame = z.infer<typeof conversationsFrameSchema>;
export type TypingFrame = z.infer<typeof typingFrameSchema>;
export type SubscribePresenceFrame = z.infer<typeof subscribePresenceFrameSchema>;
export type PingFrame = z.infer<typeof pingFrameSchema>;
export type KeepaliveFrame = z.infer<typeof keepaliveFrameSchema>;
export type CreateGroupFrame = z.infer<typeof createGroupFrameSchema>;
export type AddMembersFrame = z.infer<typeof addMembersFrameSchema>;
export type RemoveMemberFrame = z.infer<typeof removeMemberFrameSchema>;
export type SetTitleFrame = z.infer<typeof setTitleFrameSchema>;
export type SetAdminFrame = z.infer<typeof setAdminFrameSchema>;
export type GroupInfoFrame = z.infer<typeof groupInfoFrameSchema>;
export type BlockFrame = z.infer<typeof blockFrameSchema>;
export type UnblockFrame = z.infer<typeof unblockFrameSchema>;
export type BlocksFrame = z.infer<typeof blocksFrameSchema>;
export type RegisterPushFrame = z.infer<typeof registerPushFrameSchema>;
export type UnregisterPushFrame = z.infer<typeof unregisterPushFrameSchema>;
/** The frames that change a group: each is answered `groupChanged`. */
export type GroupChangeFrame =
  | CreateGroupFrame
  | AddMembersFrame
  | RemoveMemberFrame
  | SetTitleFrame
  | SetAdminFrame;

/** The actions this server version routes; anything else goes to `$default`. */
export const ROUTED_ACTIONS = [
  'send',
  'ack',
  'sync',
  'conversations',
  'typing',
  'subscribePresence',
  'ping',
  'keepalive',
  'createGroup',
  'addMembers',
  'removeMember',
  'setTitle',
  'setAdmin',
  'groupInfo',
  'block',
  'unblock',
  'blocks',
  'registerPush',
  'unregisterPush',
] as const;
export type RoutedAction = (typeof ROUTED_ACTIONS)[number];

/** Every client frame by its action, for the tools that describe the protocol. */
export const CLIENT_FRAME_SCHEMAS = {
  send: sendFrameSchema,
  ack: ackFrameSchema,
  sync: syncFrameSchema,
  conversations: conversationsFrameSchema,
  typing: typingFrameSchema,
  subscribePresence: subscribePresenceFrameSchema,
  ping: pingFrameSchema,
  keepalive: keepaliveFrameSchema,
  createGroup: createGroupFrameSchema,
  addMembers: addMembersFrameSchema,
  removeMember: removeMemberFrameSchema,
  setTitle: setTitleFrameSchema,
  setAdmin: setAdminFrameSchema,
  groupInfo: groupInfoFrameSchema,
  block: blockFrameSchema,
  unblock: unblockFrameSchema,
  blocks: blocksFrameSchema,
  registerPush: registerPushFrameSchema,
  unregisterPush: unregisterPushFrameSchema,
} as const satisfies Record<RoutedAction, z.ZodType>;
