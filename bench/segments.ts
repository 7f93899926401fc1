/**
 * Where the time of a receive goes: each message's way from the client's send to a device,
 * cut into segments by what the probes recorded at each step (send handler, last-seq read,
 * store, stream put, fanout, post).
 */
import type { KinesisStreamRecord } from 'aws-lambda';
import type { DeviceSpec, RunResult } from './load-protocol.js';
import type { PhaseRecord } from './probes.js';
import { distribution, mean } from './stats.js';

export const SEGMENTS = [
  { key: 'toHandler', name: 'client → send handler (WebSocket, gateway emulator)' },
  { key: 'handlerCode', name: 'send handler: own code (middy, zod, sequencing)' },
  { key: 'retries', name: 'send handler: lost seq races (read again, backoff)' },
  { key: 'lastSeq', name: 'DynamoDB: read last seq (Query)' },
  { key: 'store', name: 'DynamoDB: store message + key (TransactWriteItems)' },
  { key: 'put', name: 'Kinesis: PutRecord' },
  { key: 'shardBusy', name: 'stream: shard busy with the previous fanout batch' },
  { key: 'polling', name: 'stream: polling (GetRecords) until fanout starts' },
  { key: 'fanout', name: 'fanout: start → post (connection lookups)' },
  { key: 'post', name: 'post → device (@connections, gateway, WebSocket)' },
] as const;

export type SegmentKey = (typeof SEGMENTS)[number]['key'];

export interface SegmentFigures {
  /** Per receive (message × receiving device): mean and p50 ms of each segment; the means add up to `total`'s. */
  segments: Record<SegmentKey, { mean: number; p50: number }>;
  total: { mean: number; p50: number };
  samples: number;
  /** Receives some timestamp could not be matched for. */
  unmatched: number;
  /** Send handler end → `sent` at the client. */
  sentReturn: { mean: number; p50: number };
  /** The @connections round trip alone. */
  postRoundTrip: { mean: number; p50: number };
}

function decodeRecord(record: KinesisStreamRecord): { type?: string; clientMessageId?: string } {
  try {
    return JSON.parse(Buffer.from(record.kinesis.data, 'base64').toString('utf8'));
  } catch {
    return {};
  }
}

const summary = (values: number[]) => ({ mean: mean(values), p50: distribution(values).p50 });

type Span = { start: number; end: number };
type StoreCall = PhaseRecord['stores'][number];

/** The first send invocation of each client message id. */
function firstSends(phase: PhaseRecord): Map<string, Span> {
  const sends = new Map<string, Span>();
  for (const invocation of phase.invocations) {
    if (invocation.functionId !== 'send' || typeof invocation.event !== 'string') continue;
    const { clientMessageId } = JSON.parse(invocation.event) as { clientMessageId?: string };
    if (clientMessageId && !sends.has(clientMessageId)) sends.set(clientMessageId, invocation);
  }
  return sends;
}

/** By client message id: the attempt that stored the message, and the earliest attempt. */
function storeAttempts(phase: PhaseRecord): {
  stores: Map<string, StoreCall>;
  firstAttempts: Map<string, StoreCall>;
} {
  const stores = new Map<string, StoreCall>();
  const firstAttempts = new Map<string, StoreCall>();
  for (const store of phase.stores) {
    const id = store.message.clientMessageId;
    if (store.status === 'stored') stores.set(id, store);
    const first = firstAttempts.get(id);
    if (!first || store.start < first.start) firstAttempts.set(id, store);
  }
  return { stores, firstAttempts };
}

function lastSeqReadsByConversation(phase: PhaseRecord): Map<string, PhaseRecord['lastSeq']> {
  const lastSeqOf = new Map<string, PhaseRecord['lastSeq']>();
  for (const call of phase.lastSeq) {
    lastSeqOf.set(call.conversationId, [...(lastSeqOf.get(call.conversationId) ?? []), call]);
  }
  return lastSeqOf;
}

/** The first put of each message's stream record. */
function firstPublishes(phase: PhaseRecord): Map<string, Span> {
  const publishes = new Map<string, Span>();
  for (const publish of phase.publishes) {
    const event = publish.event as { type?: string; clientMessageId?: string };
    if (event.type === 'message' && event.clientMessageId && !publishes.has(event.clientMessageId)) {
      publishes.set(event.clientMessageId, publish);
    }
  }
  return publishes;
}

/**
 * By client message id: when the first fanout invocation with its record started, and when
 * the previous invocation of the same shard ended.
 */
function fanoutStarts(phase: PhaseRecord): Map<string, { start: number; previousEnd: number }> {
  // Each shard's fanout invocations in order: a record put while the previous batch of its
  // shard was still being handled waits for that batch (the mapping handles one batch per shard at a time).
  const starts = new Map<string, { start: number; previousEnd: number }>();
  const previousEndOf = new Map<string, number>();
  const fanouts = phase.invocations
    .filter((invocation) => invocation.functionId === 'fanout' && Array.isArray(invocation.event))
    .sort((a, b) => a.start - b.start);
  for (const invocation of fanouts) {
    const records = invocation.event as KinesisStreamRecord[];
    const shardId = records[0]?.eventID.split(':')[0] ?? '';
    const previousEnd = previousEndOf.get(shardId) ?? Number.NEGATIVE_INFINITY;
    previousEndOf.set(shardId, invocation.end);
    for (const record of records) {
      const event = decodeRecord(record);
      if (event.type === 'message' && event.clientMessageId && !starts.has(event.clientMessageId)) {
        starts.set(event.clientMessageId, { start: invocation.start, previousEnd });
      }
    }
  }
  return starts;
}

