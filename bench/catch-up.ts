/**
 * Catch-up cost: a device misses N messages in a conversation whose history is long, comes
 * back, and catches up as the SDK does (`conversations` since its cursor, then `sync` of
 * each conversation that moved, after the last seq it holds). Counted: the DynamoDB items
 * and read units of those requests, and the time they take. The history is written
 * straight into DynamoDB, in the message store's item format, with BatchWriteItem.
 */
import { Agent } from 'node:http';
import { BatchWriteItemCommand, DynamoDBClient, type WriteRequest } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { Message } from '@parley/protocol';
import { directConversationId } from '@parley/protocol';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { LOCAL_CREDENTIALS } from '../lambdas/adapters/aws-clients.js';
import { messageKey } from '../lambdas/adapters/dynamodb-message-store.js';
import { LOCAL_JWT_SECRET } from '../lambdas/config.js';
import { mintToken } from '../lambdas/domain/tokens.js';
import type { RunningLocalStack } from '../local/stack.js';
import { now, sleep } from './clock.js';
import { addRequestUnits, type TableUnits } from './dynamodb-units.js';
import { FrameClient } from './frame-client.js';
import type { PhaseRecord, Probes } from './probes.js';

export interface CatchUpFigures {
  history: number;
  missed: number;
  /** Wall time to write the history. */
  seedMs: number;
  /** `conversations` + `sync` requests until the device holds everything. */
  frames: number;
  messagesReceived: number;
  /** DynamoDB items read, read units (as AWS bills them) and requests, on the tables catch-up reads. */
  itemsRead: number;
  readUnits: number;
  requests: number;
  byTable: Record<string, TableUnits>;
  /** Median wall time of the catch-up over `repetitions` runs, and of each kind of DynamoDB request in it. */
  ms: number;
  repetitions: number;
  requestMs: Record<string, number>;
}

/** The same catch-up is run this many times (it changes nothing), and the median time kept. */
const REPETITIONS = 5;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN;
};

const BATCH = 25;

/** Writes messages 1..count of the conversation, as DynamoDbMessageStore stores them. */
async function seedHistory(
  stack: RunningLocalStack,
  conversationId: string,
  members: [string, string],
  count: number,
  bodyChars: number,
): Promise<number> {
  const started = now();
  const client = new DynamoDBClient({
    region: stack.config.endpoints.region,
    endpoint: stack.config.endpoints.dynamodb,
    credentials: LOCAL_CREDENTIALS,
    requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 32 }) }),
  });
  const table = stack.config.names.conversationsTable;
  const body = 'x'.repeat(bodyChars);
  const serverTs = Date.now() - count;
  const itemOf = (seq: number): WriteRequest => {
    const message: Message = {
      conversationId,
      seq,
      messageId: `seed${String(seq).padStart(10, '0')}`,
      clientMessageId: `seed-${seq}`,
      senderId: members[seq % 2] as string,
      senderDeviceId: 'phone',
      body,
      serverTs: serverTs + seq,
    };
    return { PutRequest: { Item: marshall({ ...message, itemKey: messageKey(seq) }) } };
  };
  let next = 1;
  try {
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next <= count) {
          const first = next;
          next = Math.min(count + 1, next + BATCH);
          let requests: WriteRequest[] = [];
          for (let seq = first; seq < next; seq++) requests.push(itemOf(seq));
          while (requests.length > 0) {
            const answer = await client.send(
              new BatchWriteItemCommand({ RequestItems: { [table]: requests } }),
            );
            requests = answer.UnprocessedItems?.[table] ?? [];
            if (requests.length > 0) await sleep(20);
          }
        }
      }),
    );
  } finally {
    client.destroy();
  }
  return now() - started;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`catch-up: timed out waiting for ${what}`);
    await sleep(20);
  }
}

type ConversationsPage = {
  type: string;
  conversations: Array<{ conversationId: string; lastSeq: number }>;
  cursor: string;
  hasMore: boolean;
};

/** The two users of the measured conversation, and how their devices connect and send. */
interface Scenario {
  stack: RunningLocalStack;
  tag: string;
  reader: string;
  writer: string;
  conversationId: string;
}

async function connect(scenario: Scenario, userId: string, deviceId: string): Promise<FrameClient> {
  const { stack } = scenario;
  return FrameClient.connect(stack.url, {
    token: await mintToken(userId, stack.config.tokens.secret ?? LOCAL_JWT_SECRET),
    deviceId,
  });
}

