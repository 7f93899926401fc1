/**
 * Receipts in a group (docs/adr/0007-groups.md): each member's own watermarks, as in a
 * one-to-one conversation, and `everyone`, the lowest watermark of each kind over the
 * current members, with no traffic that grows with the square of the group's size.
 *
 * A member counts as having received and read the messages before it joined (its watermark
 * counts as at least `joinedSeq - 1`) and its own messages (a send raises its watermarks).
 * Only a member who held the lowest watermark of a kind can move `everyone` by raising its
 * own: then, and only then, the lowest is recomputed over the current members (one read of
 * the roster, one of the watermarks), raised in the `group` item (it only grows) and
 * published as one `groupReceipt`.
 */
import type { ReceiptKind } from '@parley/protocol';
import type { EventPublisher, GroupMemberRecord, GroupStore, ReceiptStore } from './ports.js';
import { raiseWatermarks, type WatermarkOutcomes } from './receipts.js';

export interface GroupReceiptDeps {
  groups: GroupStore;
  receipts: ReceiptStore;
  publisher: EventPublisher;
}

const FIELD = { delivered: 'deliveredSeq', read: 'readSeq' } as const satisfies Record<ReceiptKind, string>;

/** A member's watermark as it counts: the messages before it joined are as good as read. */
export function effectiveWatermark(stored: number, joinedSeq: number): number {
  return Math.max(stored, joinedSeq - 1);
}

/**
 * After an ack or a send raised the member's watermarks: recomputes `everyone` of each kind
 * whose lowest watermark the member held before (its old watermark, as it counts, at most
 * the stored `everyone`), and only when its watermark, as it counts, moved.
 */
export async function settleEveryone(
  deps: GroupReceiptDeps,
  conversationId: string,
  member: GroupMemberRecord,
  outcomes: WatermarkOutcomes,
): Promise<void> {
  const counted = (seq: number) => effectiveWatermark(seq, member.joinedSeq);
  const rising = outcomes.filter(([, outcome]) => counted(outcome.seq) > counted(outcome.previous));
  if (rising.length === 0) return;
  const everyone = await deps.groups.getEveryone(conversationId);
  if (!everyone) return;
  const kinds = rising
    .filter(([kind, outcome]) => counted(outcome.previous) <= everyone[FIELD[kind]])
    .map(([kind]) => kind);
  if (kinds.length > 0) await recomputeEveryone(deps, conversationId, kinds);
}

/**
 * Recomputes both `everyone` watermarks over the current members, raises what moved and
 * publishes a `groupReceipt` for each: for a membership change that removed a member, who no
 * longer holds them back.
 */
export async function refreshEveryone(deps: GroupReceiptDeps, conversationId: string): Promise<void> {
  await recomputeEveryone(deps, conversationId, ['delivered', 'read']);
}

/** A sender counts as having received and read its own message: raises both its watermarks to `seq`. */
export async function countOwnMessage(
  deps: GroupReceiptDeps,
  conversationId: string,
  member: GroupMemberRecord,
  seq: number,
): Promise<void> {
  const outcomes = await raiseWatermarks(deps.receipts, {
    conversationId,
    userId: member.userId,
    kind: 'read',
    seq,
  });
  await settleEveryone(deps, conversationId, member, outcomes);
}

async function recomputeEveryone(
  deps: GroupReceiptDeps,
  conversationId: string,
  kinds: readonly ReceiptKind[],
): Promise<void> {
  const [group, receipts] = await Promise.all([
    deps.groups.getGroup(conversationId),
    deps.receipts.listReceipts(conversationId),
  ]);
  // A group whose last member left has nobody to count.
  if (!group || group.members.length === 0) return;
  const stored = new Map(receipts.map((receipt) => [receipt.userId, receipt]));
  for (const kind of kinds) {
    const lowest = Math.min(
      ...group.members.map((member) =>
        effectiveWatermark(stored.get(member.userId)?.[FIELD[kind]] ?? 0, member.joinedSeq),
      ),
    );
    // Most recomputes find another member still holding it back: no write then.
    if (lowest <= group.everyone[FIELD[kind]]) continue;
    if (await deps.groups.raiseEveryone(conversationId, kind, lowest)) {
      await deps.publisher.publish({ type: 'groupReceipt', conversationId, kind, seq: lowest });
    }
  }
}
