/**
 * The conversation list: what each member's entry of a conversation becomes after some
 * events. The merge is monotone (last seq and watermarks only grow), so applying an event
 * twice, or an older event after a newer one, changes nothing: fanout can retry freely.
 */

import type { Receipt } from '@parley/protocol';
import { membersOf } from '@parley/protocol';
import type { ConversationEntryState, ConversationEvent } from './ports.js';

function emptyEntry(conversationId: string): ConversationEntryState {
  const members = membersOf(conversationId) ?? [];
  return {
    conversationId,
    kind: 'dm',
    members,
    lastSeq: 0,
    lastMessage: null,
    receipts: members.map((userId) => ({ userId, deliveredSeq: 0, readSeq: 0 })),
  };
}

export function raise(
  receipts: Receipt[],
  userId: string,
  kind: 'delivered' | 'read',
  seq: number,
): Receipt[] {
  return receipts.map((receipt) => {
    if (receipt.userId !== userId) return receipt;
    const readSeq = kind === 'read' ? Math.max(receipt.readSeq, seq) : receipt.readSeq;
    // Reading a message delivers it too.
    const deliveredSeq = Math.max(receipt.deliveredSeq, readSeq, kind === 'delivered' ? seq : 0);
    return { userId, deliveredSeq, readSeq };
  });
}

/**
 * The entry after `events`, or undefined when they change nothing. On the entry of
 * `ownerId`, the first message it wrote sets `wroteAt`: its consent to show its presence
 * to the other member, stored with the write the message makes anyway.
 */
export function applyToEntry(
  conversationId: string,
  current: ConversationEntryState | undefined,
  events: ConversationEvent[],
  ownerId?: string,
): ConversationEntryState | undefined {
  const before = current ?? emptyEntry(conversationId);
  // An entry stored by a 1.0 server has no kind: it gains it with its next change.
  let next: ConversationEntryState = { ...before, kind: 'dm' };
  for (const event of events) {
    if (event.type === 'message') {
      if (event.seq > next.lastSeq) {
        const { type: _type, ...message } = event;
        next = { ...next, lastSeq: event.seq, lastMessage: message };
      }
      if (event.senderId === ownerId && next.wroteAt === undefined)
        next = { ...next, wroteAt: event.serverTs };
    } else if (event.type === 'receipt') {
      next = { ...next, receipts: raise(next.receipts, event.userId, event.kind, event.seq) };
    }
  }
  const changed =
    !current ||
    next.lastSeq !== before.lastSeq ||
    next.wroteAt !== before.wroteAt ||
    next.receipts.some(
      (receipt, i) =>
        receipt.deliveredSeq !== before.receipts[i]?.deliveredSeq ||
        receipt.readSeq !== before.receipts[i]?.readSeq,
    );
  // A receipt alone never creates an entry: the message it acknowledges does.
  if (!current && next.lastSeq === 0) return undefined;
  return changed ? next : undefined;
}

const CURSOR_PREFIX = 'c1.';

/** The opaque cursor of a conversations page: the last `updatedAt` the client has seen. */
export function encodeCursor(updatedAt: number): string {
  return `${CURSOR_PREFIX}${Buffer.from(String(updatedAt), 'utf8').toString('base64url')}`;
}

/** The `updatedAt` a cursor stands for, or undefined for anything that is not our cursor. */
export function decodeCursor(cursor: string): number | undefined {
  if (!cursor.startsWith(CURSOR_PREFIX)) return undefined;
  const text = Buffer.from(cursor.slice(CURSOR_PREFIX.length), 'base64url').toString('utf8');
  if (!/^\d{1,16}$/.test(text)) return undefined;
  return Number(text);
}
