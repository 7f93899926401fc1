/**
 * Kinesis consumer: delivers each conversation event (messages, receipts) to every
 * connection of every member and, meanwhile, brings both members' conversation-list
 * entries up to date. Records of one conversation are handled in stream order;
 * conversations in parallel. Each member's connections are looked up once per batch after
 * the list write; the posts use what an earlier batch read so, if it is recent. A
 * failed record and the later records of its conversation are reported as batch item
 * failures, so Lambda retries from there (posting again is harmless; the list merge is
 * idempotent). A record that is not a valid event is logged and skipped, since no retry
 * could ever deliver it.
 */
import { membersOf } from '@parley/protocol';
import type { KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { LRUCache } from 'lru-cache';
import { MetricName } from '../../definitions/metrics.js';
import { fanoutConsumer } from '../../definitions/stream-consumers.js';
import { applyToEntry } from '../domain/conversation-list.js';
import { deliverToMembers, type FanoutDeps, postToUsers } from '../domain/fanout.js';
import type {
  Connection,
  ConnectionStore,
  ConversationEntryState,
  ConversationEvent,
} from '../domain/ports.js';
import { streamConsumer } from '../middleware/lambda-function.js';
import { type DepsProvider, depsFromEnvironment } from '../runtime.js';

/** The filter the event source mapping applies, in AWS and locally: presence has its own consumer. */
export const FANOUT_EVENT_TYPES = fanoutConsumer.eventTypes;

function decodeEvent(record: KinesisStreamRecord): { event: ConversationEvent; frame: string } | undefined {
  const frame = Buffer.from(record.kinesis.data, 'base64').toString('utf8');
  try {
    const event = JSON.parse(frame) as ConversationEvent;
    if (!(FANOUT_EVENT_TYPES as readonly string[]).includes(event?.type)) return undefined;
    if (typeof event.conversationId !== 'string' || typeof event.seq !== 'number') return undefined;
    // An event naming no conversation can never be delivered: retrying it would only hold up the shard.
    if (!membersOf(event.conversationId)) return undefined;
    return { event, frame };
  } catch {
    return undefined;
  }
}

type EntryChange = (current: ConversationEntryState | undefined) => ConversationEntryState | undefined;

interface DecodedEvent {
  /** The index of its record among the conversation's records. */
  index: number;
  event: ConversationEvent;
  frame: string;
}

interface ConversationWork {
  conversationId?: string;
  records: KinesisStreamRecord[];
  /** The records that are conversation events, in stream order. */
  events: DecodedEvent[];
  delivered: DecodedEvent[];
  /** How many of the delivered events each connection was posted. */
  postsPerConnection: Map<string, number>;
  /** The first record to report for retry, if any. */
  failedFrom?: number;
}

/** Reports `index` and every later record of the conversation for retry. */
function failFrom(work: ConversationWork, index: number): void {
  work.failedFrom = Math.min(work.failedFrom ?? index, index);
}

/**
 * How long the connections a batch read after its list write may serve the first posts of
 * later batches. Safe at any age: a connection missing from them is found by the look
 * after the list write, which always reads, and one that is gone answers 410.
 */
export const RECENT_CONNECTIONS_MS = 10_000;
/** Users whose recent connections an instance keeps, least recently used dropped first. */
const RECENT_USERS = 10_000;

/**
 * Each user's connections as the last look after a list write read them, aged from when
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
 * The connection store as one look of a batch sees it: each user's connections are read
 * once (a failed read is tried again by the next caller), or taken from `recent` when the
 * look need not be fresh; a fresh read is kept in `recent`. A connection deleted as gone
 * (added to `gone`, which the batch's looks share) is left out from then on, so that the
 * batch does not post to it again.
 */
function lookOnce(
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

export function createFanoutHandler(deps: DepsProvider) {
  const recent = recentConnections(() => deps().now());
  function fanoutDeps(connections: ConnectionStore): FanoutDeps {
    const { pusher, metrics, config, now } = deps();
    return { connections, pusher, metrics, now, postConcurrency: config.postConcurrency };
  }

  /** Counts a successful post of `event` to a device, and a message's time from commit. */
  function recordPosted(event: ConversationEvent): void {
    const { metrics, now } = deps();
    metrics.record(MetricName.EventsDelivered, 1);
    if (event.type === 'message' && Number.isFinite(event.serverTs)) {
      metrics.record(MetricName.DeliveryLatency, now() - event.serverTs);
    }
  }

  /** Decodes a conversation's records; a record that is not a conversation event is logged and skipped. */
  function decodeWork(records: KinesisStreamRecord[]): ConversationWork {
    const { logger } = deps();
    const work: ConversationWork = { records, events: [], delivered: [], postsPerConnection: new Map() };
    for (const [index, record] of records.entries()) {
      const decoded = decodeEvent(record);
      if (!decoded) {
        logger.error('skipping a record that is not a conversation event', {
          sequenceNumber: record.kinesis.sequenceNumber,
        });
        continue;
      }
      work.conversationId = decoded.event.conversationId;
      work.events.push({ index, ...decoded });
    }
    return work;
  }

  /** Posts a conversation's events in stream order, stopping at the first that fails. */
  async function deliver(work: ConversationWork, connections: ConnectionStore): Promise<void> {
    const { logger, now } = deps();
    for (const decoded of work.events) {
      const { index, event, frame } = decoded;
      try {
        const report = await deliverToMembers(fanoutDeps(connections), event.conversationId, frame, () =>
          recordPosted(event),
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
   * unless reported, so its entries must be written before the handler returns. An event
   * whose post fails is in its entries already; its retry merges nothing new (the merge
   * is monotone). One write per user for the whole batch, since one user's entries share
   * the user's clock.
   */
  async function updateConversationLists(works: ConversationWork[]): Promise<void> {
    const { logger, conversationList } = deps();
    const byUser = new Map<string, Map<string, EntryChange>>();
    const worksOfUser = new Map<string, ConversationWork[]>();
    for (const work of works) {
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
    const settled = await conversationList.updateManyUsers(byUser);
    for (const userId of byUser.keys()) {
      const outcome = settled.get(userId);
      if (outcome?.status === 'fulfilled') continue;
      logger.warn('conversation list update failed; the stream will retry', {
        userId,
        error: outcome?.reason,
      });
      for (const work of worksOfUser.get(userId) ?? []) failFrom(work, 0);
    }
  }

  /**
   * A device that connected after the connections were read, and asked for its list
   * before the list write, has neither the events nor the entry: look once more, now that
   * the entry is written, and post every event to whoever missed any (a connection still
   * in its handshake at the first post included, docs/adr/0002-gone-during-handshake.md).
   */
  async function postToLateConnections(work: ConversationWork, connections: ConnectionStore): Promise<void> {
    const { logger } = deps();
    if (!work.conversationId || work.delivered.length === 0 || work.failedFrom === 0) return;
    const postedAll = new Set(
      [...work.postsPerConnection].filter(([, count]) => count === work.delivered.length).map(([id]) => id),
    );
    try {
      const { delivered } = work;
      const late = await postToUsers(
        fanoutDeps(connections),
        membersOf(work.conversationId) ?? [],
        delivered.map(({ frame }) => frame),
        {
          skip: postedAll,
          onPosted: (index) => {
            const posted = delivered[index];
            if (posted) recordPosted(posted.event);
          },
        },
      );
      if (late.connectionIds.size > 0) {
        logger.info('posted to late connections', {
          conversationId: work.conversationId,
          seqs: delivered.map(({ event }) => event.seq),
          connections: late.connectionIds.size,
        });
      }
    } catch (error) {
      logger.warn('posting to late connections failed; the stream will retry', {
        conversationId: work.conversationId,
        error,
      });
      failFrom(work, 0);
    }
  }

  const handle = async (batch: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> => {
    const byConversation = new Map<string, KinesisStreamRecord[]>();
    for (const record of batch.Records) {
      const key = record.kinesis.partitionKey;
      const records = byConversation.get(key) ?? [];
      records.push(record);
      byConversation.set(key, records);
    }
    const works = [...byConversation.values()].map(decodeWork);
    const { connections, now } = deps();
    // The list write does not wait for the posts, nor the posts for it.
    const listsWritten = updateConversationLists(works).catch((error: unknown) => {
      deps().logger.warn('conversation list update failed; the stream will retry', { error });
      for (const work of works) failFrom(work, 0);
    });
    const gone = new Set<string>();
    // Recent connections are enough for the first posts: the second look repairs what they miss.
    const firstLook = lookOnce(connections, gone, recent, { fresh: false, now });
    await Promise.all(works.map((work) => deliver(work, firstLook)));
    await listsWritten;
    // The second look starts after the list write has ended, each user's connections read once again.
    const secondLook = lookOnce(connections, gone, recent, { fresh: true, now });
    await Promise.all(works.map((work) => postToLateConnections(work, secondLook)));
    // Keep each conversation's order: a failed record and every later one are retried.
    const failed = works.flatMap((work) =>
      work.failedFrom === undefined
        ? []
        : work.records.slice(work.failedFrom).map((r) => r.kinesis.sequenceNumber),
    );
    return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
  };
  return streamConsumer(deps, handle);
}

export const handler = createFanoutHandler(depsFromEnvironment('fanout'));
