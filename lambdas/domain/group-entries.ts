/**
 * A member's conversation-list entry of a group (docs/protocol.md, ConversationSummary):
 * `kind: 'group'`, the group's title and member count, whether the user is still a member,
 * the last message (membership events included), the user's own receipt only, and
 * `everyone`. As for a one-to-one entry, the merge is monotone: seqs and watermarks only
 * grow, so a retried batch changes nothing it already wrote.
 */
import type { Everyone, Receipt } from '@parley/protocol';
import { raise } from './conversation-list.js';
import type { ConversationEntryState, ConversationEvent, GroupRecord } from './ports.js';

/** What the group read of the batch says of the group, for one user's entry. */
export interface GroupFacts {
  title: string;
  memberCount: number;
  /** The user is a current member. */
  member: boolean;
  everyone: Everyone;
}

export function groupFactsFor(group: GroupRecord, userId: string): GroupFacts {
  return {
    title: group.title,
    memberCount: group.members.length,
    member: group.members.some((member) => member.userId === userId),
    everyone: group.everyone,
  };
}

function emptyGroupEntry(conversationId: string, userId: string): ConversationEntryState {
  return {
    conversationId,
    kind: 'group',
    lastSeq: 0,
    lastMessage: null,
    receipts: [{ userId, deliveredSeq: 0, readSeq: 0 }],
  };
}

function raiseEveryone(everyone: Everyone, kind: 'delivered' | 'read', seq: number): Everyone {
  const readSeq = kind === 'read' ? Math.max(everyone.readSeq, seq) : everyone.readSeq;
  // Everyone having read a message has it too.
  const deliveredSeq = Math.max(everyone.deliveredSeq, readSeq, kind === 'delivered' ? seq : 0);
  return { deliveredSeq, readSeq };
}

const sameReceipt = (a: Receipt | Everyone | undefined, b: Receipt | Everyone | undefined) =>
  a?.deliveredSeq === b?.deliveredSeq && a?.readSeq === b?.readSeq;

/**
 * `userId`'s entry after `events` (those of the batch it receives, in stream order), or
 * undefined when they change nothing. `facts` come from the group as the batch read it,
 * after every event of the batch was committed.
 */
export function applyToGroupEntry(
  conversationId: string,
  userId: string,
  current: ConversationEntryState | undefined,
  events: readonly ConversationEvent[],
  facts: GroupFacts,
): ConversationEntryState | undefined {
  const before = current ?? emptyGroupEntry(conversationId, userId);
  let next: ConversationEntryState = {
    ...before,
    title: facts.title,
    memberCount: facts.memberCount,
    member: facts.member,
    everyone: raiseEveryone(
      raiseEveryone(before.everyone ?? { deliveredSeq: 0, readSeq: 0 }, 'read', facts.everyone.readSeq),
      'delivered',
      facts.everyone.deliveredSeq,
    ),
  };
  for (const event of events) {
    if (event.type === 'message' && event.seq > next.lastSeq) {
      const { type: _type, ...message } = event;
      next = { ...next, lastSeq: event.seq, lastMessage: message };
    } else if (event.type === 'receipt' && event.userId === userId) {
      next = { ...next, receipts: raise(next.receipts, userId, event.kind, event.seq) };
    } else if (event.type === 'groupReceipt') {
      next = { ...next, everyone: raiseEveryone(next.everyone ?? facts.everyone, event.kind, event.seq) };
    }
  }
  // A receipt alone never creates an entry: the message it acknowledges does.
  if (!current && next.lastSeq === 0) return undefined;
  const changed =
    !current ||
    next.lastSeq !== before.lastSeq ||
    next.title !== before.title ||
    next.memberCount !== before.memberCount ||
    next.member !== before.member ||
    !sameReceipt(next.everyone, before.everyone) ||
    !sameReceipt(next.receipts[0], before.receipts[0]);
  return changed ? next : undefined;
}
