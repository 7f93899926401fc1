/**
 * Kinesis consumer: delivers each conversation event (messages, receipts) to every
 * connection of every member, then brings both members' conversation-list entries up to
 * date. Records of one conversation are handled in stream order; conversations in
 * parallel. A failed record and the later records of its conversation are reported as
 * batch item failures, so Lambda retries from there (posting again is harmless; the list
 * merge is idempotent). A record that is not a valid event is logged and skipped, since
 * no retry could ever deliver it.
 */
import middy from '@middy/core';
import type {
  Context,
  KinesisStreamBatchResponse,
  KinesisStreamEvent,
  KinesisStreamRecord,
} from 'aws-lambda';
import { fanoutConsumer } from '../../lib/event-mappings.js';
import { membersOf } from '../domain/conversation.js';
import { applyToEntry } from '../domain/conversation-list.js';
import { deliverToMembers, type FanoutDeps, postToUsers } from '../domain/fanout.js';
import { MetricName } from '../domain/metrics.js';
import type { ConversationEntryState, ConversationEvent } from '../domain/ports.js';
import { publishMetrics } from '../middleware/publish-metrics.js';
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

interface ConversationWork {
  conversationId?: string;
  records: KinesisStreamRecord[];
  delivered: Array<{ event: ConversationEvent; frame: string }>;
  /** How many of the delivered events each connection was posted. */
  postsPerConnection: Map<string, number>;
  /** The first record to report for retry, if any. */
  failedFrom?: number;
}

export function createFanoutHandler(deps: DepsProvider) {
  function fanoutDeps(): FanoutDeps {
    const { connections, pusher, metrics, config, now } = deps();
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

  /** Posts a conversation's events in stream order, stopping at the first that fails. */
  async function deliver(work: ConversationWork): Promise<void> {
    const { logger, now } = deps();
    for (const [index, record] of work.records.entries()) {
      const decoded = decodeEvent(record);
      if (!decoded) {
        logger.error('skipping a record that is not a conversation event', {
          sequenceNumber: record.kinesis.sequenceNumber,
        });
        continue;
      }
      const { event, frame } = decoded;
      work.conversationId = event.conversationId;
      try {
        const report = await deliverToMembers(fanoutDeps(), event.conversationId, frame, () =>
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
        work.failedFrom = index;
        return;
      }
    }
  }

  /**
   * Brings the members' list entries up to date with what was delivered: what was
   * delivered is checkpointed unless reported, so its entries must be written now. One
   * write per user for the whole batch, since one user's entries share the user's clock.
   */
  async function updateConversationLists(works: ConversationWork[]): Promise<void> {
    const { logger, conversationList } = deps();
    const byUser = new Map<string, Map<string, EntryChange>>();
    const worksOfUser = new Map<string, ConversationWork[]>();
    for (const work of works) {
      const { conversationId } = work;
      if (!conversationId || work.delivered.length === 0) continue;
      const events = work.delivered.map(({ event }) => event);
      for (const userId of membersOf(conversationId) ?? []) {
        const changes = byUser.get(userId) ?? new Map<string, EntryChange>();
        changes.set(conversationId, (current: ConversationEntryState | undefined) =>
          applyToEntry(conversationId, current, events),
        );
        byUser.set(userId, changes);
        worksOfUser.set(userId, [...(worksOfUser.get(userId) ?? []), work]);
      }
    }
    await Promise.all(
      [...byUser].map(async ([userId, changes]) => {
        try {
          await conversationList.updateMany(userId, changes);
        } catch (error) {
          logger.warn('conversation list update failed; the stream will retry', { userId, error });
          for (const work of worksOfUser.get(userId) ?? []) work.failedFrom = 0;
        }
      }),
    );
  }

  /**
   * A device that connected after the connections were read, and asked for its list
   * before the list write, has neither the events nor the entry: look once more, now that
   * the entry is written, and post every event to whoever missed any.
   */
  async function postToLateConnections(work: ConversationWork): Promise<void> {
    const { logger } = deps();
    if (!work.conversationId || work.delivered.length === 0 || work.failedFrom === 0) return;
    const postedAll = new Set(
      [...work.postsPerConnection].filter(([, count]) => count === work.delivered.length).map(([id]) => id),
    );
    try {
      const { delivered } = work;
      const late = await postToUsers(
        fanoutDeps(),
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
      work.failedFrom = 0;
    }
  }

  const handle = async (batch: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> => {
    const byConversation = new Map<string, KinesisStreamRecord[]>();
    for (const record of batch.Records) {
      const key = record.kinesis.partitionKey;
      byConversation.set(key, [...(byConversation.get(key) ?? []), record]);
    }
    const works: ConversationWork[] = [...byConversation.values()].map((records) => ({
      records,
      delivered: [],
      postsPerConnection: new Map(),
    }));
    await Promise.all(works.map(deliver));
    await updateConversationLists(works);
    await Promise.all(works.map(postToLateConnections));
    // Keep each conversation's order: a failed record and every later one are retried.
    const failed = works.flatMap((work) =>
      work.failedFrom === undefined
        ? []
        : work.records.slice(work.failedFrom).map((r) => r.kinesis.sequenceNumber),
    );
    return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
  };
  return middy<KinesisStreamEvent, KinesisStreamBatchResponse, Error, Context>(handle).use(
    publishMetrics(() => deps().metrics),
  );
}

export const handler = createFanoutHandler(depsFromEnvironment());
