/**
 * docs/asyncapi.yaml, the WebSocket API as an AsyncAPI 3.0 document, built from the zod
 * schemas: `npm run docs:protocol` writes it, a unit test fails when the committed file
 * differs and validates it with the AsyncAPI parser.
 */
import { ID_PATTERN, MAX_FRAME_BYTES } from '@parley/protocol';
import { stringify } from 'yaml';
import { CLIENT_FRAME_NAMES, type JsonSchema, SERVER_FRAME_NAMES } from './json-schemas.js';

type Action = keyof typeof CLIENT_FRAME_NAMES;
type ServerType = keyof typeof SERVER_FRAME_NAMES;

const CHANNEL = 'parley';

/** What each action does, and the frame that answers it (an `error` may answer any of them). */
const ACTIONS: Record<Action, { summary: string; answer?: ServerType }> = {
  send: { summary: 'Send a message to a user or into a conversation.', answer: 'sent' },
  ack: { summary: 'Mark every message up to a seq as delivered or read.', answer: 'acked' },
  sync: { summary: "Read a conversation's messages after a seq, and its receipts.", answer: 'history' },
  conversations: {
    summary: "List the caller's conversations that changed after a cursor.",
    answer: 'conversations',
  },
  typing: { summary: 'Tell the other members that the caller starts or stops typing; no answer.' },
  subscribePresence: {
    summary: 'Get the presence of users now and whenever it changes.',
    answer: 'presence',
  },
  ping: { summary: 'Keep the connection alive and check that it is.', answer: 'pong' },
  keepalive: {
    summary:
      'Keep the connection alive (1.6); no answer, and API Gateway runs no function for it. A server older than 1.6 answers an error.',
  },
  createGroup: {
    summary: 'Create a group with a title and members; the caller is its admin.',
    answer: 'groupChanged',
  },
  addMembers: { summary: 'Add users to a group (admins only).', answer: 'groupChanged' },
  removeMember: { summary: 'Remove a member (admins only), or leave (any member).', answer: 'groupChanged' },
  setTitle: { summary: "Change a group's title (admins only).", answer: 'groupChanged' },
  setAdmin: {
    summary: 'Make a member an admin or take the role back (admins only).',
    answer: 'groupChanged',
  },
  groupInfo: {
    summary: "Read a group's title and members with their receipts, a page at a time.",
    answer: 'group',
  },
  block: {
    summary:
      "Block a user: its one-to-one messages and typing are refused, the caller's presence hidden from it.",
    answer: 'blocked',
  },
  unblock: { summary: 'Take a block back.', answer: 'unblocked' },
  blocks: { summary: 'List the users the caller blocks, a page at a time.', answer: 'blocks' },
  registerPush: {
    summary:
      "Register the calling device's push address (Web Push, APNs or FCM): it is woken while not connected.",
    answer: 'pushRegistered',
  },
  unregisterPush: { summary: 'Stop pushes to the calling device.', answer: 'pushUnregistered' },
};

const SERVER_FRAMES: Record<ServerType, string> = {
  error: 'The answer to a frame that could not be served.',
  sent: 'The answer to `send`, once the message is stored and handed to delivery.',
  acked: 'The answer to `ack`.',
  history: 'The answer to `sync`.',
  conversations: 'The answer to `conversations`.',
  presence: 'The answer to `subscribePresence`, then (without `requestId`) each change of a subscribed user.',
  pong: 'The answer to `ping`.',
  message: "A new message, to every connected device of every member, the sender's included.",
  receipt: "A member's delivered or read watermark moved.",
  typing: 'Another member started or stopped typing.',
  groupChanged: 'The answer to `createGroup`, `addMembers`, `removeMember`, `setTitle` and `setAdmin`.',
  group: 'The answer to `groupInfo`.',
  groupReceipt:
    "The lowest watermark of a kind over a group's current members moved: everyone has it up to `seq`.",
  blocked: "The answer to `block`, then (without `requestId`) the same block to the caller's other devices.",
  unblocked: "The answer to `unblock`, then (without `requestId`) the same to the caller's other devices.",
  blocks: 'The answer to `blocks`.',
  pushRegistered: 'The answer to `registerPush`.',
  pushUnregistered: 'The answer to `unregisterPush`.',
};

const capitalized = (text: string) => `${text[0]?.toUpperCase() ?? ''}${text.slice(1)}`;
const messageRef = (name: string) => ({ $ref: `#/channels/${CHANNEL}/messages/${name}` });

function message(name: string, title: string, summary: string) {
  return {
    name,
    title,
    summary,
    contentType: 'application/json',
    payload: { $ref: `#/components/schemas/${name}` },
  };
}

function messages(): Record<string, unknown> {
  const clientFrames = Object.entries(CLIENT_FRAME_NAMES).map(([action, name]) => [
    name,
    message(name, `${action} (client)`, ACTIONS[action as Action].summary),
  ]);
  const serverFrames = Object.entries(SERVER_FRAME_NAMES).map(([type, name]) => [
    name,
    message(name, `${type} (server)`, SERVER_FRAMES[type as ServerType]),
  ]);
  return Object.fromEntries([...clientFrames, ...serverFrames]);
}

