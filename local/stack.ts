/**
 * The local stack: real DynamoDB Local and kinesis-mock, our API Gateway WebSocket
 * emulator and a local Kinesis event source mapping, all driving the very handlers that
 * run in AWS Lambda.
 */

import { MAX_FRAME_BYTES } from '@parley/protocol';
import type { Context } from 'aws-lambda';
import {
  ANSWERED_ROUTES,
  AUTHORIZER_FUNCTION,
  type FunctionId,
  ROUTE_FUNCTIONS,
  STREAM_FUNCTIONS,
} from '../definitions/functions.js';
import type { RateLimits } from '../definitions/rate-limits.js';
import {
  filterPatternOf,
  presenceConsumer,
  type StreamConsumerDefinition,
} from '../definitions/stream-consumers.js';
import { resourceNames } from '../definitions/tables.js';
import {
  type CompleteConfig,
  DEFAULT_CONNECTION_TTL_SECONDS,
  DEFAULT_SERVICE_NAME,
  fastPathMaxConnectionsFrom,
  LOCAL_JWT_SECRET,
  maxConnectionsPerUserFrom,
  messageRetentionFrom,
  type ParleyConfig,
  type PushSettings,
  rateLimitsFrom,
} from '../lambdas/config.js';
import { partitionKeyOf, type StreamEvent } from '../lambdas/domain/ports.js';
import { createDeps, type DepsOverrides, type ParleyDeps } from '../lambdas/runtime.js';
import { DEFAULT_SEND_THROTTLE, DEFAULT_STAGE_THROTTLE } from '../lib/settings.js';
import {
  assertPortFree,
  type RestartableEngine,
  type RunningEngine,
  startDynamoDbLocal,
  startKinesisMock,
  startRestartableKinesisMock,
} from './engines.js';
import {
  filterFromPatterns,
  type RunningEventSourceMapping,
  startKinesisEventSourceMapping,
} from './event-source-mapping/index.js';
import { HANDLER_BUILDERS } from './functions.js';
import {
  type RunningWebSocketGateway,
  startWebSocketGateway,
  type WebSocketRouteHandler,
  type WebSocketThrottle,
} from './gateway/index.js';
import { startDelayedEngines } from './latency/delayed-engines.js';
import type { HopDelays } from './latency/hop-delays.js';
import { ANSWERED_MOCK_ROUTES, MOCK_INTEGRATIONS } from './mock-integrations.js';
import { type LocalPushOptions, startLocalPush } from './push-service/local-push.js';
import { ensureResources } from './resources.js';

