/**
 * What the benchmark observes inside the stack's process, without changing what the
 * handlers do: timestamps around every adapter call (through `deps.wrap`) and every
 * function invocation (through the stack's `wrapFunction`), and every DynamoDB and Kinesis
 * request with the capacity DynamoDB reports (an SDK middleware that asks for
 * `ReturnConsumedCapacity: INDEXES`). Hot paths only push to arrays; everything is decoded
 * and matched after the phase.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ConsumedCapacity } from '@aws-sdk/client-dynamodb';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Message } from '@parley/protocol';
import type { Context } from 'aws-lambda';
import type { FunctionId } from '../definitions/functions.js';
import { STREAM_CONSUMERS } from '../definitions/stream-consumers.js';
import type { ParleyDeps } from '../lambdas/runtime.js';
import type { HopDelays } from '../local/latency/hop-delays.js';
import { type FunctionWrapper, type RunningLocalStack, startLocalStack } from '../local/stack.js';
import { now, sleep } from './clock.js';
import type { CpuAttribution } from './cpu.js';
import { countingLogger, countingMetrics, type InvocationOutput } from './invocation-output.js';

export interface Invocation {
  functionId: FunctionId;
  start: number;
  end: number;
  /** The event as invoked: the send frame's body, the Kinesis records. */
  event: unknown;
  /** A route answered with a frame (a route response API Gateway sends back), and its bytes. */
  responded: boolean;
  responseBytes: number;
  failed: boolean;
  /** What the invocation would have written to CloudWatch Logs in AWS. */
  output: InvocationOutput;
}

export interface DynamoDbRequest {
  operation: string;
  input: Record<string, unknown>;
  consumed: ConsumedCapacity[];
  /** Items the request read (Query ScannedCount, GetItem, BatchGetItem responses). */
  itemsRead: number;
  /** A BatchGetItem's items found, by table name. */
  foundByTable?: Record<string, number>;
  /** The function whose invocation made the request; none for the stack's own requests. */
  functionId?: FunctionId;
  error?: string;
  start: number;
  end: number;
}

export interface PhaseRecord {
  invocations: Invocation[];
  lastSeq: Array<{ conversationId: string; start: number; end: number }>;
  stores: Array<{ message: Message; status: string; start: number; end: number }>;
  publishes: Array<{ event: unknown; start: number; end: number }>;
  posts: Array<{ connectionId: string; frame: string; outcome: string; start: number; end: number }>;
  connectionLookups: Array<{ start: number; end: number }>;
  listUpdates: Array<{ start: number; end: number }>;
  dynamodb: DynamoDbRequest[];
  getRecords: Array<{ start: number; end: number; records: number }>;
}

const emptyPhase = (): PhaseRecord => ({
  invocations: [],
  lastSeq: [],
  stores: [],
  publishes: [],
  posts: [],
  connectionLookups: [],
  listUpdates: [],
  dynamodb: [],
  getRecords: [],
});

function itemsReadBy(output: Record<string, unknown>): number {
  if (typeof output.ScannedCount === 'number') return output.ScannedCount;
  if (Array.isArray(output.Items)) return output.Items.length;
  if (output.Item) return 1;
  if (output.Responses && typeof output.Responses === 'object') {
    return Object.values(output.Responses as Record<string, unknown[]>).reduce(
      (total, items) => total + (Array.isArray(items) ? items.length : 0),
      0,
    );
  }
  return 0;
}

/** The items a BatchGetItem found in each table. */
function foundByTableOf(output: Record<string, unknown>): Record<string, number> | undefined {
  if (!output.Responses || typeof output.Responses !== 'object') return undefined;
  return Object.fromEntries(
    Object.entries(output.Responses as Record<string, unknown>).map(([table, items]) => [
      table,
      Array.isArray(items) ? items.length : 0,
    ]),
  );
}

export class Probes {
  #phase: PhaseRecord = emptyPhase();
  #recording = false;
  /** connectionId → `userId/deviceId`, from every `$connect`. */
  readonly devicesByConnection = new Map<string, string>();
  #inFlight = 0;
  /**
   * By stream consumer: records published of the types it takes, and records it has been
   * handed (a retried record counts again).
   */
  readonly #published = new Map<FunctionId, number>();
  readonly #handed = new Map<FunctionId, number>();
  #cpu: CpuAttribution | undefined;
  /** The log lines and metrics of the invocation running in this async context. */
  readonly #output = new AsyncLocalStorage<InvocationOutput>();
  /** The function whose invocation runs in this async context. */
  readonly #invoking = new AsyncLocalStorage<FunctionId>();

