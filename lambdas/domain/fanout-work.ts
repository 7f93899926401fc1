/**
 * What the fanout's batch policy and its group delivery share: the records as the handler
 * decodes them, the work of one partition key (a conversation, or one slice of a group's
 * delivery), and the rules for giving records back for retry.
 */
import { conversationKindOf } from '@parley/protocol';
import { MetricName } from '../../definitions/metrics.js';
import { fanoutConsumer } from '../../definitions/stream-consumers.js';
import type { FanoutDeps } from './fanout.js';
import type {
  ConversationEvent,
  ConversationListStore,
  EventPublisher,
  GroupConnectionStore,
  GroupSliceEvent,
  GroupStore,
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
  groups: GroupStore;
  groupConnections: GroupConnectionStore;
  /** Where the slices of a large group's delivery go, for other invocations to post. */
  publisher: EventPublisher;
}

export interface DecodedEvent {
  /** The index of its record among the partition key's records. */
  index: number;
  event: ConversationEvent;
  /** The record's data, posted as it is (less `reached`, when the record has it). */
  frame: string;
  /**
   * The connections `send` posted a message to itself (docs/adr/0008-fast-path.md), and the
   * sending connection when it asked for no echo (protocol 1.5): the fanout posts to neither.
   */
  reached?: ReadonlySet<string>;
}

export interface DecodedSlice {
  index: number;
  slice: GroupSliceEvent;
}

export interface ConversationWork {
  kind: 'dm' | 'group' | 'slice';
  conversationId?: string;
  records: readonly StreamRecord[];
  /** The records that are conversation events, in stream order. */
  events: DecodedEvent[];
  /** The records that are slices of a group's delivery, in stream order. */
  slices: DecodedSlice[];
  delivered: DecodedEvent[];
  /** How many of the delivered events each connection was posted. */
  postsPerConnection: Map<string, number>;
  /** The first record to give back for retry, if any. */
  failedFrom?: number;
}

/** Gives `index` and every later record of the partition key back for retry. */
export function failFrom(work: ConversationWork, index: number): void {
  work.failedFrom = Math.min(work.failedFrom ?? index, index);
}

/** Counts a successful post of `event` to a device, and a message's time from commit. */
export function recordPosted(deps: FanoutDeps, event: ConversationEvent): void {
  deps.metrics.record(MetricName.EventsDelivered, 1);
  if (event.type === 'message' && Number.isFinite(event.serverTs)) {
    deps.metrics.record(MetricName.DeliveryLatency, deps.now() - event.serverTs);
  }
}

type ParsedRecord = { event: ConversationEvent } | { slice: GroupSliceEvent };

/** What a record holds, or undefined when no retry could ever deliver it. */
function parseRecord(data: string): ParsedRecord | undefined {
  try {
    const parsed = JSON.parse(data) as ConversationEvent | GroupSliceEvent;
    if (!(fanoutConsumer.eventTypes as readonly string[]).includes(parsed?.type)) return undefined;
    // An event naming no conversation can never be delivered: retrying it would only hold up the shard.
    if (typeof parsed.conversationId !== 'string' || !conversationKindOf(parsed.conversationId)) {
      return undefined;
    }
    if (parsed.type === 'group-slice') {
      const valid = Array.isArray(parsed.connections) && typeof parsed.event?.type === 'string';
      return valid ? { slice: parsed } : undefined;
    }
    return typeof parsed.seq === 'number' ? { event: parsed } : undefined;
  } catch {
    return undefined;
  }
}

/** Decodes a partition key's records; a record that is not one the fanout can deliver is logged and skipped. */
export function decodeWork(deps: FanoutBatchDeps, records: readonly StreamRecord[]): ConversationWork {
  const work: ConversationWork = {
    kind: 'dm',
    records,
    events: [],
    slices: [],
    delivered: [],
    postsPerConnection: new Map(),
  };
  for (const [index, record] of records.entries()) {
    const parsed = parseRecord(record.data);
    if (!parsed) {
      deps.logger.error('skipping a record that is not a conversation event', { sequenceNumber: record.id });
      continue;
    }
    if ('slice' in parsed) {
      work.kind = 'slice';
      work.conversationId = parsed.slice.conversationId;
      work.slices.push({ index, slice: parsed.slice });
      continue;
    }
    work.conversationId = parsed.event.conversationId;
    work.kind = conversationKindOf(parsed.event.conversationId) === 'group' ? 'group' : 'dm';
    work.events.push({ index, ...withoutReached(parsed.event, record.data) });
  }
  return work;
}

/**
 * A message record names the connections `send` reached: those come off the event, and
 * off the frame posted to devices, which never see them. Any other record is posted as it is.
 */
function withoutReached(
  event: ConversationEvent & { reached?: unknown },
  data: string,
): Pick<DecodedEvent, 'event' | 'frame' | 'reached'> {
  if (!('reached' in event)) return { event, frame: data };
  const { reached, ...rest } = event;
  const ids = Array.isArray(reached) ? reached.filter((id): id is string => typeof id === 'string') : [];
  return { event: rest as ConversationEvent, frame: JSON.stringify(rest), reached: new Set(ids) };
}

/** Keeps each partition key's order: a failed record and every later one are retried. */
export function recordsToRetry(perConversation: readonly ConversationWork[]): string[] {
  return perConversation.flatMap((work) =>
    work.failedFrom === undefined ? [] : work.records.slice(work.failedFrom).map((record) => record.id),
  );
}