export interface LocalStackOptions {
  /** WebSocket and `@connections` port; 0 picks a free one. Default 3001. */
  wsPort?: number;
  /** Use running engines instead of starting new ones (the tests share one pair). */
  dynamodbEndpoint?: string;
  kinesisEndpoint?: string;
  /** Keep DynamoDB Local's data in this folder; in memory when absent. */
  dataDir?: string;
  /**
   * Keep kinesis-mock's streams in this folder, behind a proxy, so that `restartKinesis`
   * loses no record; in memory when absent.
   */
  kinesisDataDir?: string;
  /** Prefix of the table and stream names, so several stacks can share engines. */
  resourcePrefix?: string;
  jwtSecret?: string;
  /** The `iss` every token must carry, as `PARLEY_JWT_ISSUER` sets it in AWS; not checked when absent. */
  jwtIssuer?: string;
  /** The `aud` every token must carry, as `PARLEY_JWT_AUDIENCE` sets it in AWS; not checked when absent. */
  jwtAudience?: string;
  /**
   * The browser origins a handshake may come from, checked by the authorizer as
   * `PARLEY_ALLOWED_ORIGINS` has it checked in AWS: another `Origin` gets 403, none passes.
   * Any when absent; `npm start` passes its web server's own origins.
   */
  allowedOrigins?: string[];
  /** `PARLEY_MAX_TOKEN_AGE_SECONDS` of the authorizer; a day when absent, as in Lambda. */
  maxTokenAgeSeconds?: number;
  /**
   * Stage and route throttling, as API Gateway applies it across all connections: a frame
   * past it invokes no route and gets API Gateway's `Too Many Requests` frame; a handshake
   * past it gets HTTP 429. None when absent; `npm start` passes `CDK_DEFAULT_THROTTLE`.
   */
  throttle?: WebSocketThrottle;
  logLevel?: ParleyConfig['logLevel'];
  /**
   * Wait after an empty GetRecords, per shard, unless a publish wakes the mapping first.
   * Every put through the stack wakes its shard, so this is only a safety net; each poll
   * costs kinesis-mock about 20 ms of CPU. Default 5000.
   */
  pollIntervalMs?: number;
  idleTimeoutMs?: number;
  /** How long the presence notifier gathers changes before it posts them; default as in AWS (`definitions/stream-consumers.ts`). */
  presenceBatchingWindowSeconds?: number;
  /**
   * `send` posts a message itself to the devices of a one-to-one conversation and of a
   * group with at most this many connected devices; 0 turns it off. Default
   * `FAST_PATH_MAX_CONNECTIONS` of this process's environment, else 16, as in Lambda.
   */
  fastPathMaxConnections?: number;
  /**
   * Open connections a user may hold; the next handshake gets 429. Default
   * `PARLEY_MAX_CONNECTIONS_PER_USER` of this process's environment, else 10, as in Lambda.
   */
  maxConnectionsPerUser?: number;
  /**
   * The per-user limits (definitions/rate-limits.ts), counted in the rate-limits table as in
   * Lambda. Default `PARLEY_RATE_LIMITS` of this process's environment over the defaults.
   */
  rateLimits?: RateLimits;
  /** Days a message is kept: `PARLEY_MESSAGE_RETENTION_DAYS` of this process's environment when absent. */
  messageRetentionDays?: number;
  /**
   * The local push service (protocol 1.4): a free port when absent. The push settings are
   * then the PARLEY_PUSH_* and VAPID variables of this process's environment (a VAPID key
   * pair made at start when it has none), with the push service's origin allowed.
   */
  pushService?: LocalPushOptions;
  /** How the stack pushes (protocol 1.4), instead of the settings the push service comes with. */
  push?: PushSettings;
  /** Hooks for tests and benchmarks: wrap adapters (fault injection), read consumed capacity. */
  deps?: DepsOverrides;
  /** Wraps every function the stack invokes (routes, authorizer, stream consumers): to count or time invocations. */
  wrapFunction?: FunctionWrapper;
  /**
   * How long after a put the stream consumers get a record, as the stream hop takes in AWS
   * (the mappings' `deliveryDelayMs`): 0 (the default) hands it over as soon as it is read.
   */
  streamDelayMs?: number;
  /**
   * A model of AWS latency (`npm run bench -- --aws-model`): every hop takes a delay drawn
   * here, in the gateway, the event source mapping and proxies in front of the engines, never
   * in the handlers. Replaces `streamDelayMs`. None when absent.
   */
  hopDelays?: HopDelays;
  /**
   * Cancels the start: the engines already started are stopped, those starting are killed,
   * and the promise rejects with the signal's reason once all of it has exited.
   */
  signal?: AbortSignal;
}

/** Takes a function as the local stack would invoke it, and returns the function to invoke instead. */
export type FunctionWrapper = <Event, Result>(
  functionId: FunctionId,
  handler: (event: Event, context: Context) => Promise<Result>,
) => (event: Event, context: Context) => Promise<Result>;

/** The throttling `cdk deploy` gives the stage when no context sets it (`lib/settings.ts`). */
export const CDK_DEFAULT_THROTTLE: WebSocketThrottle = {
  stage: DEFAULT_STAGE_THROTTLE,
  routes: { send: DEFAULT_SEND_THROTTLE },
};

/** The routes with a route response in the CDK stack: only they answer the caller. */
const ANSWERED = new Set<string>([...ANSWERED_ROUTES, ...ANSWERED_MOCK_ROUTES]);

