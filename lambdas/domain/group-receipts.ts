/**
 * Receipts in a group (docs/adr/0007-groups.md): each member's own watermarks, as in a
 * one-to-one conversation, and `everyone`, the lowest watermark of each kind over the
 * current members, with no traffic that grows with the square of the group's size.
 *
 * A member counts as having received and read the messages before it joined (its watermark
 * counts as at least `joinedSeq - 1`) and its own messages (a send raises its watermarks).
 * Only a member who held the lowest watermark of a kind can move `everyone` by raising its
 * own. The `group` item keeps, beside `everyone`, how many members hold each lowest (the
 * holders) and a version that every write of them bumps: a holder rising takes one from its
 * kind's holders, and only the last one recomputes the lowest over the current members (one
 * read of the roster, one of the watermarks), raises it and publishes one `groupReceipt`. So
 * a message costs one recompute per kind, not one per member. Whenever in doubt (holders
 * unknown, a condition failing again and again) it recomputes, which is always right.
 */
import type { ReceiptKind } from '@parley/protocol';
import type { EventPublisher, EveryoneState, GroupMemberRecord, GroupStore, ReceiptStore } from './ports.js';
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

/** Conditional writes tried before falling back to a recompute (or, for one, giving up). */
const ATTEMPTS = 5;

/**
 * After an ack or a send raised the member's watermarks (its receipt written first): for
 * each kind whose watermark, as it counts, moved from exactly the stored `everyone`, the
 * member was one of its holders and takes itself off; the last holder recomputes.
 */
export async function settleEveryone(
  deps: GroupReceiptDeps,
  conversationId: string,
  member: GroupMemberRecord,
  outcomes: WatermarkOutcomes,
): Promise<void> {
  const counted = (seq: number) => effectiveWatermark(seq, member.joinedSeq);
  const rising = outcomes
    .filter(([, outcome]) => counted(outcome.seq) > counted(outcome.previous))
    .map(([kind, outcome]) => ({ kind, previous: counted(outcome.previous) }));
  if (rising.length === 0) return;
  let state = await deps.groups.getEveryoneState(conversationId);
  const recompute = new Set<ReceiptKind>();
  for (const { kind, previous } of rising) {
    const left = await leaveHolders(deps, conversationId, kind, previous, state);
    state = left.state;
    if (left.recompute) recompute.add(kind);
  }
  if (recompute.size > 0) await recomputeEveryone(deps, conversationId, [...recompute]);
}

/**
 * Takes a member whose watermark of `kind` rose from `previous` off the holders of `kind`;
 * `recompute` when it was the last, when the holders are unknown, or when the condition kept
 * failing. Below the stored `everyone`, a recompute already counted the new watermark; above
 * it, the member held nothing. Counting one off twice in a race only makes a recompute come
 * early, which finds the others still there: never `everyone` held back.
 */
async function leaveHolders(
  deps: GroupReceiptDeps,
  conversationId: string,
  kind: ReceiptKind,
  previous: number,
  first: EveryoneState | undefined,
): Promise<{ state: EveryoneState | undefined; recompute: boolean }> {
  let state = first;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (!state || previous !== state.everyone[FIELD[kind]]) return { state, recompute: false };
    if (!state.holders) return { state, recompute: true };
    const seq = state.everyone[FIELD[kind]];
    const outcome = await deps.groups.decrementHolder(conversationId, kind, seq, state.version);
    if (outcome.status === 'ok') {
      const holders = { ...state.holders, [kind]: outcome.holders };
      return { state: { ...state, holders, version: outcome.version }, recompute: outcome.holders === 0 };
    }
    state = await deps.groups.getEveryoneState(conversationId);
  }
  return { state, recompute: true };
}

/**
 * Recomputes both `everyone` watermarks and their holders over the current members, raises
 * what moved and publishes a `groupReceipt` for each: after every membership change, which
 * leaves the holders unknown (a removed member no longer holds `everyone` back; an added one
 * may hold it).
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

/**
 * Recomputes `everyone` and its holders over the current members and writes them on the
 * condition that the version read first is still there, publishing a `groupReceipt` for each
 * kind that moved (`kinds` first, in their order). The version is read BEFORE the roster and
 * the watermarks: a holder's decrement that committed before that read came after its
 * receipt was written, so this read sees the new watermark; a decrement after it bumps the
 * version and makes this write fail and start again. Either way no rise goes uncounted.
 */
async function recomputeEveryone(
  deps: GroupReceiptDeps,
  conversationId: string,
  kinds: readonly ReceiptKind[],
): Promise<void> {
  const order = [...new Set<ReceiptKind>([...kinds, 'delivered', 'read'])];
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const state = await deps.groups.getEveryoneState(conversationId);
    if (!state) return;
    const [group, receipts] = await Promise.all([
      deps.groups.getGroup(conversationId),
      deps.receipts.listReceipts(conversationId),
    ]);
    // A group whose last member left has nobody to count.
    if (!group || group.members.length === 0) return;
    const stored = new Map(receipts.map((receipt) => [receipt.userId, receipt]));
    const next = lowestOf(state, (kind) =>
      group.members.map((member) =>
        effectiveWatermark(stored.get(member.userId)?.[FIELD[kind]] ?? 0, member.joinedSeq),
      ),
    );
    // Nothing moved and the holders were right: no write.
    if (sameState(state, next)) return;
    if (await deps.groups.setEveryone(conversationId, next, state.version)) {
      for (const kind of order) {
        const seq = next.everyone[FIELD[kind]];
        if (seq > state.everyone[FIELD[kind]])
          await deps.publisher.publish({ type: 'groupReceipt', conversationId, kind, seq });
      }
      return;
    }
  }
}

/**
 * The lowest watermark of each kind and how many hold it. `everyone` only grows: should the
 * lowest counted be below the stored one, the stored one stays and its holders are unknown.
 */
function lowestOf(
  state: EveryoneState,
  watermarks: (kind: ReceiptKind) => number[],
): Pick<EveryoneState, 'everyone' | 'holders'> {
  const everyone = { ...state.everyone };
  const holders: Record<ReceiptKind, number> = { delivered: 0, read: 0 };
  let known = true;
  for (const kind of ['delivered', 'read'] as const) {
    const seqs = watermarks(kind);
    const lowest = Math.min(...seqs);
    if (lowest < state.everyone[FIELD[kind]]) known = false;
    everyone[FIELD[kind]] = Math.max(lowest, state.everyone[FIELD[kind]]);
    holders[kind] = seqs.filter((seq) => seq === lowest).length;
  }
  return known ? { everyone, holders } : { everyone };
}

function sameState(state: EveryoneState, next: Pick<EveryoneState, 'everyone' | 'holders'>): boolean {
  return (
    state.everyone.deliveredSeq === next.everyone.deliveredSeq &&
    state.everyone.readSeq === next.everyone.readSeq &&
    state.holders?.delivered === next.holders?.delivered &&
    state.holders?.read === next.holders?.read
  );
}