async function send(scenario: Scenario, client: FrameClient, body: string): Promise<number> {
  const answer = await client.request({
    action: 'send',
    to: scenario.reader,
    clientMessageId: `${scenario.tag}-${body}`,
    body,
  });
  if (answer.type !== 'sent') throw new Error(`catch-up: send failed: ${JSON.stringify(answer)}`);
  return answer.seq as number;
}

/**
 * The reader's phone holds the whole history and one live message, and keeps its cursor;
 * then it goes away. The writer's phone stays connected.
 */
async function holdHistory(
  scenario: Scenario,
  history: number,
): Promise<{ writerPhone: FrameClient; held: number; cursor: string }> {
  const writerPhone = await connect(scenario, scenario.writer, 'phone');
  const phone = await connect(scenario, scenario.reader, 'phone');
  const held = await send(scenario, writerPhone, 'live');
  if (held !== history + 1) throw new Error(`catch-up: the live message got seq ${held}, not ${history + 1}`);
  await phone.waitFor((frame) => frame.type === 'message' && frame.seq === held);
  const cursor = await waitFor('the conversation list entry', async () => {
    const page = (await phone.request({ action: 'conversations' })) as unknown as ConversationsPage;
    const entry = page.conversations.find((e) => e.conversationId === scenario.conversationId);
    return entry?.lastSeq === held ? page.cursor : undefined;
  });
  await phone.close();
  return { writerPhone, held, cursor };
}

/** The writer sends `missed` messages while the reader's phone is away. */
async function sendMissed(scenario: Scenario, writerPhone: FrameClient, held: number, missed: number) {
  for (let i = 0; i < missed; i++) await send(scenario, writerPhone, `missed-${i}`);
  const last = held + missed;
  await waitFor('the missed messages in the conversation list', async () => {
    const page = await scenario.stack.deps.conversationList.listChangedSince(scenario.reader, 0, 10);
    return page.entries.some((e) => e.conversationId === scenario.conversationId && e.lastSeq === last)
      ? true
      : undefined;
  });
}

/** One catch-up as the SDK does it: the conversations moved since the cursor, then a sync of each. */
async function catchUpOnce(
  phone: FrameClient,
  cursor: string,
  conversationId: string,
  held: number,
): Promise<{ frames: number; messagesReceived: number }> {
  let frames = 0;
  let messagesReceived = 0;
  const moved: string[] = [];
  for (let since = cursor, more = true; more; ) {
    const page = (await phone.request({ action: 'conversations', since })) as unknown as ConversationsPage;
    frames++;
    if (page.type !== 'conversations') throw new Error(`catch-up: ${JSON.stringify(page)}`);
    moved.push(...page.conversations.map((e) => e.conversationId));
    since = page.cursor;
    more = page.hasMore;
  }
  for (const id of moved) {
    let afterSeq = id === conversationId ? held : 0;
    for (let more = true; more; ) {
      const page = await phone.request({ action: 'sync', conversationId: id, afterSeq });
      frames++;
      const messages = (page.messages as Array<{ seq: number }> | undefined) ?? [];
      messagesReceived += messages.length;
      afterSeq = messages.at(-1)?.seq ?? afterSeq;
      more = page.hasMore === true && messages.length > 0;
    }
  }
  return { frames, messagesReceived };
}

type CatchUpRun = { ms: number; phase: PhaseRecord };

/** Runs the catch-up REPETITIONS times, each its own probe phase; the counts are those of the last run. */
async function repeatCatchUp(
  probes: Probes,
  catchUp: () => Promise<{ frames: number; messagesReceived: number }>,
): Promise<{ runs: CatchUpRun[]; counts: { frames: number; messagesReceived: number } }> {
  const runs: CatchUpRun[] = [];
  let counts = { frames: 0, messagesReceived: 0 };
  for (let run = 0; run < REPETITIONS; run++) {
    probes.startPhase();
    const started = now();
    counts = await catchUp();
    runs.push({ ms: now() - started, phase: probes.endPhase() });
  }
  return { runs, counts };
}

type DynamoDbRequest = PhaseRecord['dynamodb'][number];

