/**
 * The fanout's batch policy: what happens to one batch of stream records. Records are
 * grouped by partition key, one conversation (or one slice of a group's delivery,
 * `group-slices.ts`) each; a conversation's events are delivered in stream order,
 * conversations in parallel, a group's as `group-fanout.ts` says. Meanwhile the members'
 * conversation-list entries are brought up to date. Each member's connections are read once per batch after
 * the list write; the posts before it use the connections an earlier batch read, if that
 * read is recent. A failed record and the later records of its conversation are given back
 * for retry, so the stream retries from there (posting again is harmless; the list merge is
 * idempotent). A record that is not a valid event is logged and skipped, since no retry
 * could ever deliver it.
 */
import { membersOf } from '@parley/protocol';
import { LRUCache } from 'lru-cache';
import { MetricName } from '../../definitions/metrics.js';
import { applyToEntry } from './conversation-list.js';
import { deliverToMembers, postToUsers } from './fanout.js';
import {
  type ConversationWork,
  decodeWork,
  type FanoutBatchDeps,
  failFrom,
  recordPosted,
  recordsToRetry,
  type StreamRecord,
} from './fanout-work.js';
import {
  deliverGroup,
  dropFormerMembers,
  type GroupWork,
  groupEntryChanges,
  hasAdditions,
  postToLateGroupConnections,
  readGroups,
} from './group-fanout.js';
import { deliverSlices } from './group-slices.js';
import type { Connection, ConnectionStore, ConversationEntryState, EntryChange } from './ports.js';

export type { FanoutBatchDeps, StreamRecord } from './fanout-work.js';

/** Delivers one batch; answers the ids of the records to retry, in stream order per conversation. */
export type BatchFanout = (records: readonly StreamRecord[]) => Promise<string[]>;

/**
 * How long the connections a batch read after its list write may serve the first posts of
 * later batches. Safe at any age: a connection missing from them is found by the read
 * after the list write, which every batch makes, and one that is gone answers 410.
 */
export const RECENT_CONNECTIONS_MS = 10_000;
/** Users whose recent connections an instance keeps, least recently used dropped first. */
const RECENT_USERS = 10_000;

/**
 * Each user's connections as the last read after a list write found them, aged from when
 * that read began, on the deps' clock.
 */
function recentConnections(now: () => number): LRUCache<string, Connection[]> {
  return new LRUCache<string, Connection[]>({
    max: RECENT_USERS,
    ttl: RECENT_CONNECTIONS_MS,
    perf: { now },
    // The deps' clock may be a test's, moved by hand: never cache its reading.
    ttlResolution: 0,
  });
}

/**
 * The connection store as one stage of a batch sees it: each user's connections are read
 * once (a failed read is tried again by the next caller), or taken from `recent` when the
 * stage need not read afresh; a fresh read is kept in `recent`. A connection deleted as
 * gone (added to `gone`, which both stages of the batch share) is left out from then on, so
 * that the batch does not post to it again.
 */
function readOnce(
  store: ConnectionStore,
  gone: Set<string>,
  recent: LRUCache<string, Connection[]>,
  { fresh, now }: { fresh: boolean; now: () => number },
): ConnectionStore {
  const lists = new Map<string, Promise<Connection[]>>();
  const read = async (userId: string) => {
    const readAt = now();
    const connections = await store.listConnections(userId);
    recent.set(userId, connections, { start: readAt });
    return connections;
  };
  return {
    putConnection: (connection) => store.putConnection(connection),
    openConnection: (connection, maxPerUser) => store.openConnection(connection, maxPerUser),
    deleteConnection: async (userId, connectionId) => {
      gone.add(connectionId);
      const known = recent.get(userId);
      if (known)
        recent.set(
          userId,
          known.filter((c) => c.connectionId !== connectionId),
          { noUpdateTTL: true },
        );
      await store.deleteConnection(userId, connectionId);
    },
    listConnections: async (userId) => {
      let list = lists.get(userId);
      if (!list) {
        const known = fresh ? undefined : recent.get(userId);
        list = known ? Promise.resolve(known) : read(userId);
        lists.set(userId, list);
        list.catch(() => lists.delete(userId));
      }
      return (await list).filter((connection) => !gone.has(connection.connectionId));
    },
  };
}

