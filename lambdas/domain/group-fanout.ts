/**
 * Delivery of a group's events (docs/adr/0007-groups.md, "Delivery"). The batch reads the
 * group once: an event's recipients are the members at its seq (a removed member receives
 * its own `member-removed`, nothing after). The posts go to the group's connected devices,
 * read from the `group-connections` index in one query, not member by member: a `receipt`
 * to its member's own devices only, a `groupReceipt` to every current member's. The fanout
 * keeps the index: it indexes the connections of the members an event adds before
 * delivering it, and drops those of users who are no longer members once delivered.
 */
import type { LRUCache } from 'lru-cache';
import pLimit from 'p-limit';
import { MetricName } from '../../definitions/metrics.js';
import { postToConnections } from './fanout.js';
import {
  type ConversationWork,
  type DecodedEvent,
  type FanoutBatchDeps,
  failFrom,
  recordPosted,
} from './fanout-work.js';
import { applyToGroupEntry, groupFactsFor } from './group-entries.js';
import { inWindows } from './group-history.js';
import { publishSlices, SLICE_THRESHOLD } from './group-slices.js';
import type { Connection, ConnectionStore, ConversationEvent, EntryChange, GroupRecord } from './ports.js';

/** A group's work in one batch. */
export interface GroupWork {
  work: ConversationWork & { conversationId: string };
  /** The group as read once the batch's events were all committed. */
  group: GroupRecord;
  /** The group's connected devices as the batch knows them: the index, what the batch indexed, less the gone. */
  listing: Map<string, Connection>;
  /** For each delivered event (as `work.delivered`), the connections done with. */
  postedTo: Array<Set<string>>;
}

/**
 * The users who receive `event`, by the group as read after it was committed: the members
 * whose windows hold its seq. The read may come after later changes, so a user's earlier
 * windows count too (one removed, then added back, before the batch read the group).
 */
export function recipientsOf(group: GroupRecord, event: ConversationEvent): Set<string> {
  if (event.type === 'receipt') return new Set([event.userId]);
  if (event.type === 'groupReceipt') return new Set(group.members.map((member) => member.userId));
  const { seq } = event;
  return new Set([
    ...group.members
      .filter((member) => member.joinedSeq <= seq || inWindows(member.earlierWindows ?? [], seq))
      .map((member) => member.userId),
    ...group.former
      .filter((former) => inWindows([former, ...(former.earlierWindows ?? [])], seq))
      .map((former) => former.userId),
  ]);
}

/**
 * Reads the group of each group work, once. A work whose read fails is given back for retry;
 * one whose group does not exist is logged and skipped, since no retry could deliver it.
 */
export async function readGroups(
  deps: FanoutBatchDeps,
  works: readonly ConversationWork[],
): Promise<GroupWork[]> {
  const read = await Promise.all(
    works.map(async (work): Promise<GroupWork | undefined> => {
      const { conversationId } = work;
      if (!conversationId || work.events.length === 0) return undefined;
      try {
        const group = await deps.groups.getGroup(conversationId);
        // The same work, not a copy: what fails here is given back through it.
        if (group) return { work: work as GroupWork['work'], group, listing: new Map(), postedTo: [] };
        deps.logger.error('skipping the events of a group that does not exist', { conversationId });
      } catch (error) {
        deps.logger.warn('reading the group failed; the stream will retry', { conversationId, error });
        failFrom(work, 0);
      }
      return undefined;
    }),
  );
  return read.filter((groupWork) => groupWork !== undefined);
}

/** The events of `events` that `userId` receives, in order. */
function eventsOf(group: GroupRecord, userId: string, events: readonly DecodedEvent[]): ConversationEvent[] {
  return events.map(({ event }) => event).filter((event) => recipientsOf(group, event).has(userId));
}

/** Each recipient's entry change for the events of the batch. */
export function groupEntryChanges({ work, group }: GroupWork): Map<string, EntryChange> {
  const { events } = work;
  const users = [...new Set(events.flatMap(({ event }) => [...recipientsOf(group, event)]))];
  return new Map(
    users.map((userId) => [
      userId,
      (current) =>
        applyToGroupEntry(
          work.conversationId,
          userId,
          current,
          eventsOf(group, userId, events),
          groupFactsFor(group, userId),
        ),
    ]),
  );
}

const addsMembers = (event: ConversationEvent) =>
  event.type === 'message' && (event.kind === 'group-created' || event.kind === 'members-added');

