/**
 * Kinesis consumer: delivers each conversation event (messages, receipts) to every
 * connection of every member, then brings both members' conversation-list entries up to
 * date. Records of one conversation are handled in stream order; conversations in
 * parallel. A failed record and the later records of its conversation are reported as
 * batch item failures, so Lambda retries from there (posting again is harmless; the list
 * merge is idempotent). A record that is not a valid event is logged and skipped, since
 * no retry could ever deliver it.
 */
import type {
  Context,
  KinesisStreamBatchResponse,
  KinesisStreamEvent,
  KinesisStreamRecord,
} from 'aws-lambda';
import { membersOf } from '../domain/conversation.js';
import { applyToEntry } from '../domain/conversation-list.js';
import { deliverToMembers, postToUsers } from '../domain/fanout.js';
import type { ConversationEvent } from '../domain/ports.js';
import { type DepsProvider, depsFromEnvironment } from '../runtime.js';

/** The filter the event source mapping applies, in AWS and locally: presence has its own consumer. */
export const FANOUT_EVENT_TYPES = ['message', 'receipt'] as const;

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

export function createFanoutHandler(deps: DepsProvider) {
  /** Both members' entries, with every event of the batch merged in one write each. */
  async function updateConversationLists(conversationId: string, events: ConversationEvent[]): Promise<void> {
    if (events.length === 0) return;
    const members = membersOf(conversationId) ?? [];
    await Promise.all(
      members.map((userId) =>
        deps().conversationList.update(userId, conversationId, (current) =>
          applyToEntry(conversationId, current, events),
        ),
      ),
    );
  }

  return async (batch: KinesisStreamEvent, _context?: Context): Promise<KinesisStreamBatchResponse> => {
    const { logger, now, connections, pusher, config } = deps();
    const byConversation = new Map<string, KinesisStreamRecord[]>();
    for (const record of batch.Records) {
      const key = record.kinesis.partitionKey;
      byConversation.set(key, [...(byConversation.get(key) ?? []), record]);
    }
    const failed: string[] = [];
    await Promise.all(
      [...byConversation.values()].map(async (records) => {
        const delivered: Array<{ event: ConversationEvent; frame: string }> = [];
        /** How many of the delivered events each connection was posted. */
        const postsPerConnection = new Map<string, number>();
        let failedFrom: number | undefined;
        let conversationId: string | undefined;
        for (const [index, record] of records.entries()) {
          const decoded = decodeEvent(record);
          if (!decoded) {
            logger.error('skipping a record that is not a conversation event', {
              sequenceNumber: record.kinesis.sequenceNumber,
            });
            continue;
          }
          const { event, frame } = decoded;
          conversationId = event.conversationId;
          try {
            const report = await deliverToMembers(
              { connections, pusher, postConcurrency: config.postConcurrency },
              event.conversationId,
              frame,
            );
            delivered.push(decoded);
            for (const id of report.connectionIds)
              postsPerConnection.set(id, (postsPerConnection.get(id) ?? 0) + 1);
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
            failedFrom = index;
            break;
          }
        }
        // What was delivered is checkpointed unless reported: its list updates must land now.
        if (conversationId && delivered.length > 0) {
          try {
            await updateConversationLists(
              conversationId,
              delivered.map(({ event }) => event),
            );
            // A device that connected after the connections were read, and asked for its
            // list before the write above, has neither the events nor the entry: look once
            // more, now that the entry is written, and post every event to whoever missed any.
            const postedAll = new Set(
              [...postsPerConnection].filter(([, count]) => count === delivered.length).map(([id]) => id),
            );
            const late = await postToUsers(
              { connections, pusher, postConcurrency: config.postConcurrency },
              membersOf(conversationId) ?? [],
              delivered.map(({ frame }) => frame),
              postedAll,
            );
            if (late.connectionIds.size > 0)
              logger.info('posted to late connections', { conversationId, ...late });
          } catch (error) {
            logger.warn('conversation list update failed; the stream will retry', { conversationId, error });
            failedFrom = 0;
          }
        }
        // Keep the conversation's order: the failed record and every later one are retried.
        if (failedFrom !== undefined) {
          for (const record of records.slice(failedFrom)) failed.push(record.kinesis.sequenceNumber);
        }
      }),
    );
    return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
  };
}

export const handler = createFanoutHandler(depsFromEnvironment());
