/**
 * Kinesis consumer: delivers each conversation event to every connection of every member.
 * Records of one conversation are handled in stream order; conversations in parallel. A
 * failed record and the later records of its conversation are reported as batch item
 * failures, so Lambda retries from there; a record that is not a valid event is logged
 * and skipped, since no retry could ever deliver it.
 */
import type {
  Context,
  KinesisStreamBatchResponse,
  KinesisStreamEvent,
  KinesisStreamRecord,
} from 'aws-lambda';
import { membersOf } from '../domain/conversation.js';
import { deliverToMembers } from '../domain/fanout.js';
import type { ConversationEvent } from '../domain/ports.js';
import { type DepsProvider, depsFromEnvironment } from '../runtime.js';

function decodeEvent(record: KinesisStreamRecord): { event: ConversationEvent; frame: string } | undefined {
  const frame = Buffer.from(record.kinesis.data, 'base64').toString('utf8');
  try {
    const event = JSON.parse(frame) as ConversationEvent;
    if (event?.type !== 'message' || typeof event.conversationId !== 'string') return undefined;
    // An event naming no conversation can never be delivered: retrying it would only hold up the shard.
    if (!membersOf(event.conversationId)) return undefined;
    return { event, frame };
  } catch {
    return undefined;
  }
}

export function createFanoutHandler(deps: DepsProvider) {
  return async (batch: KinesisStreamEvent, _context?: Context): Promise<KinesisStreamBatchResponse> => {
    const { logger, now } = deps();
    const byConversation = new Map<string, KinesisStreamRecord[]>();
    for (const record of batch.Records) {
      const key = record.kinesis.partitionKey;
      byConversation.set(key, [...(byConversation.get(key) ?? []), record]);
    }
    const failed: string[] = [];
    await Promise.all(
      [...byConversation.values()].map(async (records) => {
        for (const [index, record] of records.entries()) {
          const decoded = decodeEvent(record);
          if (!decoded) {
            logger.error('skipping a record that is not a conversation event', {
              sequenceNumber: record.kinesis.sequenceNumber,
            });
            continue;
          }
          const { event, frame } = decoded;
          try {
            const report = await deliverToMembers(
              {
                connections: deps().connections,
                pusher: deps().pusher,
                postConcurrency: deps().config.postConcurrency,
              },
              event.conversationId,
              frame,
            );
            logger.debug('delivered', {
              conversationId: event.conversationId,
              seq: event.seq,
              ...report,
              latencyFromCommitMs: now() - event.serverTs,
            });
          } catch (error) {
            logger.warn('delivery failed; the stream will retry', {
              conversationId: event.conversationId,
              seq: event.seq,
              error,
            });
            // Keep the conversation's order: this record and every later one are retried.
            for (const later of records.slice(index)) failed.push(later.kinesis.sequenceNumber);
            return;
          }
        }
      }),
    );
    return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
  };
}

export const handler = createFanoutHandler(depsFromEnvironment());