/** The records of each partition key (each conversation), in stream order. */
function groupByPartitionKey(records: readonly StreamRecord[]): StreamRecord[][] {
  const byKey = new Map<string, StreamRecord[]>();
  for (const record of records) {
    const group = byKey.get(record.partitionKey) ?? [];
    group.push(record);
    byKey.set(record.partitionKey, group);
  }
  return [...byKey.values()];
}

/** Posts a conversation's events in stream order, stopping at the first that fails. */
async function deliver(
  deps: FanoutBatchDeps,
  work: ConversationWork,
  connections: ConnectionStore,
): Promise<void> {
  const { logger, now } = deps;
  for (const decoded of work.events) {
    const { index, event, frame, reached } = decoded;
    try {
      const report = await deliverToMembers({ ...deps, connections }, event.conversationId, frame, {
        onPosted: () => recordPosted(deps, event),
        ...(reached ? { skip: reached } : {}),
      });
      work.delivered.push(decoded);
      if (report.skipped > 0) deps.metrics.record(MetricName.FastPathSkips, report.skipped);
      // A connection `send` reached has this event: the late posts need not post it again.
      for (const id of new Set([...report.connectionIds, ...(reached ?? [])])) {
        work.postsPerConnection.set(id, (work.postsPerConnection.get(id) ?? 0) + 1);
      }
      logger.debug('delivered', {
        conversationId: event.conversationId,
        type: event.type,
        seq: event.seq,
        delivered: report.delivered,
        gone: report.gone,
        ...(event.type === 'message' ? { latencyFromCommitMs: now() - event.serverTs } : {}),
      });
    } catch (error) {
      logger.warn('delivery failed; the stream will retry', {
        conversationId: event.conversationId,
        seq: event.seq,
        error,
      });
      failFrom(work, index);
      return;
    }
  }
}

/**
 * Brings the members' list entries up to date with the batch's events, while they are
 * posted: every event of the batch is committed already, and a record is checkpointed
 * unless given back, so its entries must be written before the batch ends. An event whose
 * post fails is in its entries already; its retry merges nothing new (the merge is
 * monotone). One write per user for the whole batch, since one user's entries share the
 * user's clock.
 */
async function updateConversationLists(
  deps: FanoutBatchDeps,
  directWorks: readonly ConversationWork[],
  groupWorks: readonly GroupWork[],
): Promise<void> {
  const byUser = new Map<string, Map<string, EntryChange>>();
  const worksOfUser = new Map<string, ConversationWork[]>();
  const add = (work: ConversationWork, userId: string, conversationId: string, change: EntryChange) => {
    const changes = byUser.get(userId) ?? new Map<string, EntryChange>();
    changes.set(conversationId, change);
    byUser.set(userId, changes);
    const worksOfThisUser = worksOfUser.get(userId) ?? [];
    worksOfThisUser.push(work);
    worksOfUser.set(userId, worksOfThisUser);
  };
  for (const work of directWorks) {
    const { conversationId } = work;
    if (!conversationId || work.events.length === 0) continue;
    const events = work.events.map(({ event }) => event);
    for (const userId of membersOf(conversationId) ?? []) {
      add(work, userId, conversationId, (current: ConversationEntryState | undefined) =>
        applyToEntry(conversationId, current, events, userId),
      );
    }
  }
  // A group's entries go to the recipients of its events (a message: the members at its seq).
  for (const groupWork of groupWorks) {
    for (const [userId, change] of groupEntryChanges(groupWork)) {
      add(groupWork.work, userId, groupWork.work.conversationId, change);
    }
  }
  // All members' lists in one write where the store can: one request instead of one per user.
  const settled = await deps.conversationList.updateManyUsers(byUser);
  for (const userId of byUser.keys()) {
    const outcome = settled.get(userId);
    if (outcome?.status === 'fulfilled') continue;
    deps.logger.warn('conversation list update failed; the stream will retry', {
      userId,
      error: outcome?.reason,
    });
    for (const work of worksOfUser.get(userId) ?? []) failFrom(work, 0);
  }
}

