/** Messages, receipts and conversation-list entries of dm:alice:bob, for the conversation-list tests. */
import type { Message, MessageEventFrame, Receipt, ReceiptEventFrame } from '@parley/protocol';
import type { ConversationEntryState } from '../../../lambdas/domain/ports.js';
import { NOW } from './harness.js';

export const CONVERSATION = 'dm:alice:bob';
export const message = (seq: number, conversationId = CONVERSATION): Message => ({
  conversationId,
  seq,
  messageId: `01JDMESSAGE${seq}`,
  clientMessageId: `cm-${seq}`,
  senderId: seq % 2 === 0 ? 'bob' : 'alice',
  senderDeviceId: 'phone',
  body: `message ${seq}`,
  serverTs: NOW + seq,
});
export const messageEventOf = (seq: number): MessageEventFrame => ({ type: 'message', ...message(seq) });
export const receiptEvent = (userId: string, kind: 'delivered' | 'read', seq: number): ReceiptEventFrame => ({
  type: 'receipt',
  conversationId: CONVERSATION,
  userId,
  kind,
  seq,
});
export const receipts = (alice: [number, number], bob: [number, number]): Receipt[] => [
  { userId: 'alice', deliveredSeq: alice[0], readSeq: alice[1] },
  { userId: 'bob', deliveredSeq: bob[0], readSeq: bob[1] },
];
export const state = (
  lastSeq: number,
  alice: [number, number] = [0, 0],
  bob: [number, number] = [0, 0],
): ConversationEntryState => ({
  conversationId: CONVERSATION,
  // Protocol 1.1: every entry says its kind.
  kind: 'dm',
  members: ['alice', 'bob'],
  lastSeq,
  lastMessage: lastSeq > 0 ? message(lastSeq) : null,
  receipts: receipts(alice, bob),
});
