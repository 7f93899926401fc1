/**
 * Turns what the load generator saw and what the probes recorded into the figures of one
 * rate: latency, whether the rate was sustained, and what each message consumed (where
 * the time went is in segments.ts).
 */
import type { FunctionId } from '../definitions/functions.js';
import { serviceNameOf } from '../definitions/metrics.js';
import { TABLES, type TableDefinition } from '../definitions/tables.js';
import type { CpuUse } from './cpu.js';
import { addRequestUnits, type TableUnits } from './dynamodb-units.js';
import { emfLines } from './invocation-output.js';
import type { DeviceSpec, RunResult } from './load-protocol.js';
import type { PhaseRecord } from './probes.js';
import { type Distribution, distribution, mean } from './stats.js';

/** A rate is sustained when at least this share of it gets through... */
const SUSTAINED_SHARE = 0.95;
/** ...with a p99 under this... */
const SUSTAINED_P99_MS = 1000;

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

// ------------------------------------------------------------------------------ what a message costs

export interface PerMessage {
  /** By table id: capacity units as AWS bills them and as DynamoDB Local reported them, requests, items read. */
  dynamodb: Record<string, TableUnits>;
  kinesisRecords: number;
  kinesisBytes: number;
  /** What on-demand Kinesis bills as data in: each record rounded up to a whole KB. */
  kinesisBilledKb?: number;
  posts: number;
  postBytes: number;
  /** Frames clients sent that invoked a route, and the route responses that went back. */
  framesIn: number;
  routeResponses: number;
  routeResponseBytes?: number;
  /** Lines the handlers log at INFO and above (the deployed level) and their bytes, as Powertools writes them. */
  logLines?: number;
  logBytes?: number;
  /** EMF lines (one per invocation that recorded a metric) and their bytes. */
  metricLines?: number;
  metricBytes?: number;
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
]);

/** Divides a count of the phase by its messages. */
type PerMessageOf = (value: number) => number;

/** The sum of two tables' units (the first may be missing). */
function addUnits(sum: TableUnits | undefined, units: TableUnits): TableUnits {
  if (!sum) return { ...units };
  return {
    read: sum.read + units.read,
    write: sum.write + units.write,
    reportedRead: sum.reportedRead + units.reportedRead,
    reportedWrite: sum.reportedWrite + units.reportedWrite,
    requests: sum.requests + units.requests,
    itemsRead: sum.itemsRead + units.itemsRead,
    keptBytes: (sum.keptBytes ?? 0) + (units.keptBytes ?? 0),
    expiringBytes: (sum.expiringBytes ?? 0) + (units.expiringBytes ?? 0),
  };
}

/** DynamoDB units per message by table id (and by function), and the requests that failed by error name. */
function dynamoDbPerMessage(
  phase: PhaseRecord,
  tableIdOf: ReadonlyMap<string, string>,
  per: PerMessageOf,
): { dynamodb: Record<string, TableUnits>; dynamodbErrors: Record<string, number> } {
  const byTable = new Map<string, TableUnits>();
  const dynamodbErrors: Record<string, number> = {};
  const ttlAttributeOf = (table: string) =>
    (TABLES as readonly TableDefinition[]).find((definition) => definition.id === tableIdOf.get(table))
      ?.timeToLiveAttribute;
  /** Table name → function → units, so that each table's line can say who uses it. */
  const byFunction = new Map<string, Map<string, { read: number; write: number }>>();
  for (const request of phase.dynamodb) {
    if (request.error) dynamodbErrors[request.error] = (dynamodbErrors[request.error] ?? 0) + 1;
    const own = new Map<string, TableUnits>();
    addRequestUnits(
      own,
      request.operation,
      request.input,
      request.consumed,
      request.itemsRead,
      request.error ? undefined : { ttlAttributeOf },
      request.foundByTable,
    );
    for (const [table, units] of own) {
      byTable.set(table, addUnits(byTable.get(table), units));
      const functions = byFunction.get(table) ?? new Map<string, { read: number; write: number }>();
      byFunction.set(table, functions);
      const functionId = request.functionId ?? 'stack';
      const sum = functions.get(functionId) ?? { read: 0, write: 0 };
      functions.set(functionId, { read: sum.read + units.read, write: sum.write + units.write });
    }
  }
  const dynamodb: Record<string, TableUnits> = {};
  for (const [table, units] of byTable) {
    const functions = [...(byFunction.get(table) ?? [])].map(
      ([functionId, sum]) => [functionId, { read: per(sum.read), write: per(sum.write) }] as const,
    );
    dynamodb[tableIdOf.get(table) ?? table] = {
      read: per(units.read),
      write: per(units.write),
      reportedRead: per(units.reportedRead),
      reportedWrite: per(units.reportedWrite),
      requests: per(units.requests),
      itemsRead: per(units.itemsRead),
      keptBytes: per(units.keptBytes ?? 0),
      expiringBytes: per(units.expiringBytes ?? 0),
      byFunction: Object.fromEntries(functions),
    };
  }
  return { dynamodb, dynamodbErrors };
}

type InvocationFigures = Pick<
  PerMessage,
  | 'invocations'
  | 'durationMs'
  | 'framesIn'
  | 'routeResponses'
  | 'routeResponseBytes'
  | 'logLines'
  | 'logBytes'
  | 'metricLines'
  | 'metricBytes'
>;