  constructor(options: { cpu?: CpuAttribution } = {}) {
    this.#cpu = options.cpu;
  }

  /** Starts a new phase: what was recorded before is dropped. */
  startPhase(): void {
    this.#phase = emptyPhase();
    this.#recording = true;
  }

  endPhase(): PhaseRecord {
    this.#recording = false;
    const phase = this.#phase;
    this.#phase = emptyPhase();
    return phase;
  }

  /** Function invocations still running. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Whether every stream consumer has been handed every event of its types published so far:
   * the push-notifier and the presence-notifier gather records for a second or two before
   * they are invoked, and their reads are part of what a message costs.
   */
  get streamCaughtUp(): boolean {
    return STREAM_CONSUMERS.every(({ id }) => (this.#handed.get(id) ?? 0) >= (this.#published.get(id) ?? 0));
  }

  /**
   * Waits until every stream consumer has been handed every event published and no
   * invocation has run for 300 ms: the list writes and push reads of the last messages are
   * done, no backlog is left. False when that did not happen within `timeoutMs`.
   */
  async settle(timeoutMs = 120_000): Promise<boolean> {
    const deadline = now() + timeoutMs;
    let quietSince = now();
    while (now() < deadline) {
      if (this.inFlight > 0 || !this.streamCaughtUp) quietSince = now();
      else if (now() - quietSince >= 300) return true;
      await sleep(10);
    }
    return false;
  }

  #time<T>(work: () => Promise<T>, record: (start: number, end: number, value?: T) => void): Promise<T> {
    if (!this.#recording) return work();
    const start = now();
    return work().then(
      (value) => {
        record(start, now(), value);
        return value;
      },
      (error: unknown) => {
        record(start, now());
        throw error;
      },
    );
  }

  /** For `deps.wrap`: times the message store, the publisher, the pusher and the fanout's stores. */
  readonly wrapDeps = (deps: ParleyDeps): ParleyDeps => {
    const { messages, publisher, pusher, connections, conversationList } = deps;
    const phase = () => this.#phase;
    const output = () => this.#output.getStore();
    return {
      ...deps,
      logger: countingLogger(deps.logger, deps.config.serviceName, output),
      metrics: countingMetrics(deps.metrics, output),
      messages: {
        lastSeq: (conversationId) =>
          this.#time(
            () => messages.lastSeq(conversationId),
            (start, end) => phase().lastSeq.push({ conversationId, start, end }),
          ),
        storeMessage: (message) =>
          this.#time(
            () => messages.storeMessage(message),
            (start, end, outcome) =>
              phase().stores.push({ message, status: outcome?.status ?? 'failed', start, end }),
          ),
        getMessage: (conversationId, seq) => messages.getMessage(conversationId, seq),
        listMessages: (conversationId, afterSeq, limit) =>
          messages.listMessages(conversationId, afterSeq, limit),
      },
      publisher: {
        publish: (event) => {
          for (const consumer of STREAM_CONSUMERS) {
            if ((consumer.eventTypes as readonly string[]).includes(event.type)) {
              this.#published.set(consumer.id, (this.#published.get(consumer.id) ?? 0) + 1);
            }
          }
          return this.#time(
            () => publisher.publish(event),
            (start, end) => phase().publishes.push({ event, start, end }),
          );
        },
      },
      pusher: {
        post: (connectionId, frame) =>
          this.#time(
            () => pusher.post(connectionId, frame),
            (start, end, outcome) =>
              phase().posts.push({ connectionId, frame, outcome: outcome ?? 'failed', start, end }),
          ),
        disconnect: (connectionId) => pusher.disconnect(connectionId),
      },
      connections: {
        putConnection: (connection) => connections.putConnection(connection),
        openConnection: (connection, maxPerUser) => connections.openConnection(connection, maxPerUser),
        deleteConnection: (userId, connectionId) => connections.deleteConnection(userId, connectionId),
        listConnections: (userId) =>
          this.#time(
            () => connections.listConnections(userId),
            (start, end) => phase().connectionLookups.push({ start, end }),
          ),
      },
      conversationList: {
        updateManyUsers: (changes) =>
          this.#time(
            () => conversationList.updateManyUsers(changes),
            (start, end) => phase().listUpdates.push({ start, end }),
          ),
        listChangedSince: (userId, afterUpdatedAt, limit) =>
          conversationList.listChangedSince(userId, afterUpdatedAt, limit),
        listGroupIds: (userId) => conversationList.listGroupIds(userId),
      },
    };
  };

  /** For the stack's `wrapFunction`: counts and times invocations, and learns which device each connection is. */
  readonly wrapFunction: FunctionWrapper = (functionId, handler) => async (event, context: Context) => {
    if (functionId === 'connect') this.#learnDevice(event);
    const records = (event as { Records?: unknown[] } | undefined)?.Records;
    if (Array.isArray(records))
      this.#handed.set(functionId, (this.#handed.get(functionId) ?? 0) + records.length);
    const start = now();
    this.#inFlight++;
    let responded = false;
    let responseBytes = 0;
    let failed = true;
    const output: InvocationOutput = { logLines: 0, logBytes: 0, metrics: [] };
    try {
      const cpu = this.#cpu;
      const invoke = () =>
        this.#output.run(output, () => this.#invoking.run(functionId, () => handler(event, context)));
      const result = await (cpu?.active ? cpu.run(functionId, invoke) : invoke());
      const body = (result as { body?: unknown } | undefined)?.body;
      responded = typeof body === 'string';
      if (typeof body === 'string') responseBytes = Buffer.byteLength(body);
      failed = false;
      return result;
    } finally {
      this.#inFlight--;
      if (this.#recording) {
        const recorded =
          functionId === 'send'
            ? (event as { body?: string }).body
            : (event as { Records?: unknown }).Records;
        this.#phase.invocations.push({
          functionId,
          start,
          end: now(),
          event: recorded,
          responded,
          responseBytes,
          failed,
          output,
        });
      }
    }
  };

  #learnDevice(event: unknown): void {
    const { requestContext, queryStringParameters } = event as {
      requestContext?: { connectionId?: string; authorizer?: { userId?: unknown } };
      queryStringParameters?: { deviceId?: string } | null;
    };
    const userId = requestContext?.authorizer?.userId;
    if (requestContext?.connectionId && typeof userId === 'string') {
      this.devicesByConnection.set(
        requestContext.connectionId,
        `${userId}/${queryStringParameters?.deviceId ?? ''}`,
      );
    }
  }

  /** Records every DynamoDB request of the stack's client, with the capacity DynamoDB reports. */
  attachDynamoDb(client: DynamoDBDocumentClient): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (!this.#recording) return next(args);
        const input = args.input as Record<string, unknown>;
        input.ReturnConsumedCapacity = 'INDEXES';
        const start = now();
        const request: DynamoDbRequest = {
          operation: (context.commandName ?? 'unknown').replace(/Command$/, ''),
          input,
          consumed: [],
          itemsRead: 0,
          ...(this.#invoking.getStore() ? { functionId: this.#invoking.getStore() } : {}),
          start,
          end: start,
        };
        try {
          const result = await next(args);
          const output = result.output as Record<string, unknown>;
          const consumed = output.ConsumedCapacity as ConsumedCapacity | ConsumedCapacity[] | undefined;
          request.consumed = consumed ? (Array.isArray(consumed) ? consumed : [consumed]) : [];
          request.itemsRead = itemsReadBy(output);
          const found = foundByTableOf(output);
          if (found) request.foundByTable = found;
          return result;
        } catch (error) {
          request.error = (error as { name?: string }).name ?? 'Error';
          throw error;
        } finally {
          request.end = now();
          this.#phase.dynamodb.push(request);
        }
      },
      { step: 'initialize', name: 'benchDynamoDbMeter' },
    );
  }

  /** Times the event source mapping's GetRecords calls (the local stand-in for enhanced fan-out). */
  attachKinesis(client: KinesisClient): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (!this.#recording || context.commandName !== 'GetRecordsCommand') return next(args);
        const start = now();
        const result = await next(args);
        const records = (result.output as { Records?: unknown[] }).Records?.length ?? 0;
        this.#phase.getRecords.push({ start, end: now(), records });
        return result;
      },
      { step: 'initialize', name: 'benchKinesisMeter' },
    );
  }
}

/** A local stack of the benchmark's own, its adapters, invocations and DynamoDB and Kinesis requests probed. */
export async function startProbedStack(
  probes: Probes,
  streamDelayMs: number,
  hopDelays?: HopDelays,
): Promise<RunningLocalStack> {
  const stack = await startLocalStack({
    wsPort: 0,
    // Failed sends are counted from their error frames; the handlers' log lines would only break the tables.
    logLevel: 'SILENT',
    deps: { wrap: probes.wrapDeps },
    wrapFunction: probes.wrapFunction,
    streamDelayMs,
    ...(hopDelays ? { hopDelays } : {}),
  });
  probes.attachDynamoDb(stack.deps.clients.dynamodb);
  probes.attachKinesis(stack.deps.clients.kinesis);
  return stack;
}
