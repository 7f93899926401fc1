/**
 * Server frames for the fake server to send, shaped as docs/protocol.md says.
 */
import type {
  ConversationSummary,
  ConversationsPageFrame,
  HistoryFrame,
  Message,
  Receipt,
  ReceiptKind,
  SentFrame,
} from '@parley/protocol';
import { conversationIdFor } from '@parley/sdk';
import type { ClientFrame } from './fake-server.js';

/** When the fake server "stored" the first message. */
export const BASE_TS = 1_764_290_000_000;

/** A stored message: by default bob's `seq`-th in bob and alice's conversation. */
export function message(seq: number, fields: Partial<Message> & { from?: string } = {}): Message {
  const { from = 'bob', ...rest } = fields;
  return {
    conversationId: conversationIdFor('alice', 'bob'),
    seq,
    messageId: `m-${seq}`,
    clientMessageId: `${from}-message-${seq}`,
    senderId: from,
    senderDeviceId: 'phone',
    body: `message ${seq}`,
    serverTs: BASE_TS + seq,
    ...rest,
  };
}

/** The `message` event of a stored message. */
export function messageEvent(stored: Message) {
  return { type: 'message' as const, ...stored };
}

/** The answer to a `send` frame: stored as `seq`. */
export function sentAnswer(
  send: ClientFrame,
  seq: number,
  fields: Partial<SentFrame> & { senderId?: string } = {},
): SentFrame {
  const { senderId = 'alice', ...rest } = fields;
  return {
    type: 'sent',
    requestId: String(send.requestId),
    conversationId:
      typeof send.conversationId === 'string'
        ? send.conversationId
        : conversationIdFor(senderId, String(send.to)),
    clientMessageId: String(send.clientMessageId),
    seq,
    messageId: `m-${seq}`,
    serverTs: BASE_TS + seq,
    duplicate: false,
    ...rest,
  };
}

/** The message a `send` frame stored as `seq`, as a `message` event carries it. */
export function storedFrom(send: ClientFrame, seq: number, senderId = 'alice'): Message {
  const answer = sentAnswer(send, seq, { senderId });
  return message(seq, {
    from: senderId,
    conversationId: answer.conversationId,
    clientMessageId: answer.clientMessageId,
    body: String(send.body),
  });
}

export function conversationsPage(
  fields: Partial<ConversationsPageFrame> & { conversations: ConversationSummary[]; cursor: string },
): Omit<ConversationsPageFrame, 'requestId'> {
  return { type: 'conversations', hasMore: false, ...fields };
}

/** One entry of the conversation list. */
export function summary(
  conversationId: string,
  lastSeq: number,
  fields: Partial<ConversationSummary> = {},
): ConversationSummary {
  const [, first = 'alice', second = 'bob'] = conversationId.split(':');
  return {
    conversationId,
    members: [first, second],
    lastSeq,
    lastMessage: lastSeq > 0 ? message(lastSeq, { conversationId }) : null,
    receipts: [],
    updatedAt: BASE_TS + lastSeq,
    ...fields,
  };
}

/** The answer to a `sync` frame. */
export function historyAnswer(
  sync: ClientFrame,
  messages: Message[],
  fields: Partial<Omit<HistoryFrame, 'messages'>> = {},
): HistoryFrame {
  return {
    type: 'history',
    requestId: String(sync.requestId),
    conversationId: String(sync.conversationId),
    messages,
    lastSeq: messages.at(-1)?.seq ?? 0,
    hasMore: false,
    receipts: [],
    ...fields,
  };
}

export function receiptEvent(conversationId: string, userId: string, kind: ReceiptKind, seq: number) {
  return { type: 'receipt' as const, conversationId, userId, kind, seq };
}

export function receipt(userId: string, deliveredSeq: number, readSeq: number): Receipt {
  return { userId, deliveredSeq, readSeq };
}

export function errorAnswer(request: ClientFrame, code: string, text = `${code}: refused`) {
  return { type: 'error' as const, requestId: request.requestId ?? null, code, message: text };
}

/** The group of the group tests. */
export const GROUP = 'grp:lunch';

/** A group's event or message stored at `seq` (by default alice's text message). */
export function groupMessage(seq: number, fields: Partial<Message> & { from?: string } = {}): Message {
  const { from = 'alice', ...rest } = fields;
  return message(seq, { from, conversationId: GROUP, ...rest });
}

/** A membership event of the group, with no body, its clientMessageId its messageId. */
export function groupEvent(
  seq: number,
  fields: Pick<Message, 'kind'> & Partial<Message> & { from?: string },
): Message {
  const { body: _body, ...event } = groupMessage(seq, { clientMessageId: `m-${seq}`, ...fields });
  return event;
}

/** The answer to a membership action or a group's creation. */
export function groupChangedAnswer(request: ClientFrame, seq: number | null, duplicate = false) {
  return {
    type: 'groupChanged' as const,
    conversationId: String(request.conversationId),
    seq,
    duplicate,
  };
}

/** A group's entry of the conversation list. */
export function groupSummary(
  lastSeq: number,
  fields: Partial<ConversationSummary> = {},
): ConversationSummary {
  return {
    conversationId: GROUP,
    kind: 'group',
    title: 'Lunch',
    memberCount: 3,
    member: true,
    lastSeq,
    lastMessage: lastSeq > 0 ? groupMessage(lastSeq, { from: 'bob' }) : null,
    receipts: [],
    everyone: { deliveredSeq: 0, readSeq: 0 },
    updatedAt: BASE_TS + lastSeq,
    ...fields,
  };
}