/** Invocations and their wall time per message by function, the route frames in and out, and what they log. */
function invocationsPerMessage(phase: PhaseRecord, per: PerMessageOf): InvocationFigures {
  const invocations: Partial<Record<FunctionId, number>> = {};
  const durationMs: Partial<Record<FunctionId, number>> = {};
  const totals = { framesIn: 0, routeResponses: 0, routeResponseBytes: 0, logLines: 0, logBytes: 0 };
  const metrics = { lines: 0, bytes: 0 };
  const serviceName = serviceNameOf('prod');
  for (const invocation of phase.invocations) {
    invocations[invocation.functionId] = (invocations[invocation.functionId] ?? 0) + 1;
    durationMs[invocation.functionId] =
      (durationMs[invocation.functionId] ?? 0) + invocation.end - invocation.start;
    if (ROUTE_FUNCTIONS.has(invocation.functionId) && invocation.functionId !== 'connect') totals.framesIn++;
    if (invocation.responded) totals.routeResponses++;
    totals.routeResponseBytes += invocation.responseBytes ?? 0;
    totals.logLines += invocation.output?.logLines ?? 0;
    totals.logBytes += invocation.output?.logBytes ?? 0;
    const emf = emfLines(invocation.output?.metrics ?? [], serviceName);
    metrics.lines += emf.lines;
    metrics.bytes += emf.bytes;
  }
  for (const key of Object.keys(invocations) as FunctionId[]) {
    invocations[key] = per(invocations[key] as number);
    durationMs[key] = per(durationMs[key] as number);
  }
  return {
    invocations,
    durationMs,
    framesIn: per(totals.framesIn),
    routeResponses: per(totals.routeResponses),
    routeResponseBytes: per(totals.routeResponseBytes),
    logLines: per(totals.logLines),
    logBytes: per(totals.logBytes),
    metricLines: per(metrics.lines),
    metricBytes: per(metrics.bytes),
  };
}

function sequencingFigures(
  phase: PhaseRecord,
  tableIdOf: ReadonlyMap<string, string>,
  per: PerMessageOf,
): ServerFigures['sequencing'] {
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
  return {
    retriesPerMessage: per(lostRaces),
    writePerStore: stored ? sumOf(storeUnits, (u) => u.write) / stored : Number.NaN,
    readPerLastSeq: stored ? sumOf(readUnits, (u) => u.read) / stored : Number.NaN,
  };
}

/** Bytes of each record put on the stream: its data and its partition key. */
function recordBytesOf(phase: PhaseRecord): number[] {
  return phase.publishes.map((publish) => {
    const event = publish.event as { conversationId?: string; userId?: string };
    const partitionKey = event.conversationId ?? `presence:${event.userId}`;
    return Buffer.byteLength(JSON.stringify(publish.event)) + Buffer.byteLength(partitionKey);
  });
}

function fanoutBatchFigures(phase: PhaseRecord): ServerFigures['fanoutBatch'] {
  const fanouts = phase.invocations.filter((invocation) => invocation.functionId === 'fanout');
  const records = fanouts.reduce(
    (total, invocation) => total + (Array.isArray(invocation.event) ? invocation.event.length : 0),
    0,
  );
  return {
    invocations: fanouts.length,
    recordsPerInvocation: fanouts.length ? records / fanouts.length : Number.NaN,
    meanMs: mean(fanouts.map((invocation) => invocation.end - invocation.start)),
  };
}

function getRecordsFigures(phase: PhaseRecord, phaseMs: number): ServerFigures['getRecords'] {
  const getRecordsRecords = phase.getRecords.reduce((total, call) => total + call.records, 0);
  return {
    perSecond: phaseMs > 0 ? (phase.getRecords.length * 1000) / phaseMs : Number.NaN,
    meanMs: mean(phase.getRecords.map((call) => call.end - call.start)),
    recordsPerCall: phase.getRecords.length ? getRecordsRecords / phase.getRecords.length : Number.NaN,
  };
}

export function analyzeServer(
  phase: PhaseRecord,
  messages: number,
  tableIdOf: ReadonlyMap<string, string>,
  cpu: CpuUse,
  phaseMs: number,
): ServerFigures {
  const per = (value: number) => (messages > 0 ? value / messages : Number.NaN);
  const { dynamodb, dynamodbErrors } = dynamoDbPerMessage(phase, tableIdOf, per);
  const invocationFigures = invocationsPerMessage(phase, per);
  const recordBytes = recordBytesOf(phase);
  const cores = Object.fromEntries(
    Object.entries(cpu.ms).map(([role, ms]) => [role, cpu.wallMs > 0 ? ms / cpu.wallMs : Number.NaN]),
  ) as CpuUse['ms'];
  return {
    perMessage: {
      dynamodb,
      kinesisRecords: per(phase.publishes.length),
      kinesisBytes: per(recordBytes.reduce((total, bytes) => total + bytes, 0)),
      kinesisBilledKb: per(
        recordBytes.reduce((total, bytes) => total + Math.max(1, Math.ceil(bytes / 1024)), 0),
      ),
      posts: per(phase.posts.length),
      postBytes: per(phase.posts.reduce((total, post) => total + Buffer.byteLength(post.frame), 0)),
      ...invocationFigures,
      cpuMs: Object.fromEntries(Object.entries(cpu.ms).map(([role, ms]) => [role, per(ms)])) as CpuUse['ms'],
    },
    fanoutBatch: fanoutBatchFigures(phase),
    connectionLookupMs: mean(phase.connectionLookups.map((call) => call.end - call.start)),
    listUpdateMs: mean(phase.listUpdates.map((call) => call.end - call.start)),
    getRecords: getRecordsFigures(phase, phaseMs),
    dynamodbErrors,
    sequencing: sequencingFigures(phase, tableIdOf, per),
    cores,
    machine: cpu.machine,
  };
}
