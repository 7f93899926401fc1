/**
 * The protocol's frames and the objects they hold as JSON Schema (draft 07, which AsyncAPI's
 * schema format extends), derived from the zod schemas so that the reference and the
 * AsyncAPI document cannot say something the server does not check.
 */
import { CLIENT_FRAME_SCHEMAS, SERVER_FRAME_SCHEMAS, SERVER_OBJECT_SCHEMAS } from '@parley/protocol';
import { z } from 'zod';

export interface JsonSchema {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  /** A discriminated union (`push` of `registerPush`, protocol 1.4). */
  oneOf?: JsonSchema[];
  $ref?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
}

/** Where a schema's name points in the AsyncAPI document; the reference uses the name alone. */
export const SCHEMA_REF_PREFIX = '#/components/schemas/';

/** The component name of each client frame (by action) and server frame (by type): its type's name. */
export const CLIENT_FRAME_NAMES = {
  send: 'SendFrame',
  ack: 'AckFrame',
  sync: 'SyncFrame',
  conversations: 'ConversationsFrame',
  typing: 'TypingFrame',
  subscribePresence: 'SubscribePresenceFrame',
  ping: 'PingFrame',
  keepalive: 'KeepaliveFrame',
  createGroup: 'CreateGroupFrame',
  addMembers: 'AddMembersFrame',
  removeMember: 'RemoveMemberFrame',
  setTitle: 'SetTitleFrame',
  setAdmin: 'SetAdminFrame',
  groupInfo: 'GroupInfoFrame',
  block: 'BlockFrame',
  unblock: 'UnblockFrame',
  blocks: 'BlocksFrame',
  registerPush: 'RegisterPushFrame',
  unregisterPush: 'UnregisterPushFrame',
} as const satisfies Record<keyof typeof CLIENT_FRAME_SCHEMAS, string>;

export const SERVER_FRAME_NAMES = {
  error: 'ErrorFrame',
  sent: 'SentFrame',
  acked: 'AckedFrame',
  history: 'HistoryFrame',
  conversations: 'ConversationsPageFrame',
  presence: 'PresenceFrame',
  pong: 'PongFrame',
  message: 'MessageEventFrame',
  receipt: 'ReceiptEventFrame',
  typing: 'TypingEventFrame',
  groupChanged: 'GroupChangedFrame',
  group: 'GroupFrame',
  groupReceipt: 'GroupReceiptEventFrame',
  blocked: 'BlockedFrame',
  unblocked: 'UnblockedFrame',
  blocks: 'BlocksPageFrame',
  pushRegistered: 'PushRegisteredFrame',
  pushUnregistered: 'PushUnregisteredFrame',
} as const satisfies Record<keyof typeof SERVER_FRAME_SCHEMAS, string>;

/** Every frame and object of the protocol as JSON Schema, by name, referring to each other by name. */
export function protocolJsonSchemas(): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [name, schema] of Object.entries(SERVER_OBJECT_SCHEMAS)) registry.add(schema, { id: name });
  for (const [action, name] of Object.entries(CLIENT_FRAME_NAMES)) {
    registry.add(CLIENT_FRAME_SCHEMAS[action as keyof typeof CLIENT_FRAME_NAMES], { id: name });
  }
  for (const [type, name] of Object.entries(SERVER_FRAME_NAMES)) {
    registry.add(SERVER_FRAME_SCHEMAS[type as keyof typeof SERVER_FRAME_NAMES], { id: name });
  }
  // `input`: what a valid frame may leave out (a field with a default is optional) and, for
  // server frames, no ban on fields a later version adds.
  const { schemas } = z.toJSONSchema(registry, {
    target: 'draft-7',
    io: 'input',
    uri: (id) => `${SCHEMA_REF_PREFIX}${id}`,
  });
  return Object.fromEntries(
    Object.entries(schemas).map(([name, { $schema: _schema, $id: _id, ...schema }]) => [
      name,
      schema as JsonSchema,
    ]),
  );
}