/**
 * A device that connected after the connections were read, and asked for its list before
 * the list write, has neither the events nor the entry: read the connections again, now
 * that the entry is written, and post every event to whoever missed any (a connection
 * still in its handshake at the first post included, docs/adr/0002-gone-during-handshake.md).
 */
async function postToLateConnections(
  deps: FanoutBatchDeps,
  work: ConversationWork,
  connections: ConnectionStore,
): Promise<void> {
  if (!work.conversationId || work.delivered.length === 0 || work.failedFrom === 0) return;
  const postedAll = new Set(
    [...work.postsPerConnection].filter(([, count]) => count === work.delivered.length).map(([id]) => id),
  );
  try {
    const { delivered } = work;
    const late = await postToUsers(
      { ...deps, connections },
      membersOf(work.conversationId) ?? [],
      delivered.map(({ frame }) => frame),
      {
        skip: postedAll,
        onPosted: (index) => {
          const posted = delivered[index];
          if (posted) recordPosted(deps, posted.event);
        },
      },
    );
    if (late.connectionIds.size > 0) {
      deps.logger.info('posted to late connections', {
        conversationId: work.conversationId,
        seqs: delivered.map(({ event }) => event.seq),
        connections: late.connectionIds.size,
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
 * The fanout of one instance: the connections its batches read after their list writes
 * serve the posts of its later batches. `deps` is read once per batch.
 */
export function createBatchFanout(deps: () => FanoutBatchDeps): BatchFanout {
  const recent = recentConnections(() => deps().now());
  // The same for groups: each group's indexed connections, as the last read after a list write found them.
  const recentGroups = recentConnections(() => deps().now());
  return async (records) => {
    // A connection dropped as throttled is dropped for the rest of the batch (see FanoutDeps).
    const batchDeps = { ...deps(), dropped: new Set<string>() };
    const { connections, logger, now } = batchDeps;
    const perKey = groupByPartitionKey(records).map((group) => decodeWork(batchDeps, group));
    const directWorks = perKey.filter((work) => work.kind === 'dm');
    // The list entries of a group follow its members at each event: read the groups first.
    const groupWorks = await readGroups(
      batchDeps,
      perKey.filter((work) => work.kind === 'group'),
    );
    const adding = groupWorks.filter(hasAdditions);
    const writeLists = (directs: ConversationWork[], groups: GroupWork[]) =>
      updateConversationLists(batchDeps, directs, groups).catch((error: unknown) => {
        logger.warn('conversation list update failed; the stream will retry', { error });
        for (const work of [...directs, ...groups.map(({ work }) => work)]) failFrom(work, 0);
      });
    // The list write does not wait for the posts, nor the posts for it; but a group that
    // gains members writes its entries before its posts (see group-fanout.ts).
    const listsWritten = writeLists(
      directWorks,
      groupWorks.filter((groupWork) => !adding.includes(groupWork)),
    );
    const gone = new Set<string>();
    // Recent connections are enough for the first posts: the read after the list write repairs what they miss.
    const beforeListWrite = readOnce(connections, gone, recent, { fresh: false, now });
    await Promise.all([
      ...directWorks.map((work) => deliver(batchDeps, work, beforeListWrite)),
      ...groupWorks.map(async (groupWork) => {
        if (adding.includes(groupWork)) {
          await writeLists([], [groupWork]);
          if (groupWork.work.failedFrom === 0) return;
        }
        await deliverGroup(batchDeps, groupWork, beforeListWrite, recentGroups);
      }),
      ...perKey.filter((work) => work.kind === 'slice').map((work) => deliverSlices(batchDeps, work)),
    ]);
    await listsWritten;
    // Starts after the list write has ended: each user's connections are read once again.
    const afterListWrite = readOnce(connections, gone, recent, { fresh: true, now });
    await Promise.all([
      ...directWorks.map((work) => postToLateConnections(batchDeps, work, afterListWrite)),
      ...groupWorks.map((groupWork) =>
        postToLateGroupConnections(batchDeps, groupWork, afterListWrite, recentGroups),
      ),
    ]);
    await Promise.all(groupWorks.map((groupWork) => dropFormerMembers(batchDeps, groupWork, recentGroups)));
    return recordsToRetry(perKey);
  };
}
