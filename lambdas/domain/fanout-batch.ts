/**
 * The fanout's batch policy: what happens to one batch of stream records. Records are
 * grouped by partition key, one conversation each; a conversation's events are delivered
 * in stream order, conversations in parallel. Meanwhile both members' conversation-list
 * entries are brought up to date. Each member's connections are read once per batch after
 * the list write; the posts before it use the connections an earlier batch read, if that
 * read is recent. A failed record and the later records of its conversation are given back
 * for retry, so the stream retries from there (posting again is harmless; the list merge is
 * idempotent). A record that is not a valid event is logged and skipped, since no retry
 * could ever deliver it.
 */
import { membersOf } from '@parley/protocol';
import { LRUCache } from 'lru-cache';
import { MetricName } from '../../definitions/metrics.js';
import { fanoutConsumer } from '../../definitions/stream-consumers.js';
import { applyToEntry } from './conversation-list.js';
import { deliverToMembers, type FanoutDeps, postToUsers } from './fanout.js';
import type {
  Connection,
  ConnectionStore,
  ConversationEntryState,
  ConversationEvent,
  ConversationListStore,
  EntryChange,
  Logger,
} from './ports.js';

/** One record of the stream, as the handler decodes it. */
export interface StreamRecord {
  /** What the stream knows the record by when it is given back for retry (its sequence number). */
  id: string;
  /** The records of one key keep their order. */
  partitionKey: string;
  /** The record's data, as text. */
  data: string;
}

export interface FanoutBatchDeps extends FanoutDeps {
  conversationList: ConversationListStore;
  logger: Logger;
}

/** Delivers one batch; answers the ids of the records to retry, in stream order per conversation. */
export type BatchFanout = (records: readonly StreamRecord[]) => Promise<string[]>;

/** The event a record holds, or undefined when no retry could ever deliver it. */
function parseConversationEvent(data: string): ConversationEvent | undefined {
  try {
    const event = JSON.parse(data) as ConversationEvent;
    if (!(fanoutConsumer.eventTypes as readonly string[]).includes(event?.type)) return undefined;
    if (typeof event.conversationId !== 'string' || typeof event.seq !== 'number') return undefined;
    // An event naming no conversation can never be delivered: retrying it would only hold up the shard.
    if (!membersOf(event.conversationId)) return undefined;
    return event;
  } catch {
    return undefined;
  }
}

interface DecodedEvent {
  /** The index of its record among the conversation's records. */
  index: number;
  event: ConversationEvent;
  /** The record's data, posted as it is. */
  frame: string;
}

interface ConversationWork {
  conversationId?: string;
  records: readonly StreamRecord[];
  /** The records that are conversation events, in stream order. */
  events: DecodedEvent[];
  delivered: DecodedEvent[];
  /** How many of the delivered events each connection was posted. */
  postsPerConnection: Map<string, number>;
  /** The first record to give back for retry, if any. */
  failedFrom?: number;
}

/** Gives `index` and every later record of the conversation back for retry. */
function failFrom(work: ConversationWork, index: number): void {
  work.failedFrom = Math.min(work.failedFrom ?? index, index);
}

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

/** Counts a successful post of `event` to a device, and a message's time from commit. */
function recordPosted(deps: FanoutBatchDeps, event: ConversationEvent): void {
  deps.metrics.record(MetricName.EventsDelivered, 1);
  if (event.type === 'message' && Number.isFinite(event.serverTs)) {
    deps.metrics.record(MetricName.DeliveryLatency, deps.now() - event.serverTs);
  }
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

/** Decodes a conversation's records; a record that is not a conversation event is logged and skipped. */
function decodeWork(deps: FanoutBatchDeps, records: readonly StreamRecord[]): ConversationWork {
  const work: ConversationWork = { records, events: [], delivered: [], postsPerConnection: new Map() };
  for (const [index, record] of records.entries()) {
    const event = parseConversationEvent(record.data);
    if (!event) {
      deps.logger.error('skipping a record that is not a conversation event', { sequenceNumber: record.id });
      continue;
    }
    work.conversationId = event.conversationId;
    work.events.push({ index, event, frame: record.data });
  }
  return work;
}

/** Posts a conversation's events in stream order, stopping at the first that fails. */
async function deliver(
  deps: FanoutBatchDeps,
  work: ConversationWork,
  connections: ConnectionStore,
): Promise<void> {
  const { logger, now } = deps;
  for (const decoded of work.events) {
    const { index, event, frame } = decoded;
    try {
      const report = await deliverToMembers({ ...deps, connections }, event.conversationId, frame, () =>
        recordPosted(deps, event),
      );
      work.delivered.push(decoded);
      for (const id of report.connectionIds) {
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
  perConversation: ConversationWork[],
): Promise<void> {
  const byUser = new Map<string, Map<string, EntryChange>>();
  const worksOfUser = new Map<string, ConversationWork[]>();
  for (const work of perConversation) {
    const { conversationId } = work;
    if (!conversationId || work.events.length === 0) continue;
    const events = work.events.map(({ event }) => event);
    for (const userId of membersOf(conversationId) ?? []) {
      const changes = byUser.get(userId) ?? new Map<string, EntryChange>();
      changes.set(conversationId, (current: ConversationEntryState | undefined) =>
        applyToEntry(conversationId, current, events),
      );
      byUser.set(userId, changes);
      const worksOfThisUser = worksOfUser.get(userId) ?? [];
      worksOfThisUser.push(work);
      worksOfUser.set(userId, worksOfThisUser);
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

/** Keeps each conversation's order: a failed record and every later one are retried. */
function recordsToRetry(perConversation: ConversationWork[]): string[] {
  return perConversation.flatMap((work) =>
    work.failedFrom === undefined ? [] : work.records.slice(work.failedFrom).map((record) => record.id),
  );
}

/**
 * The fanout of one instance: the connections its batches read after their list writes
 * serve the posts of its later batches. `deps` is read once per batch.
 */
export function createBatchFanout(deps: () => FanoutBatchDeps): BatchFanout {
  const recent = recentConnections(() => deps().now());
  return async (records) => {
    const batchDeps = deps();
    const { connections, logger, now } = batchDeps;
    const perConversation = groupByPartitionKey(records).map((group) => decodeWork(batchDeps, group));
    // The list write does not wait for the posts, nor the posts for it.
    const listsWritten = updateConversationLists(batchDeps, perConversation).catch((error: unknown) => {
      logger.warn('conversation list update failed; the stream will retry', { error });
      for (const work of perConversation) failFrom(work, 0);
    });
    const gone = new Set<string>();
    // Recent connections are enough for the first posts: the read after the list write repairs what they miss.
    const beforeListWrite = readOnce(connections, gone, recent, { fresh: false, now });
    await Promise.all(perConversation.map((work) => deliver(batchDeps, work, beforeListWrite)));
    await listsWritten;
    // Starts after the list write has ended: each user's connections are read once again.
    const afterListWrite = readOnce(connections, gone, recent, { fresh: true, now });
    await Promise.all(perConversation.map((work) => postToLateConnections(batchDeps, work, afterListWrite)));
    return recordsToRetry(perConversation);
  };
}