/**
 * The batch adds members to the group: its list entries must be written before its
 * delivery begins (the new members' entries before their connections are read).
 */
export const hasAdditions = ({ work }: GroupWork) => work.events.some(({ event }) => addsMembers(event));

/**
 * Indexes the connections of the members the event at `position` adds, before it is
 * delivered. Their list entries (`member: true`) were written before the group's delivery
 * began (`hasAdditions`); their connections are read now. `$connect` does the same the
 * other way round: it writes the connection, then reads the list. Both reads are strongly
 * consistent, so whichever of the two reads comes second sees the other's write: if
 * `$connect` read the list before the entry was written, the connection was written
 * before that, hence before this read, which finds it. A device is never missed.
 */
async function indexAddedMembers(
  deps: FanoutBatchDeps,
  groupWork: GroupWork,
  position: number,
): Promise<void> {
  const decoded = groupWork.work.events[position];
  if (decoded?.event.type !== 'message') return;
  const added = decoded.event.members ?? [];
  const limit = pLimit(deps.postConcurrency);
  // Read afresh, never from the connections an earlier batch read: those predate the entries.
  const found = (
    await Promise.all(added.map((userId) => limit(() => deps.connections.listConnections(userId))))
  ).flat();
  if (found.length === 0) return;
  await deps.groupConnections.addConnections(groupWork.work.conversationId, found);
  for (const connection of found) groupWork.listing.set(connection.connectionId, connection);
}

/** What a post to a group does when a connection answers 410: it leaves the index and the batch's listing. */
function leaveIndexWhenGone(
  deps: FanoutBatchDeps,
  groupWork: GroupWork,
  recent: LRUCache<string, Connection[]>,
) {
  const { conversationId } = groupWork.work;
  return async (gone: Connection) => {
    groupWork.listing.delete(gone.connectionId);
    const known = recent.get(conversationId);
    if (known) {
      recent.set(
        conversationId,
        known.filter((connection) => connection.connectionId !== gone.connectionId),
        { noUpdateTTL: true },
      );
    }
    await deps.groupConnections.removeConnections(conversationId, [gone.connectionId]);
  };
}

/** Posts one event to its recipients' devices, or hands the posts to slices; answers the connections done with. */
async function deliverGroupEvent(
  deps: FanoutBatchDeps,
  groupWork: GroupWork,
  { event, frame, reached = new Set() }: DecodedEvent,
  connections: ConnectionStore,
  recent: LRUCache<string, Connection[]>,
): Promise<Set<string>> {
  // A receipt goes to its member's own devices only; a message not to those `send` reached.
  const recipients =
    event.type === 'receipt'
      ? await connections.listConnections(event.userId)
      : [...groupWork.listing.values()].filter((connection) =>
          recipientsOf(groupWork.group, event).has(connection.userId),
        );
  const targets = recipients.filter((connection) => !reached.has(connection.connectionId));
  if (targets.length < recipients.length) {
    deps.metrics.record(MetricName.FastPathSkips, recipients.length - targets.length);
  }
  if (targets.length > SLICE_THRESHOLD) {
    await publishSlices(deps, event, targets);
    return new Set([...reached, ...targets.map((connection) => connection.connectionId)]);
  }
  const report = await postToConnections({ ...deps, connections }, targets, [frame], {
    onPosted: () => recordPosted(deps, event),
    onGone: leaveIndexWhenGone(deps, groupWork, recent),
  });
  return new Set([...reached, ...report.connectionIds]);
}

/**
 * Delivers a group's events in stream order, stopping at the first that fails. The first
 * posts use the index as a recent read found it, if one is recent: the read after the list
 * write finds what it misses (`postToLateGroupConnections`).
 */
export async function deliverGroup(
  deps: FanoutBatchDeps,
  groupWork: GroupWork,
  connections: ConnectionStore,
  recent: LRUCache<string, Connection[]>,
): Promise<void> {
  const { work } = groupWork;
  try {
    const listing = recent.get(work.conversationId) ?? (await readIndex(deps, work.conversationId, recent));
    for (const connection of listing) groupWork.listing.set(connection.connectionId, connection);
  } catch (error) {
    deps.logger.warn('reading the group connections failed; the stream will retry', {
      conversationId: work.conversationId,
      error,
    });
    failFrom(work, 0);
    return;
  }
  for (const [position, decoded] of work.events.entries()) {
    try {
      if (addsMembers(decoded.event)) await indexAddedMembers(deps, groupWork, position);
      const done = await deliverGroupEvent(deps, groupWork, decoded, connections, recent);
      work.delivered.push(decoded);
      groupWork.postedTo.push(done);
    } catch (error) {
      deps.logger.warn('delivery failed; the stream will retry', {
        conversationId: work.conversationId,
        seq: decoded.event.seq,
        error,
      });
      failFrom(work, decoded.index);
      return;
    }
  }
}