export interface RunningLocalStack {
  url: string;
  managementEndpoint: string;
  config: CompleteConfig;
  deps: ParleyDeps;
  /** The local push service's origin and the VAPID public key a subscription is made with (engines mode). */
  push?: { serviceUrl: string; vapidPublicKey: string };
  stop(): Promise<void>;
  /**
   * Stops the WebSocket gateway, closing every connection as a redeploy would, and starts it
   * again on the same port. For fault injection.
   */
  restartGateway(): Promise<void>;
  /**
   * Stops kinesis-mock and starts it again on the same port from its data folder: puts and
   * reads fail while it is down, and no record is lost. Only for a kinesis-mock the stack
   * started itself with `kinesisDataDir`. For fault injection.
   */
  restartKinesis(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<RunningLocalStack> {
  const stoppers = new Stoppers();
  try {
    const wsPort = options.wsPort ?? 3001;
    // Fail at once, before the engines start, when the port is taken.
    if (wsPort !== 0) await assertPortFree(wsPort, 'the WebSocket gateway, PARLEY_WS_PORT');
    const { signal } = options;
    const engines = await startEngines(options, stoppers);
    if (options.hopDelays) {
      // The handlers reach the engines through proxies that hold each call to its AWS time.
      const delayed = await startDelayedEngines(engines, options.hopDelays);
      stoppers.push(() => delayed.stop());
      Object.assign(engines, {
        dynamodbEndpoint: delayed.dynamodbEndpoint,
        kinesisEndpoint: delayed.kinesisEndpoint,
      });
    }
    signal?.throwIfAborted();

    // The gateway must listen now, since the handlers' @connections endpoint is its address
    // (with port 0 only the listening socket holds the port), but it refuses handshakes with
    // 503 and Retry-After until the tables, the stream and the mappings are there.
    const pending = new PendingDeps();
    const wrap: FunctionWrapper = options.wrapFunction ?? ((_functionId, handler) => handler);
    const openGateway = gatewayOpener(options, wrap, pending);
    let gateway: RunningWebSocketGateway = await openGateway(wsPort);
    // Stopped before the SDK clients go, since closing sockets runs $disconnect.
    let destroyClients = async () => {};
    stoppers.push(async () => destroyClients());
    stoppers.push(() => gateway.stop());

    const push = await startLocalPush(options.pushService);
    stoppers.push(() => push.service.stop());
    const config = configOf(options, engines, gateway.managementEndpoint, push.settings);
    let wakeMapping: (event: StreamEvent) => void = () => {};
    const ready = createWakingDeps(config, options.deps, (event) => wakeMapping(event));
    destroyClients = async () => ready.clients.destroy();
    await ensureResources(
      { dynamodb: ready.clients.dynamodb as never, kinesis: ready.clients.kinesis },
      config.names,
    );
    pending.deps = ready;
    signal?.throwIfAborted();

    const mappings = await startMappings(options, config, ready, wrap, pending.provider);
    wakeMapping = wakerOf(mappings);
    stoppers.push(async () => {
      await Promise.all(mappings.map((mapping) => mapping.stop()));
    });
    signal?.throwIfAborted();
    pending.markReady();

    return {
      url: gateway.url,
      managementEndpoint: gateway.managementEndpoint,
      config,
      deps: ready,
      push: { serviceUrl: push.service.origin, vapidPublicKey: push.vapidPublicKey },
      stop: () => stoppers.stopAll(),
      async restartGateway() {
        // Same port, so the URL and the `@connections` endpoint the handlers post to stay valid.
        await gateway.stop();
        gateway = await openGateway(gateway.port);
      },
      async restartKinesis() {
        if (!engines.kinesisMock) {
          throw new Error(
            'restartKinesis needs a kinesis-mock the stack started itself, with kinesisDataDir set',
          );
        }
        await engines.kinesisMock.restart();
      },
    };
  } catch (error) {
    await stoppers.stopAll();
    throw error;
  }
}

/** What the stack started, stopped in the reverse order on `stop` or when the start fails. */
class Stoppers {
  private readonly stoppers: Array<() => Promise<void>> = [];

  push(stop: () => Promise<void>): void {
    this.stoppers.push(stop);
  }

  async stopAll(): Promise<void> {
    for (const stop of this.stoppers.reverse()) {
      try {
        await stop();
      } catch {
        // keep stopping the rest
      }
    }
    this.stoppers.length = 0;
  }
}

/**
 * The handlers' deps, there only once the tables and the stream exist, and the promise the
 * gateway waits on before it lets handshakes in.
 */
class PendingDeps {
  deps: ParleyDeps | undefined;
  readonly ready: Promise<void>;
  markReady: () => void = () => {};

  constructor() {
    this.ready = new Promise<void>((resolve) => {
      this.markReady = resolve;
    });
  }

  readonly provider = (): ParleyDeps => {
    if (!this.deps) throw new Error('the local stack is not ready yet');
    return this.deps;
  };
}

interface Engines {
  dynamodbEndpoint: string;
  kinesisEndpoint: string;
  /** Only when the stack started kinesis-mock itself with a data folder. */
  kinesisMock: RestartableEngine | undefined;
}

/** Starts DynamoDB Local and kinesis-mock, unless their endpoints are given. */
async function startEngines(options: LocalStackOptions, stoppers: Stoppers): Promise<Engines> {
  const { signal, kinesisDataDir } = options;
  const startEngine = async (given: string | undefined, start: () => Promise<RunningEngine>) => {
    if (given) return given;
    const engine = await start();
    stoppers.push(() => engine.stop());
    return engine.endpoint;
  };
  let kinesisMock: RestartableEngine | undefined;
  // Both settled before going on, so that when one fails or the start is cancelled, the
  // other is stopped too rather than left running once it is ready.
  const [dynamodbEndpoint, kinesisEndpoint] = fulfilledOrThrow(
    await Promise.allSettled([
      startEngine(options.dynamodbEndpoint, () =>
        startDynamoDbLocal({ ...(options.dataDir ? { dataDir: options.dataDir } : {}), signal }),
      ),
      startEngine(options.kinesisEndpoint, async () => {
        if (!kinesisDataDir) return startKinesisMock({ signal });
        kinesisMock = await startRestartableKinesisMock({ dataDir: kinesisDataDir, signal });
        return kinesisMock;
      }),
    ]),
  );
  return { dynamodbEndpoint, kinesisEndpoint, kinesisMock };
}

/**
 * Builds the route and authorizer handlers from the function registry once, and returns a
 * function that opens the gateway on them, so that a restart serves the same handlers.
 */
function gatewayOpener(
  options: LocalStackOptions,
  wrap: FunctionWrapper,
  pending: PendingDeps,
): (port: number) => Promise<RunningWebSocketGateway> {
  const routes: Record<string, WebSocketRouteHandler> = Object.fromEntries(
    ROUTE_FUNCTIONS.map(({ id, trigger }) => [
      trigger.routeKey,
      wrap(id, HANDLER_BUILDERS[id](pending.provider)),
    ]),
  );
  const authorizer = wrap(AUTHORIZER_FUNCTION.id, HANDLER_BUILDERS[AUTHORIZER_FUNCTION.id](pending.provider));
  return (port) =>
    startWebSocketGateway({
      port,
      // Through the stack's logger once it exists, so that its log level holds here too.
      log: (level, message, details) => {
        if (pending.deps) pending.deps.logger[level](`[ws-gateway] ${message}`, { details });
        else if (level !== 'info') console.error(`[ws-gateway] ${level}: ${message}`, details ?? '');
      },
      authorizer,
      routes,
      mocks: MOCK_INTEGRATIONS,
      answeredRoutes: ANSWERED,
      ready: pending.ready,
      // A bigger frame closes the connection with 1009, as in AWS.
      maxFrameBytes: MAX_FRAME_BYTES,
      ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
      ...(options.throttle ? { throttle: options.throttle } : {}),
      ...(options.hopDelays ? { delays: options.hopDelays } : {}),
    });
}

/** The configuration the handlers read from their environment in AWS. */
function configOf(
  options: LocalStackOptions,
  engines: Engines,
  connections: string,
  pushSettings: PushSettings,
): CompleteConfig {
  return {
    names: resourceNames(options.resourcePrefix ?? 'parley'),
    endpoints: {
      region: 'us-east-1',
      local: true,
      dynamodb: engines.dynamodbEndpoint,
      kinesis: engines.kinesisEndpoint,
      connections,
    },
    tokens: {
      secret: options.jwtSecret ?? LOCAL_JWT_SECRET,
      ...(options.jwtIssuer ? { issuer: options.jwtIssuer } : {}),
      ...(options.jwtAudience ? { audience: options.jwtAudience } : {}),
      ...(options.allowedOrigins?.length ? { allowedOrigins: options.allowedOrigins } : {}),
      ...(options.maxTokenAgeSeconds ? { maxTokenAgeSeconds: options.maxTokenAgeSeconds } : {}),
    },
    connectionTtlSeconds: DEFAULT_CONNECTION_TTL_SECONDS,
    maxConnectionsPerUser: options.maxConnectionsPerUser ?? maxConnectionsPerUserFrom(process.env),
    postConcurrency: 50,
    fastPathMaxConnections: options.fastPathMaxConnections ?? fastPathMaxConnectionsFrom(process.env),
    rateLimits: options.rateLimits ?? rateLimitsFrom(process.env),
    ...(options.messageRetentionDays
      ? { messageRetentionDays: options.messageRetentionDays }
      : messageRetentionFrom(process.env)),
    push: options.push ?? pushSettings,
    logLevel: options.logLevel ?? 'WARN',
    serviceName: DEFAULT_SERVICE_NAME,
  };
}

/**
 * Enhanced fan-out pushes records to the consumer in AWS; locally the publisher wakes
 * the polling mapping, so idle shards can be polled slowly without adding latency.
 */
function createWakingDeps(
  config: CompleteConfig,
  overrides: DepsOverrides | undefined,
  wakeMapping: (event: StreamEvent) => void,
): ParleyDeps {
  const userWrap = overrides?.wrap;
  return createDeps(config, {
    ...overrides,
    wrap: (deps) => {
      const publisher = deps.publisher;
      const waking: ParleyDeps = {
        ...deps,
        publisher: {
          publish: async (event) => {
            await publisher.publish(event);
            wakeMapping(event);
          },
        },
      };
      return userWrap ? userWrap(waking) : waking;
    },
  });
}

/** Starts one Kinesis event source mapping per stream function of the registry, in its order. */
async function startMappings(
  options: LocalStackOptions,
  config: CompleteConfig,
  ready: ParleyDeps,
  wrap: FunctionWrapper,
  provider: () => ParleyDeps,
): Promise<RunningEventSourceMapping[]> {
  const { hopDelays } = options;
  const mappingDefaults = {
    kinesis: ready.clients.kinesis,
    streamName: config.names.eventsStream,
    pollIntervalMs: options.pollIntervalMs ?? 5000,
    deliveryDelayMs: hopDelays ? () => hopDelays.streamToConsumer() : (options.streamDelayMs ?? 0),
    onFailure: (failed: {
      shardId: string;
      reason: string;
      records: Array<{ kinesis: { sequenceNumber: string } }>;
    }) =>
      ready.logger.error('records sent to the on-failure destination', {
        shardId: failed.shardId,
        reason: failed.reason,
        sequenceNumbers: failed.records.map((record) => record.kinesis.sequenceNumber),
      }),
    log: (level: 'info' | 'warn' | 'error', message: string, details?: unknown) =>
      ready.logger[level](message, { details }),
  };
  return Promise.all(
    STREAM_FUNCTIONS.map(({ id, trigger: { consumer } }) =>
      startKinesisEventSourceMapping({
        ...mappingDefaults,
        ...settingsOf(consumer),
        handler: wrap(id, HANDLER_BUILDERS[id](provider)),
        ...(consumer === presenceConsumer && options.presenceBatchingWindowSeconds !== undefined
          ? { maximumBatchingWindowInSeconds: options.presenceBatchingWindowSeconds }
          : {}),
      }),
    ),
  );
}

/** Filters, batching and retries as the CDK stack sets them on the Lambda mappings. */
function settingsOf(consumer: StreamConsumerDefinition) {
  return {
    functionName: consumer.id,
    filter: filterFromPatterns([filterPatternOf(consumer)]),
    batchSize: consumer.batchSize,
    maximumBatchingWindowInSeconds: consumer.maximumBatchingWindowInSeconds,
    maximumRetryAttempts: consumer.maximumRetryAttempts,
    maximumRecordAgeInSeconds: consumer.maximumRecordAgeInSeconds,
    bisectBatchOnFunctionError: true,
    reportBatchItemFailures: true,
    parallelizationFactor: consumer.parallelizationFactor,
  };
}

/**
 * Only the shard the event went to, and only the consumers whose filter lets it through:
 * every other GetRecords would find nothing new, and each costs kinesis-mock CPU.
 */
function wakerOf(mappings: RunningEventSourceMapping[]): (event: StreamEvent) => void {
  return (event) => {
    for (const [index, mapping] of mappings.entries()) {
      const eventTypes: readonly string[] = STREAM_FUNCTIONS[index]?.trigger.consumer.eventTypes ?? [];
      if (eventTypes.includes(event.type)) mapping.wake(partitionKeyOf(event));
    }
  };
}

/** The values of settled promises, or the first reason one of them was rejected with. */
function fulfilledOrThrow<T extends readonly unknown[]>(
  results: {
    [K in keyof T]: PromiseSettledResult<T[K]>;
  },
): T {
  const rejected = results.find((result) => result.status === 'rejected');
  if (rejected) throw rejected.reason;
  return results.map((result) => (result as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