/** The first post of each message to each device, keyed `clientMessageId|userId/deviceId`. */
function firstPosts(phase: PhaseRecord, devicesByConnection: ReadonlyMap<string, string>): Map<string, Span> {
  const posts = new Map<string, Span>();
  for (const post of phase.posts) {
    if (!post.frame.startsWith('{"type":"message"')) continue;
    const { clientMessageId } = JSON.parse(post.frame) as { clientMessageId?: string };
    const key = `${clientMessageId}|${devicesByConnection.get(post.connectionId)}`;
    if (!posts.has(key)) posts.set(key, post);
  }
  return posts;
}

/** What the probes recorded of each message on its way, indexed to match receives against. */
class MessageTimeline {
  readonly sends: Map<string, Span>;
  readonly stores: Map<string, StoreCall>;
  readonly firstAttempts: Map<string, StoreCall>;
  readonly lastSeqOf: Map<string, PhaseRecord['lastSeq']>;
  readonly publishes: Map<string, Span>;
  readonly fanoutStarts: Map<string, { start: number; previousEnd: number }>;
  readonly posts: Map<string, Span>;

  constructor(phase: PhaseRecord, devicesByConnection: ReadonlyMap<string, string>) {
    this.sends = firstSends(phase);
    ({ stores: this.stores, firstAttempts: this.firstAttempts } = storeAttempts(phase));
    this.lastSeqOf = lastSeqReadsByConversation(phase);
    this.publishes = firstPublishes(phase);
    this.fanoutStarts = fanoutStarts(phase);
    this.posts = firstPosts(phase, devicesByConnection);
  }

  /**
   * The segments of one receive, ms by segment; undefined when some step of the message's
   * way was not recorded.
   */
  segmentsOf(
    message: RunResult['messages'][number],
    device: DeviceSpec,
    arrivedAt: number,
  ): Record<SegmentKey, number> | undefined {
    const id = message.clientMessageId;
    const send = this.sends.get(id);
    const store = this.stores.get(id);
    const publish = this.publishes.get(id);
    const fanout = this.fanoutStarts.get(id);
    const post = this.posts.get(`${id}|${device.userId}/${device.deviceId}`);
    const firstAttempt = this.firstAttempts.get(id);
    if (!send || !store || !publish || !fanout || !post || !firstAttempt) return undefined;
    // The last read of the conversation's seq before an attempt, after the handler started.
    const readBefore = (attempt: { start: number }) =>
      (this.lastSeqOf.get(store.message.conversationId) ?? [])
        .filter((call) => call.start >= send.start && call.end <= attempt.start)
        .at(-1);
    // A send that guessed its seq from the last one its instance committed reads nothing
    // first: its read takes no time, where it would have started.
    const firstRead = readBefore(firstAttempt) ?? { start: firstAttempt.start, end: firstAttempt.start };
    const read = readBefore(store) ?? firstRead;
    const busy = Math.max(0, Math.min(fanout.previousEnd, fanout.start) - publish.end);
    return {
      toHandler: send.start - message.sentAt,
      handlerCode: firstRead.start - send.start + (store.start - read.end) + (publish.start - store.end),
      retries: read.start - firstRead.start,
      lastSeq: read.end - read.start,
      store: store.end - store.start,
      put: publish.end - publish.start,
      shardBusy: busy,
      polling: fanout.start - publish.end - busy,
      fanout: post.start - fanout.start,
      post: arrivedAt - post.start,
    };
  }
}

export function analyzeSegments(
  result: RunResult,
  phase: PhaseRecord,
  devices: DeviceSpec[],
  devicesByConnection: ReadonlyMap<string, string>,
): SegmentFigures {
  const timeline = new MessageTimeline(phase, devicesByConnection);
  const values = Object.fromEntries(SEGMENTS.map(({ key }) => [key, [] as number[]])) as Record<
    SegmentKey,
    number[]
  >;
  const totals: number[] = [];
  let unmatched = 0;
  for (const [index, deviceIndex, arrivedAt] of result.receives) {
    const message = result.messages[index];
    const device = devices[deviceIndex];
    if (!message || !device) continue;
    const segments = timeline.segmentsOf(message, device, arrivedAt);
    if (!segments) {
      unmatched++;
      continue;
    }
    for (const { key } of SEGMENTS) values[key].push(segments[key]);
    totals.push(arrivedAt - message.sentAt);
  }
  const sentReturn: number[] = [];
  for (const message of result.messages) {
    const send = timeline.sends.get(message.clientMessageId);
    if (send && message.answeredAt !== undefined) sentReturn.push(message.answeredAt - send.end);
  }
  return {
    segments: Object.fromEntries(
      SEGMENTS.map(({ key }) => [key, summary(values[key])]),
    ) as SegmentFigures['segments'],
    total: summary(totals),
    samples: totals.length,
    unmatched,
    sentReturn: summary(sentReturn),
    postRoundTrip: summary(phase.posts.map((post) => post.end - post.start)),
  };
}