function operations(): Record<string, unknown> {
  const sends = Object.entries(CLIENT_FRAME_NAMES).map(([action, name]) => {
    const { summary, answer } = ACTIONS[action as Action];
    const answers = [...(answer ? [SERVER_FRAME_NAMES[answer]] : []), SERVER_FRAME_NAMES.error];
    return [
      action,
      {
        action: 'send',
        channel: { $ref: `#/channels/${CHANNEL}` },
        summary,
        messages: [messageRef(name)],
        reply: { channel: { $ref: `#/channels/${CHANNEL}` }, messages: answers.map(messageRef) },
      },
    ];
  });
  const receives = Object.entries(SERVER_FRAME_NAMES).map(([type, name]) => [
    `receive${capitalized(type)}`,
    {
      action: 'receive',
      channel: { $ref: `#/channels/${CHANNEL}` },
      summary: SERVER_FRAMES[type as ServerType],
      messages: [messageRef(name)],
    },
  ]);
  return Object.fromEntries([...sends, ...receives]);
}

function info(): Record<string, unknown> {
  return {
    title: 'Parley WebSocket API',
    version: '1',
    description: [
      'Real-time one-to-one messaging: ordered messages, receipts, typing and presence.',
      'Every frame in either direction is one UTF-8 JSON object in a text frame, at most',
      `${MAX_FRAME_BYTES / 1024} KB. Client frames carry \`action\`, server frames \`type\`.`,
      'docs/protocol.md in the repository is the normative reference; this document is generated',
      'from the same zod schemas by `npm run docs:protocol`.',
    ].join('\n'),
  };
}

function servers(): Record<string, unknown> {
  return {
    aws: {
      host: '{apiId}.execute-api.{region}.amazonaws.com',
      pathname: '/{stage}',
      protocol: 'wss',
      description: "The API Gateway WebSocket stage: the stack's WebSocketUrl output.",
      variables: {
        apiId: { description: 'The WebSocket API id.' },
        region: { description: 'The AWS region of the stack.' },
        stage: { description: 'The stage name.' },
      },
      security: [{ $ref: '#/components/securitySchemes/token' }],
    },
    local: {
      host: '127.0.0.1:3001',
      protocol: 'ws',
      description: 'The local stack (`npm start`); the port comes from PARLEY_WS_PORT.',
      security: [{ $ref: '#/components/securitySchemes/token' }],
    },
  };
}

/** The WebSocket binding: the handshake's query parameters. */
function handshakeBinding(): Record<string, unknown> {
  return {
    method: 'GET',
    query: {
      type: 'object',
      properties: {
        token: { type: 'string', description: 'A JWT whose `sub` claim is the user id.' },
        deviceId: {
          type: 'string',
          pattern: ID_PATTERN.source,
          description: 'Chosen by the device and stable across its reconnects.',
        },
      },
      required: ['token', 'deviceId'],
    },
    bindingVersion: '0.1.0',
  };
}

function channels(): Record<string, unknown> {
  return {
    [CHANNEL]: {
      address: '/',
      title: 'A device connection',
      description: [
        'One connection per device. The handshake carries the token and the device id as',
        'query parameters; a bad or missing token is answered 401, a bad deviceId 400 and a',
        'user over its connection limit 429, and no connection is opened. A new connection',
        'from a deviceId that has one replaces (closes) the older.',
      ].join('\n'),
      messages: messages(),
      bindings: { ws: handshakeBinding() },
    },
  };
}

function securitySchemes(): Record<string, unknown> {
  return {
    token: {
      type: 'httpApiKey',
      name: 'token',
      in: 'query',
      description: [
        "A JWT in the handshake's query, checked by the API's authorizer before the",
        'connection opens: its `sub` claim is the user id, an `exp` claim is enforced. The',
        'local stack verifies HS256 with PARLEY_JWT_SECRET; in AWS the issuer, audience and',
        'key (a JWKS URL or a shared secret) are deployment settings.',
      ].join('\n'),
    },
  };
}

/** The AsyncAPI document as an object. */
function buildAsyncApi(schemas: Record<string, JsonSchema>): Record<string, unknown> {
  return {
    asyncapi: '3.0.0',
    info: info(),
    defaultContentType: 'application/json',
    servers: servers(),
    channels: channels(),
    operations: operations(),
    components: { schemas, securitySchemes: securitySchemes() },
  };
}

/** The AsyncAPI document as the YAML of docs/asyncapi.yaml. */
export function renderAsyncApi(schemas: Record<string, JsonSchema>): string {
  const header =
    '# Generated from protocol/src by `npm run docs:protocol`; edit the schemas, not this file.\n';
  return header + stringify(buildAsyncApi(schemas), { lineWidth: 0, aliasDuplicateObjects: false });
}