/** The group's indexed connections, read strongly consistent, and kept as the recent read. */
async function readIndex(
  deps: FanoutBatchDeps,
  conversationId: string,
  recent: LRUCache<string, Connection[]>,
): Promise<Connection[]> {
  const readAt = deps.now();
  const listing = await deps.groupConnections.listGroupConnections(conversationId);
  recent.set(conversationId, listing, { start: readAt });
  return listing;
}

/**
 * A device indexed after the batch's first read of the index, that asked for its list
 * before the list write, has neither the events nor the entry: read the index again, now
 * that the entries are written, and post each connection that missed one of the events it
 * receives all of them, in order (duplicates are harmless: clients drop a seq they have).
 */
export async function postToLateGroupConnections(
  deps: FanoutBatchDeps,
  groupWork: GroupWork,
  connections: ConnectionStore,
  recent: LRUCache<string, Connection[]>,
): Promise<void> {
  const { work, group } = groupWork;
  if (work.delivered.length === 0 || work.failedFrom === 0) return;
  try {
    const fresh = await readIndex(deps, work.conversationId, recent);
    const recipients = work.delivered.map(({ event }) => recipientsOf(group, event));
    const lateByEvents = new Map<string, Connection[]>();
    for (const connection of fresh) {
      groupWork.listing.set(connection.connectionId, connection);
      const due = recipients.flatMap((users, index) => (users.has(connection.userId) ? [index] : []));
      if (due.every((index) => groupWork.postedTo[index]?.has(connection.connectionId))) continue;
      const key = due.join(',');
      lateByEvents.set(key, [...(lateByEvents.get(key) ?? []), connection]);
    }
    for (const [key, late] of lateByEvents) {
      const due = key.split(',').map((index) => work.delivered[Number(index)] as DecodedEvent);
      await postToConnections(
        { ...deps, connections },
        late,
        due.map(({ frame }) => frame),
        {
          onPosted: (index) => {
            const posted = due[index];
            if (posted) recordPosted(deps, posted.event);
          },
          onGone: leaveIndexWhenGone(deps, groupWork, recent),
        },
      );
      deps.logger.info('posted to late connections', {
        conversationId: work.conversationId,
        seqs: due.map(({ event }) => event.seq),
        connections: late.length,
      });
    }
  } catch (error) {
    deps.logger.warn('posting to late connections failed; the stream will retry', {
      conversationId: work.conversationId,
      error,
    });
    failFrom(work, 0);
  }
}

/**
 * Once the events are delivered (a removed member's own removal included), the connections
 * of users who are no longer members leave the index. The group is read after the batch's
 * events were committed, and later changes may be committed by then too: a user whose
 * removal comes after the last message this batch delivered still has that removal (and the
 * messages before it) to receive from a later batch, so its connections stay until then.
 * A failure is only logged: a stale entry receives nothing (posts go to recipients only)
 * and its TTL ends it.
 */
export async function dropFormerMembers(
  deps: FanoutBatchDeps,
  groupWork: GroupWork,
  recent: LRUCache<string, Connection[]>,
): Promise<void> {
  const { conversationId } = groupWork.work;
  const { members, former } = groupWork.group;
  const deliveredThrough = groupWork.work.delivered.reduce(
    (highest, { event }) => (event.type === 'message' ? Math.max(highest, event.seq) : highest),
    0,
  );
  const keep = new Set([
    ...members.map((member) => member.userId),
    ...former.filter((user) => user.removedSeq > deliveredThrough).map((user) => user.userId),
  ]);
  const stale = [...groupWork.listing.values()].filter((connection) => !keep.has(connection.userId));
  if (stale.length === 0) return;
  const staleIds = new Set(stale.map((connection) => connection.connectionId));
  try {
    await deps.groupConnections.removeConnections(conversationId, [...staleIds]);
    const known = recent.get(conversationId);
    if (known) {
      recent.set(
        conversationId,
        known.filter((connection) => !staleIds.has(connection.connectionId)),
        { noUpdateTTL: true },
      );
    }
  } catch (error) {
    deps.logger.warn('removing former members from the group connections failed', { conversationId, error });
  }
}