/** Names a request by table, index, operation and what it reads, e.g. `conversations Query (messages)`. */
function requestKind(request: DynamoDbRequest, tableIdOf: ReadonlyMap<string, string>): string {
  const table = tableIdOf.get(request.input.TableName as string) ?? String(request.input.TableName);
  const index = request.input.IndexName ? `.${request.input.IndexName}` : '';
  const condition = String(request.input.KeyConditionExpression ?? '');
  const prefix = (request.input.ExpressionAttributeValues as Record<string, unknown> | undefined)?.[':p'];
  const shape =
    request.input.Limit === 1
      ? ' (last seq)'
      : condition.includes('BETWEEN')
        ? ' (messages)'
        : prefix === 'member#'
          ? ' (receipts)'
          : '';
  return `${table}${index} ${request.operation}${shape}`;
}

/** Each kind of request: the median of its wall times over the runs. */
function medianRequestTimes(
  runs: CatchUpRun[],
  isCatchUp: (request: DynamoDbRequest) => boolean,
  tableIdOf: ReadonlyMap<string, string>,
): Record<string, number> {
  const durations = new Map<string, number[]>();
  for (const run of runs) {
    for (const request of run.phase.dynamodb.filter(isCatchUp)) {
      const key = requestKind(request, tableIdOf);
      durations.set(key, [...(durations.get(key) ?? []), request.end - request.start]);
    }
  }
  return Object.fromEntries([...durations].map(([key, values]) => [key, median(values)]));
}

/** The DynamoDB figures of the catch-up, from the first run's requests on the tables catch-up reads. */
function countReads(
  stack: RunningLocalStack,
  runs: CatchUpRun[],
  tableIdOf: ReadonlyMap<string, string>,
): Pick<CatchUpFigures, 'itemsRead' | 'readUnits' | 'requests' | 'byTable' | 'requestMs'> {
  const phase = runs[0]?.phase as PhaseRecord;
  // Only the tables catch-up reads: $connect's and the presence notifier's requests are not catch-up.
  const byName = new Map<string, TableUnits>();
  const catchUpTables = new Set([
    stack.config.names.conversationsTable,
    stack.config.names.userConversationsTable,
  ]);
  const isCatchUp = (request: DynamoDbRequest) => {
    const table = (request.input.TableName as string | undefined) ?? request.consumed[0]?.TableName;
    return table !== undefined && catchUpTables.has(table);
  };
  for (const request of phase.dynamodb.filter(isCatchUp)) {
    addRequestUnits(byName, request.operation, request.input, request.consumed, request.itemsRead);
  }
  const byTable: Record<string, TableUnits> = {};
  for (const [name, units] of byName) byTable[tableIdOf.get(name) ?? name] = units;
  const totals = [...byName.values()];
  return {
    itemsRead: totals.reduce((total, units) => total + units.itemsRead, 0),
    readUnits: totals.reduce((total, units) => total + units.read, 0),
    requests: totals.reduce((total, units) => total + units.requests, 0),
    byTable,
    requestMs: medianRequestTimes(runs, isCatchUp, tableIdOf),
  };
}

export async function measureCatchUp(
  stack: RunningLocalStack,
  probes: Probes,
  tableIdOf: ReadonlyMap<string, string>,
  options: { history: number; missed: number; bodyChars: number; tag: string },
): Promise<CatchUpFigures> {
  const { history, missed, tag } = options;
  const reader = `catchup-${tag}-reader`;
  const writer = `catchup-${tag}-writer`;
  const conversationId = directConversationId(reader, writer);
  const scenario: Scenario = { stack, tag, reader, writer, conversationId };
  const seedMs = await seedHistory(stack, conversationId, [reader, writer], history, options.bodyChars);
  const { writerPhone, held, cursor } = await holdHistory(scenario, history);
  await sendMissed(scenario, writerPhone, held, missed);

  // It comes back and catches up; only its requests run meanwhile. The catch-up changes
  // nothing, so it is run several times: the counts of the first, the median of the times.
  const phone = await connect(scenario, reader, 'phone');
  const { runs, counts } = await repeatCatchUp(probes, () =>
    catchUpOnce(phone, cursor, conversationId, held),
  );
  const { frames, messagesReceived } = counts;
  const ms = median(runs.map((run) => run.ms));
  await Promise.all([phone.close(), writerPhone.close()]);
  if (messagesReceived !== missed) {
    throw new Error(`catch-up: received ${messagesReceived} messages, not the ${missed} missed`);
  }
  const reads = countReads(stack, runs, tableIdOf);
  return {
    history,
    missed,
    seedMs,
    frames,
    messagesReceived,
    itemsRead: reads.itemsRead,
    readUnits: reads.readUnits,
    requests: reads.requests,
    byTable: reads.byTable,
    ms,
    repetitions: REPETITIONS,
    requestMs: reads.requestMs,
  };
}
