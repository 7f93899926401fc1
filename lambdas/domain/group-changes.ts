/**
 * How a membership change is made (docs/adr/0007-groups.md): read the conversation's last
 * seq, then the group (both strongly consistent), decide, and commit the group's new state
 * with its events at the next seqs in one transaction. Every change claims a seq, so a
 * commit that succeeds proves that nothing changed the group since it was read; a lost
 * race (`seq_taken`, `conflict`) is decided again, with full-jitter backoff and a bound,
 * as a send is.
 *
 * The events are published after the commit. A retry by the client repairs a publish that
 * failed: a repeated creation publishes the creation's events again, and a change that
 * finds nothing left to change publishes the group's last change again.
 */
import type { GroupEventKind, Message } from '@parley/protocol';
import { type BackoffDeps, type BackoffPolicy, waitBeforeRetry } from './backoff.js';
import { SequencingContentionError } from './errors.js';
import { fitToFrame } from './paging.js';
import type { EventPublisher, GroupRecord, GroupStore, MessageStore, SeqRange } from './ports.js';

export interface GroupChangeDeps extends BackoffDeps, BackoffPolicy {
  groups: GroupStore;
  messages: MessageStore;
  publisher: EventPublisher;
  newMessageId: () => string;
  now: () => number;
  /** Transactions tried before giving up with `internal`. */
  maxAttempts: number;
}

export const DEFAULT_GROUP_CHANGES = { maxAttempts: 25, baseDelayMs: 10, maxDelayMs: 250 } as const;

/** Who makes the change: the member, and the device it made it from. */
export interface Actor {
  userId: string;
  deviceId: string;
}

export interface GroupChangeResult {
  /** The seq of the last event the change made (or, repeated, made first); null when it changed nothing. */
  seq: number | null;
  /** A creation repeated by its creator: answered with the first one. */
  duplicate: boolean;
  /** Transactions that lost a race before this one won; 0 on the quiet path. */
  retries: number;
}

/** An event before it has its place in the conversation: its kind and its fields. */
export interface EventDraft {
  kind: GroupEventKind;
  title?: string;
  members?: string[];
  userId?: string;
  admin?: boolean;
}

/** What a rule decided on the group as read. */
export type Decision =
  | {
      outcome: 'change';
      drafts: EventDraft[];
      /** The group after the change, given its events at their seqs. */
      apply: (events: Message[]) => GroupRecord;
    }
  /** Nothing to change: the answer is `seq: null`. */
  | { outcome: 'unchanged' }
  /** A creation its creator repeated: the answer is the first one's. */
  | { outcome: 'duplicate'; creation: SeqRange };

/** A rule: decides on the group as read (undefined when there is none), or throws the refusal. */
export type Decide = (group: GroupRecord | undefined) => Decision;

/** Bytes kept free in an event's frame, for what the estimate of its envelope may miss. */
const FRAME_MARGIN_BYTES = 1024;

/**
 * Makes the change `decide` settles on, committing it with its events, and publishes them.
 * A rule that throws refuses the change (`forbidden`, `bad_request`) with nothing stored.
 */
export async function changeGroup(
  deps: GroupChangeDeps,
  conversationId: string,
  actor: Actor,
  decide: Decide,
): Promise<GroupChangeResult> {
  for (let attempt = 0; attempt < deps.maxAttempts; attempt++) {
    // The seq first: a change committed after this read takes the seq this one claims.
    const lastSeq = await deps.messages.lastSeq(conversationId);
    const group = await deps.groups.getGroup(conversationId);
    const decision = decide(group);
    if (decision.outcome === 'unchanged') {
      if (group?.lastChange) await publishAgain(deps, conversationId, group.lastChange);
      return { seq: null, duplicate: false, retries: attempt };
    }
    if (decision.outcome === 'duplicate') {
      await publishAgain(deps, conversationId, decision.creation);
      return { seq: decision.creation.toSeq, duplicate: true, retries: attempt };
    }
    const events = placeEvents(deps, conversationId, actor, lastSeq, decision.drafts);
    const range = { fromSeq: lastSeq + 1, toSeq: lastSeq + events.length };
    const after = { ...decision.apply(events), lastChange: range };
    const outcome = await deps.groups.commitChange({ before: group, after, events });
    if (outcome.status === 'stored') {
      for (const event of events) await deps.publisher.publish({ type: 'message', ...event });
      return { seq: range.toSeq, duplicate: false, retries: attempt };
    }
    // A creation that found the group there decides again at once: a duplicate or forbidden.
    if (outcome.status === 'exists') continue;
    if (attempt + 1 < deps.maxAttempts) await waitBeforeRetry(attempt, deps, deps);
  }
  throw new SequencingContentionError(
    `could not change ${conversationId} after ${deps.maxAttempts} attempts`,
  );
}

/**
 * The drafts as messages at the seqs after `lastSeq`. A member list too long for one frame
 * is split: the draft keeps the first members that fit, and `members-added` events follow
 * with the rest, so that every event fits one frame as a `message` event.
 */
export function placeEvents(
  deps: Pick<GroupChangeDeps, 'newMessageId' | 'now'>,
  conversationId: string,
  actor: Actor,
  lastSeq: number,
  drafts: readonly EventDraft[],
): Message[] {
  const serverTs = deps.now();
  const events: Message[] = [];
  const place = (draft: EventDraft): Message => {
    const messageId = deps.newMessageId();
    return {
      conversationId,
      seq: lastSeq + events.length + 1,
      messageId,
      clientMessageId: messageId,
      senderId: actor.userId,
      senderDeviceId: actor.deviceId,
      ...draft,
      serverTs,
    };
  };
  for (const draft of drafts) {
    if (draft.members === undefined) {
      events.push(place(draft));
      continue;
    }
    let rest = draft.members;
    let next: EventDraft = draft;
    do {
      const event = place({ ...next, members: [] });
      const envelope = { type: 'message', ...event, padding: 'x'.repeat(FRAME_MARGIN_BYTES) };
      const fitted = fitToFrame(rest, envelope);
      events.push({ ...event, members: fitted });
      rest = rest.slice(fitted.length);
      next = { kind: 'members-added' };
    } while (rest.length > 0);
  }
  return events;
}

/** Publishes the events of `range` again, in order, as they were stored. */
async function publishAgain(deps: GroupChangeDeps, conversationId: string, range: SeqRange): Promise<void> {
  const count = range.toSeq - range.fromSeq + 1;
  const { messages } = await deps.messages.listMessages(conversationId, range.fromSeq - 1, count);
  for (const event of messages) {
    if (event.seq <= range.toSeq) await deps.publisher.publish({ type: 'message', ...event });
  }
}
