/**
 * `groupInfo`: a group's current members with their roles and receipts, in user id order,
 * a page at a time so that every answer fits one frame.
 */
import type { GroupFrame, GroupInfoFrame, GroupMember, Receipt } from '@parley/protocol';
import { ForbiddenError } from './errors.js';
import { fitToFrame } from './paging.js';
import type { GroupStore, MessageStore, ReceiptStore } from './ports.js';

export interface GroupInfoDeps {
  groups: GroupStore;
  messages: MessageStore;
  receipts: ReceiptStore;
}

/** The page of the group's members after `frame.after`, for a current member only. */
export async function describeGroup(
  deps: GroupInfoDeps,
  userId: string,
  frame: Pick<GroupInfoFrame, 'requestId' | 'conversationId' | 'after'>,
): Promise<GroupFrame> {
  const { conversationId, after } = frame;
  const [group, lastSeq, stored] = await Promise.all([
    deps.groups.getGroup(conversationId),
    deps.messages.lastSeq(conversationId),
    deps.receipts.listReceipts(conversationId),
  ]);
  if (!group?.members.some((member) => member.userId === userId)) {
    throw new ForbiddenError(`conversationId: you are not a member of ${conversationId}`);
  }
  const receipts = new Map<string, Receipt>(stored.map((receipt) => [receipt.userId, receipt]));
  const members: GroupMember[] = group.members
    .filter((member) => after === undefined || member.userId > after)
    .sort((a, b) => (a.userId < b.userId ? -1 : 1))
    .map(({ userId: memberId, admin, joinedSeq }) => {
      const receipt = receipts.get(memberId);
      // A member counts as having received and read what came before it joined.
      return {
        userId: memberId,
        admin,
        joinedSeq,
        deliveredSeq: Math.max(receipt?.deliveredSeq ?? 0, joinedSeq - 1),
        readSeq: Math.max(receipt?.readSeq ?? 0, joinedSeq - 1),
      };
    });
  const envelope = {
    type: 'group' as const,
    requestId: frame.requestId,
    conversationId,
    title: group.title,
    createdBy: group.createdBy,
    // The group's events are messages: the seqs read before the group cannot be behind it.
    lastSeq: Math.max(lastSeq, group.lastChange?.toSeq ?? 0),
    memberCount: group.members.length,
    hasMore: true,
  };
  const page = fitToFrame(members, envelope);
  return { ...envelope, members: page, hasMore: page.length < members.length };
}
