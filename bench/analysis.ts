/**
 * Turns what the load generator saw and what the probes recorded into the figures of one
 * rate: latency, whether the rate was sustained, where the time went, and what each
 * message consumed.
 */
import type { KinesisStreamRecord } from 'aws-lambda';
import type { FunctionId } from '../definitions/functions.js';
import type { CpuUse } from './cpu.js';
import { addRequestUnits, type TableUnits } from './dynamodb-units.js';
import type { DeviceSpec, RunResult } from './load-protocol.js';
import type { PhaseRecord } from './probes.js';
import { type Distribution, distribution, mean } from './stats.js';

/** A rate is sustained when at least this share of it gets through... */
export const SUSTAINED_SHARE = 0.95;
/** ...with a p99 under this... */
export const SUSTAINED_P99_MS = 1000;

export interface Backlog {
  /** p50 of the send → last-device latency of the first and last quarter of the messages, by send time. */
  firstQuarterP50: number;
  lastQuarterP50: number;
  grew: boolean;
}

export interface ClientFigures {
  rate: number;
  messages: number;
  /** What the load generator managed to send, messages a second. */
  offeredRate: number;
  /** Messages delivered to every receiving device a second, between the first and last such delivery. */
  deliveredRate: number;
  /** How late the generator sent, p99 ms (a starved generator would send in bursts). */
  generatorLagP99: number;
  /** Send → arrival at each receiving device (every member device but the sender's). */
  receive: Distribution;
  /** Send → `sent` answer at the sending device. */
  sent: Distribution;
  errors: number;
  missingReceives: number;
  missingAnswers: number;
  duplicates: number;
  /** Last send → last delivery. */
  drainMs: number;
  backlog: Backlog;
  sustained: boolean;
  /** Why not, when not. */
  shortfalls: string[];
}

export function analyzeClient(result: RunResult, devices: DeviceSpec[]): ClientFigures {
  const { messages, receives } = result;
  const devicesOf = new Map<string, number>();
  for (const device of devices) devicesOf.set(device.userId, (devicesOf.get(device.userId) ?? 0) + 1);
  const expected = messages.map((m) => (devicesOf.get(m.from) ?? 0) - 1 + (devicesOf.get(m.to) ?? 0));
  const got = new Array<number>(messages.length).fill(0);
  const completedAt = new Array<number>(messages.length).fill(0);
  const receiveLatencies: number[] = [];
  for (const [index, , arrivedAt] of receives) {
    const message = messages[index];
    if (!message) continue;
    receiveLatencies.push(arrivedAt - message.sentAt);
    got[index] = (got[index] ?? 0) + 1;
    completedAt[index] = Math.max(completedAt[index] ?? 0, arrivedAt);
  }
  const complete = messages.map((_, index) => got[index] === expected[index]);
  const sentLatencies = messages
    .filter((m) => m.answeredAt !== undefined && !m.error)
    .map((m) => (m.answeredAt as number) - m.sentAt);
  const sendTimes = messages.map((m) => m.sentAt);
  const firstSend = Math.min(...sendTimes);
  const lastSend = Math.max(...sendTimes);
  const offeredRate =
    messages.length > 1 ? ((messages.length - 1) * 1000) / (lastSend - firstSend) : result.rate;
  const completions = completedAt.filter((_, index) => complete[index]).sort((a, b) => a - b);
  const deliveredRate =
    completions.length > 1
      ? ((completions.length - 1) * 1000) / ((completions.at(-1) as number) - (completions[0] as number))
      : 0;
  // Backlog: does the time to reach every device grow from the first quarter of the sends to the last?
  const quarter = Math.max(1, Math.floor(messages.length / 4));
  const completeLatency = (index: number) =>
    complete[index]
      ? (completedAt[index] as number) - (messages[index]?.sentAt as number)
      : Number.POSITIVE_INFINITY;
  const byLatency = (indexes: number[]) => distribution(indexes.map(completeLatency)).p50;
  const indexes = messages.map((_, index) => index).sort((a, b) => (sendTimes[a] ?? 0) - (sendTimes[b] ?? 0));
  const firstQuarterP50 = byLatency(indexes.slice(0, quarter));
  const lastQuarterP50 = byLatency(indexes.slice(-quarter));
  const grew = lastQuarterP50 > Math.max(2 * firstQuarterP50, firstQuarterP50 + 50);
  const receive = distribution(receiveLatencies);
  const sent = distribution(sentLatencies);
  const errors = messages.filter((m) => m.error).length;
  const shortfalls: string[] = [];
  const achieved = Math.min(offeredRate, deliveredRate);
  if (achieved < SUSTAINED_SHARE * result.rate) {
    shortfalls.push(`achieved ${achieved.toFixed(1)}/s < ${SUSTAINED_SHARE * 100}% of ${result.rate}/s`);
  }
  if (!(receive.p99 < SUSTAINED_P99_MS))
    shortfalls.push(`p99 ${receive.p99.toFixed(0)} ms ≥ ${SUSTAINED_P99_MS} ms`);
  if (result.missingReceives > 0) shortfalls.push(`${result.missingReceives} deliveries missing`);
  if (errors > 0) shortfalls.push(`${errors} sends answered with an error`);
  if (grew) {
    const last = Number.isFinite(lastQuarterP50) ? `${lastQuarterP50.toFixed(0)} ms` : 'never all delivered';
    shortfalls.push(`backlog grew: p50 ${firstQuarterP50.toFixed(0)} ms → ${last}`);
  }
  return {
    rate: result.rate,
    messages: messages.length,
    offeredRate,
    deliveredRate,
    generatorLagP99: distribution(messages.map((m) => m.sentAt - m.due)).p99,
    receive,
    sent,
    errors,
    missingReceives: result.missingReceives,
    missingAnswers: result.missingAnswers,
    duplicates: result.duplicates,
    drainMs: completions.length ? (completions.at(-1) as number) - lastSend : Number.NaN,
    backlog: { firstQuarterP50, lastQuarterP50, grew },
    sustained: shortfalls.length === 0,
    shortfalls,
  };
}

// ------------------------------------------------------------------------------ where the time goes

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

export function analyzeSegments(
  result: RunResult,
  phase: PhaseRecord,
  devices: DeviceSpec[],
  devicesByConnection: ReadonlyMap<string, string>,
): SegmentFigures {
  const sends = new Map<string, { start: number; end: number }>();
  for (const invocation of phase.invocations) {
    if (invocation.functionId !== 'send' || typeof invocation.event !== 'string') continue;
    const { clientMessageId } = JSON.parse(invocation.event) as { clientMessageId?: string };
    if (clientMessageId && !sends.has(clientMessageId)) sends.set(clientMessageId, invocation);
  }
  const stores = new Map<string, PhaseRecord['stores'][number]>();
  const firstAttempts = new Map<string, PhaseRecord['stores'][number]>();
  for (const store of phase.stores) {
    const id = store.message.clientMessageId;
    if (store.status === 'stored') stores.set(id, store);
    const first = firstAttempts.get(id);
    if (!first || store.start < first.start) firstAttempts.set(id, store);
  }
  const lastSeqOf = new Map<string, PhaseRecord['lastSeq']>();
  for (const call of phase.lastSeq) {
    lastSeqOf.set(call.conversationId, [...(lastSeqOf.get(call.conversationId) ?? []), call]);
  }
  const publishes = new Map<string, { start: number; end: number }>();
  for (const publish of phase.publishes) {
    const event = publish.event as { type?: string; clientMessageId?: string };
    if (event.type === 'message' && event.clientMessageId && !publishes.has(event.clientMessageId)) {
      publishes.set(event.clientMessageId, publish);
    }
  }
  // Each shard's fanout invocations in order: a record put while the previous batch of its
  // shard was still being handled waits for that batch (the mapping handles one batch per shard at a time).
  const fanoutStarts = new Map<string, { start: number; previousEnd: number }>();
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
      if (event.type === 'message' && event.clientMessageId && !fanoutStarts.has(event.clientMessageId)) {
        fanoutStarts.set(event.clientMessageId, { start: invocation.start, previousEnd });
      }
    }
  }
  const posts = new Map<string, { start: number; end: number }>();
  for (const post of phase.posts) {
    if (!post.frame.startsWith('{"type":"message"')) continue;
    const { clientMessageId } = JSON.parse(post.frame) as { clientMessageId?: string };
    const key = `${clientMessageId}|${devicesByConnection.get(post.connectionId)}`;
    if (!posts.has(key)) posts.set(key, post);
  }

  const values: Record<SegmentKey, number[]> = {
    toHandler: [],
    handlerCode: [],
    retries: [],
    lastSeq: [],
    store: [],
    put: [],
    shardBusy: [],
    polling: [],
    fanout: [],
    post: [],
  };
  const totals: number[] = [];
  let unmatched = 0;
  for (const [index, deviceIndex, arrivedAt] of result.receives) {
    const message = result.messages[index];
    const device = devices[deviceIndex];
    if (!message || !device) continue;
    const id = message.clientMessageId;
    const send = sends.get(id);
    const store = stores.get(id);
    const publish = publishes.get(id);
    const fanout = fanoutStarts.get(id);
    const post = posts.get(`${id}|${device.userId}/${device.deviceId}`);
    const firstAttempt = firstAttempts.get(id);
    // The last read of the conversation's seq before an attempt, after the handler started.
    const readBefore = (attempt: { start: number } | undefined) =>
      send && attempt && store
        ? (lastSeqOf.get(store.message.conversationId) ?? [])
            .filter((call) => call.start >= send.start && call.end <= attempt.start)
            .at(-1)
        : undefined;
    if (!send || !store || !publish || !fanout || !post || !firstAttempt) {
      unmatched++;
      continue;
    }
    // A send that guessed its seq from the last one its instance committed reads nothing
    // first: its read takes no time, where it would have started.
    const firstRead = readBefore(firstAttempt) ?? { start: firstAttempt.start, end: firstAttempt.start };
    const read = readBefore(store) ?? firstRead;
    values.toHandler.push(send.start - message.sentAt);
    values.handlerCode.push(
      firstRead.start - send.start + (store.start - read.end) + (publish.start - store.end),
    );
    values.retries.push(read.start - firstRead.start);
    values.lastSeq.push(read.end - read.start);
    values.store.push(store.end - store.start);
    values.put.push(publish.end - publish.start);
    const busy = Math.max(0, Math.min(fanout.previousEnd, fanout.start) - publish.end);
    values.shardBusy.push(busy);
    values.polling.push(fanout.start - publish.end - busy);
    values.fanout.push(post.start - fanout.start);
    values.post.push(arrivedAt - post.start);
    totals.push(arrivedAt - message.sentAt);
  }
  const sentReturn: number[] = [];
  for (const message of result.messages) {
    const send = sends.get(message.clientMessageId);
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

// ------------------------------------------------------------------------------ what a message costs

export interface PerMessage {
  /** By table id: capacity units as AWS bills them and as DynamoDB Local reported them, requests, items read. */
  dynamodb: Record<string, TableUnits>;
  kinesisRecords: number;
  kinesisBytes: number;
  posts: number;
  postBytes: number;
  /** Frames clients sent that invoked a route, and the route responses that went back. */
  framesIn: number;
  routeResponses: number;
  invocations: Partial<Record<FunctionId, number>>;
  /** Wall-clock ms of invocations, by function (what Lambda would bill as duration, locally). */
  durationMs: Partial<Record<FunctionId, number>>;
  /** CPU ms by process. */
  cpuMs: CpuUse['ms'];
}

export interface ServerFigures {
  perMessage: PerMessage;
  /** Records per fanout invocation, and the invocation's mean wall time. */
  fanoutBatch: { invocations: number; recordsPerInvocation: number; meanMs: number };
  /** Mean ms of the fanout's connection lookups and conversation-list writes (off the latency path). */
  connectionLookupMs: number;
  listUpdateMs: number;
  /** The mapping's GetRecords calls: how many a second, mean ms, records per call. */
  getRecords: { perSecond: number; meanMs: number; recordsPerCall: number };
  /** DynamoDB requests that failed, by error name. */
  dynamodbErrors: Record<string, number>;
  /**
   * The sequencing path: transactions that lost the race for a seq, per message, and the
   * units of one winning transaction and the last-seq read units per stored message (a
   * message that does not retry costs exactly these; a send that claims the seq after its
   * instance's last one without reading costs no read).
   */
  sequencing: { retriesPerMessage: number; writePerStore: number; readPerLastSeq: number };
  /** Share of each process's CPU, in cores, over the phase. */
  cores: CpuUse['ms'];
  /** Cores used by other processes on the machine, and stolen by the hypervisor, over the phase. */
  machine: CpuUse['machine'];
}

const ROUTE_FUNCTIONS = new Set<FunctionId>([
  'connect',
  'disconnect',
  'default',
  'send',
  'ack',
  'sync',
  'conversations',
  'typing',
  'subscribe-presence',
  'ping',
]);

export function analyzeServer(
  phase: PhaseRecord,
  messages: number,
  tableIdOf: ReadonlyMap<string, string>,
  cpu: CpuUse,
  phaseMs: number,
): ServerFigures {
  const per = (value: number) => (messages > 0 ? value / messages : Number.NaN);
  const byTable = new Map<string, TableUnits>();
  const dynamodbErrors: Record<string, number> = {};
  for (const request of phase.dynamodb) {
    if (request.error) dynamodbErrors[request.error] = (dynamodbErrors[request.error] ?? 0) + 1;
    addRequestUnits(byTable, request.operation, request.input, request.consumed, request.itemsRead);
  }
  const dynamodb: Record<string, TableUnits> = {};
  for (const [table, units] of byTable) {
    dynamodb[tableIdOf.get(table) ?? table] = {
      read: per(units.read),
      write: per(units.write),
      reportedRead: per(units.reportedRead),
      reportedWrite: per(units.reportedWrite),
      requests: per(units.requests),
      itemsRead: per(units.itemsRead),
    };
  }
  const invocations: Partial<Record<FunctionId, number>> = {};
  const durationMs: Partial<Record<FunctionId, number>> = {};
  let framesIn = 0;
  let routeResponses = 0;
  for (const invocation of phase.invocations) {
    invocations[invocation.functionId] = (invocations[invocation.functionId] ?? 0) + 1;
    durationMs[invocation.functionId] =
      (durationMs[invocation.functionId] ?? 0) + invocation.end - invocation.start;
    if (ROUTE_FUNCTIONS.has(invocation.functionId) && invocation.functionId !== 'connect') framesIn++;
    if (invocation.responded) routeResponses++;
  }
  for (const key of Object.keys(invocations) as FunctionId[]) {
    invocations[key] = per(invocations[key] as number);
    durationMs[key] = per(durationMs[key] as number);
  }
  const storeUnits = new Map<string, TableUnits>();
  const readUnits = new Map<string, TableUnits>();
  let stored = 0;
  for (const request of phase.dynamodb) {
    const table = tableIdOf.get(
      (request.input.TableName as string | undefined) ?? request.consumed[0]?.TableName ?? '',
    );
    const transactTable = tableIdOf.get(
      ((request.input.TransactItems as Array<{ Put?: { TableName?: string } }> | undefined)?.[0]?.Put
        ?.TableName as string | undefined) ?? '',
    );
    if (request.operation === 'TransactWriteItems' && transactTable === 'conversations' && !request.error) {
      stored++;
      addRequestUnits(storeUnits, request.operation, request.input, request.consumed, request.itemsRead);
    }
    if (request.operation === 'Query' && table === 'conversations' && request.input.Limit === 1) {
      addRequestUnits(readUnits, request.operation, request.input, request.consumed, request.itemsRead);
    }
  }
  const sumOf = (units: Map<string, TableUnits>, pick: (u: TableUnits) => number) =>
    [...units.values()].reduce((total, u) => total + pick(u), 0);
  const lostRaces = phase.stores.filter(
    (store) => store.status === 'seq_taken' || store.status === 'conflict',
  ).length;
  const kinesisBytes = phase.publishes.reduce((total, publish) => {
    const event = publish.event as { conversationId?: string; userId?: string };
    const partitionKey = event.conversationId ?? `presence:${event.userId}`;
    return total + Buffer.byteLength(JSON.stringify(publish.event)) + Buffer.byteLength(partitionKey);
  }, 0);
  const fanouts = phase.invocations.filter((invocation) => invocation.functionId === 'fanout');
  const records = fanouts.reduce(
    (total, invocation) => total + (Array.isArray(invocation.event) ? invocation.event.length : 0),
    0,
  );
  const getRecordsRecords = phase.getRecords.reduce((total, call) => total + call.records, 0);
  const cores = Object.fromEntries(
    Object.entries(cpu.ms).map(([role, ms]) => [role, cpu.wallMs > 0 ? ms / cpu.wallMs : Number.NaN]),
  ) as CpuUse['ms'];
  return {
    perMessage: {
      dynamodb,
      kinesisRecords: per(phase.publishes.length),
      kinesisBytes: per(kinesisBytes),
      posts: per(phase.posts.length),
      postBytes: per(phase.posts.reduce((total, post) => total + Buffer.byteLength(post.frame), 0)),
      framesIn: per(framesIn),
      routeResponses: per(routeResponses),
      invocations,
      durationMs,
      cpuMs: Object.fromEntries(Object.entries(cpu.ms).map(([role, ms]) => [role, per(ms)])) as CpuUse['ms'],
    },
    fanoutBatch: {
      invocations: fanouts.length,
      recordsPerInvocation: fanouts.length ? records / fanouts.length : Number.NaN,
      meanMs: mean(fanouts.map((invocation) => invocation.end - invocation.start)),
    },
    connectionLookupMs: mean(phase.connectionLookups.map((call) => call.end - call.start)),
    listUpdateMs: mean(phase.listUpdates.map((call) => call.end - call.start)),
    getRecords: {
      perSecond: phaseMs > 0 ? (phase.getRecords.length * 1000) / phaseMs : Number.NaN,
      meanMs: mean(phase.getRecords.map((call) => call.end - call.start)),
      recordsPerCall: phase.getRecords.length ? getRecordsRecords / phase.getRecords.length : Number.NaN,
    },
    dynamodbErrors,
    sequencing: {
      retriesPerMessage: per(lostRaces),
      writePerStore: stored ? sumOf(storeUnits, (u) => u.write) / stored : Number.NaN,
      readPerLastSeq: stored ? sumOf(readUnits, (u) => u.read) / stored : Number.NaN,
    },
    cores,
    machine: cpu.machine,
  };
}
