/**
 * `npm start -- --deployed`: the synthesized stack itself on the local engines. Everything
 * comes from the CloudFormation template in `cdk.out`: the tables (keys, indexes, TTL),
 * the stream and its consumer, the WebSocket routes with their integrations, the
 * authorizer and its identity source, the route responses, the stage's throttles, the
 * event source mappings with their settings, and each function, run from its bundle with
 * the template's environment. The only additions are what the Lambda service itself puts
 * in a function's environment (region, credentials, names) and the SDK's standard
 * endpoint variables that point it at the local engines, as LocalStack does.
 */

import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { FunctionId } from '../../definitions/functions.js';
import {
  environmentVariableName,
  type ResourceNames,
  TABLE_NAME_FIELDS,
  TABLES,
} from '../../definitions/tables.js';
import {
  type CompleteConfig,
  DEFAULT_CONNECTION_TTL_SECONDS,
  DEFAULT_FAST_PATH_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_USER,
  DEFAULT_SERVICE_NAME,
  LOCAL_JWT_SECRET,
} from '../../lambdas/config.js';
import { createDeps, type ParleyDeps } from '../../lambdas/runtime.js';
import {
  findFreePort,
  type RestartableEngine,
  type RunningEngine,
  startDynamoDbLocal,
  startKinesisMock,
  startRestartableKinesisMock,
} from '../engines.js';
import {
  type RunningWebSocketGateway,
  startWebSocketGateway,
  type WebSocketThrottle,
} from '../gateway/index.js';
import { gatewaySettingsOf } from './api.js';
import { DEFAULT_CLOUD_ASSEMBLY, readSynthesizedStack, synthesizeIfStale } from './cloud-assembly.js';
import { type DynamoDbFault, type DynamoDbRequest, startDynamoDbFront } from './dynamodb-front.js';
import type { FunctionRunner } from './function-runner.js';
import { type FunctionEndpoints, type InvokeWrapper, runnerBehind, runnersFor } from './functions.js';

export type { InvokeWrapper } from './functions.js';

import { type KinesisFault, type KinesisRequest, startKinesisFront } from './kinesis-front.js';
import { type StartedMapping, startMappings } from './mappings.js';
import { LOCAL_VAPID_SECRET, startDeployedPushService } from './push.js';
import { startSecretsManager } from './secrets-manager.js';
import { createData, REGION, type StandIns, standInsFor } from './stand-ins.js';
import { type CloudFormationTemplate, resolveString } from './template.js';

export interface DeployedStackOptions {
  /** The cloud assembly to run. Default `cdk.out` of the project, synthesized first when stale. */
  cloudAssemblyDir?: string;
  /** Synthesize when the assembly is older than the sources. Default true. */
  synthesize?: boolean;
  /** The stack of the assembly to run. Default: the one with a WebSocket API. */
  stackName?: string;
  /** WebSocket and `@connections` port; 0 picks a free one. Default 3001. */
  wsPort?: number;
  /** Use running engines instead of starting new ones. */
  dynamodbEndpoint?: string;
  kinesisEndpoint?: string;
  /** Keep DynamoDB Local's data in this folder; in memory when absent. */
  dataDir?: string;
  /**
   * Keep kinesis-mock's streams in this folder, behind a proxy, so that `restartKinesis`
   * loses no record; in memory when absent. Only for a kinesis-mock the stack starts itself.
   */
  kinesisDataDir?: string;
  /** Faults injected where AWS's own would arrive: on the wire and at the invoke. None when absent. */
  faults?: DeployedStackFaults;
  /** Prefix of the physical names, so that several stacks share engines. Default the stack name. */
  resourcePrefix?: string;
  /** The value of every secret the template generates (the HS256 token key). Default the local one. */
  jwtSecret?: string;
  /** Which of the functions' log lines are shown (on stderr). Default WARN. */
  logLevel?: CompleteConfig['logLevel'];
  pollIntervalMs?: number;
  /** Held between a put and its consumers, to model the enhanced fan-out hop of AWS (about 70 ms). Default 0. */
  streamDelayMs?: number;
  idleTimeoutMs?: number;
  /** Replaces the stage's throttles from the template (tests that need a tight limit). */
  throttle?: WebSocketThrottle;
  /** Execution environments at most per function. Default 4. */
  maxEnvironmentsPerFunction?: number;
  /**
   * Start one environment of every function before taking traffic, as provisioned
   * concurrency would. Default true; false starts each at its first invocation, a cold start
   * as in Lambda, and spares a test stack the bundles it never calls.
   */
  warmFunctions?: boolean;
  log?: (message: string) => void;
  /** Cancels the start: what was started is stopped, and the promise rejects with the reason. */
  signal?: AbortSignal;
}

/**
 * The chaos run's hooks. The functions run from their bundles in worker threads, out of
 * reach of in-process hooks, so faults go in where AWS's own would arrive: DynamoDB and
 * Kinesis answers on the wire (the bundles' SDK clients retry them as in AWS), and the
 * Lambda invoke.
 */
export interface DeployedStackFaults {
  /** Asked for each request attempt of the functions to DynamoDB (through `dynamodb-front.ts`). */
  dynamodb?: (request: DynamoDbRequest) => DynamoDbFault;
  /** Asked for each request attempt of the functions to Kinesis (through `kinesis-front.ts`). */
  kinesis?: (request: KinesisRequest) => KinesisFault;
  /** Wraps each function's invoke, whoever calls it (the gateway, the event source mappings, `invoke`). */
  wrapInvoke?: InvokeWrapper;
}

export interface RunningDeployedStack {
  url: string;
  managementEndpoint: string;
  stackName: string;
  /** The physical names and endpoints, for tools that read the tables (the tests' checks). */
  config: CompleteConfig;
  /** Deps over `config` for such tools; the functions never use them. */
  deps: ParleyDeps;
  /** The local push service and the template's VAPID public key, when the template turned Web Push on. */
  push?: { serviceUrl: string; vapidPublicKey: string };
  /** Invokes a function of the template, by its handler id, as the Lambda Invoke API would. */
  invoke<Result = unknown>(functionId: FunctionId, event: unknown): Promise<Result>;
  /** The function ids and the names of the functions the template declares. */
  functionNames: ReadonlyMap<FunctionId, string>;
  stop(): Promise<void>;
  restartGateway(): Promise<void>;
  /**
   * Stops kinesis-mock and starts it again from its data folder behind the same endpoint:
   * puts and reads fail while it is down, and no record is lost. Only with `kinesisDataDir`.
   */
  restartKinesis(): Promise<void>;
}

/** What the stack stops, in reverse order of starting; each step adds the parts it started. */
type Stoppers = Array<() => Promise<void>>;

export async function startDeployedStack(options: DeployedStackOptions = {}): Promise<RunningDeployedStack> {
  const log = options.log ?? (() => {});
  const assemblyDir = options.cloudAssemblyDir ?? DEFAULT_CLOUD_ASSEMBLY;
  if (options.synthesize ?? true) await synthesizeIfStale(assemblyDir, log);
  const { signal } = options;
  signal?.throwIfAborted();
  const { stackName, template } = readSynthesizedStack(assemblyDir, options.stackName);
  const prefix = options.resourcePrefix ?? stackName;
  const secretValue = options.jwtSecret ?? LOCAL_JWT_SECRET;

  const stoppers: Stoppers = [];
  const stopAll = () => stopInReverse(stoppers);
  try {
    const wsPort = options.wsPort === undefined ? 3001 : options.wsPort || (await findFreePort());
    const engines = await startEngines(options, stoppers);
    signal?.throwIfAborted();
    const managementEndpoint = `http://127.0.0.1:${wsPort}`;
    const standIns = standInsFor(template, { stackName, prefix, secretValue });
    const { config, deps } = await createResources(
      template,
      standIns,
      { ...engines, connections: managementEndpoint },
      { secretValue, prefix },
      stoppers,
    );
    // The Kinesis front wakes these on each put, but they start after the runners: it holds the list.
    const mappings: StartedMapping[] = [];
    const awsEndpoints = await startAwsEndpoints(engines, standIns, mappings, options.faults, stoppers);
    const push = await startDeployedPushService(standIns, stoppers, log);
    const { runners, functionIds } = await startRunners(
      standIns,
      assemblyDir,
      { ...awsEndpoints, connections: managementEndpoint },
      { ...options, ...(push ? { pushServiceOrigin: push.serviceUrl } : {}) },
      stoppers,
    );
    signal?.throwIfAborted();
    const runnerOf = runnerBehind(runners, standIns.context);
    await startStreamConsumers(
      template,
      standIns,
      runners,
      deps.clients.kinesis,
      options,
      mappings,
      stoppers,
    );
    const openGateway = gatewayOpener(template, standIns, runnerOf, wsPort, options, log);
    signal?.throwIfAborted();
    let gateway: RunningWebSocketGateway = await openGateway();
    stoppers.push(() => gateway.stop());

    return {
      url: gateway.url,
      managementEndpoint,
      stackName,
      config,
      deps,
      functionNames: functionIds,
      ...(push ? { push } : {}),
      invoke: invokerOf(functionIds, runners),
      stop: stopAll,
      async restartGateway() {
        await gateway.stop();
        gateway = await openGateway();
      },
      async restartKinesis() {
        if (!engines.restartableKinesis) {
          throw new Error(
            'restartKinesis needs a kinesis-mock the stack started itself, with kinesisDataDir set',
          );
        }
        await engines.restartableKinesis.restart();
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Stops what was started, the last first, and goes on past a part that fails to stop. */
async function stopInReverse(stoppers: Stoppers): Promise<void> {
  for (const stop of stoppers.splice(0).reverse()) {
    try {
      await stop();
    } catch {
      // keep stopping the rest
    }
  }
}

/** `invoke` of the running stack: a function by its handler id, as the Lambda Invoke API would. */
function invokerOf(
  functionIds: ReadonlyMap<FunctionId, string>,
  runners: ReadonlyMap<string, FunctionRunner>,
): RunningDeployedStack['invoke'] {
  return async <Result>(functionId: FunctionId, event: unknown) => {
    const functionName = functionIds.get(functionId);
    const runner = functionName ? runners.get(functionName) : undefined;
    if (!runner) throw new Error(`the template has no function ${functionId}`);
    return runner.invoke<Result>(event);
  };
}

interface EngineEndpoints {
  dynamodb: string;
  kinesis: string;
  /** Started with `kinesisDataDir`: the kinesis-mock that `restartKinesis` restarts. */
  restartableKinesis?: RestartableEngine;
}

/** DynamoDB Local and kinesis-mock, or the running ones the options name. */
async function startEngines(options: DeployedStackOptions, stoppers: Stoppers): Promise<EngineEndpoints> {
  const { signal } = options;
  let restartableKinesis: RestartableEngine | undefined;
  const startEngine = async (given: string | undefined, start: () => Promise<RunningEngine>) => {
    if (given) return given;
    const engine = await start();
    stoppers.push(() => engine.stop());
    return engine.endpoint;
  };
  // Both settle before a failure or a cancel goes on, so that neither is left running.
  const engines = await Promise.allSettled([
    startEngine(options.dynamodbEndpoint, () =>
      startDynamoDbLocal({
        ...(options.dataDir ? { dataDir: options.dataDir } : {}),
        ...(signal ? { signal } : {}),
      }),
    ),
    startEngine(options.kinesisEndpoint, async () => {
      if (!options.kinesisDataDir) return startKinesisMock(signal ? { signal } : {});
      restartableKinesis = await startRestartableKinesisMock({
        dataDir: options.kinesisDataDir,
        ...(signal ? { signal } : {}),
      });
      return restartableKinesis;
    }),
  ]);
  const failed = engines.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
  const [dynamodb, kinesis] = engines.map((result) => (result as PromiseFulfilledResult<string>).value) as [
    string,
    string,
  ];
  return { dynamodb, kinesis, ...(restartableKinesis ? { restartableKinesis } : {}) };
}

/**
 * The tables and the stream the template declares, made on the engines, and the tools'
 * configuration and clients for them.
 */
async function createResources(
  template: CloudFormationTemplate,
  standIns: StandIns,
  endpoints: { dynamodb: string; kinesis: string; connections: string },
  { secretValue, prefix }: { secretValue: string; prefix: string },
  stoppers: Stoppers,
): Promise<{ config: CompleteConfig; deps: ParleyDeps }> {
  // One set of clients to the engines: for making the data here, and for the tools' reads.
  const config = toolConfig(standIns, endpoints, secretValue, prefix);
  const deps = createDeps(config);
  const engineClients = deps.clients;
  stoppers.push(async () => engineClients.destroy());
  await createData(engineClients, template, standIns);
  return { config, deps };
}

/**
 * The AWS endpoints the functions talk to besides the management API: Kinesis through a
 * front that wakes the stream's consumers, DynamoDB (through a front when faults are
 * injected), and Secrets Manager.
 */
async function startAwsEndpoints(
  engines: EngineEndpoints,
  { secrets }: StandIns,
  mappings: readonly StartedMapping[],
  faults: DeployedStackFaults | undefined,
  stoppers: Stoppers,
): Promise<{ dynamodb: string; kinesis: string; secretsManager: string }> {
  const kinesisFront = await startKinesisFront({
    target: engines.kinesis,
    onPut: (records) => {
      // As enhanced fan-out pushes a record to its consumer: wake the mappings whose filter takes it.
      for (const { partitionKey, data } of records) {
        for (const { mapping, filter } of mappings)
          if (data === undefined || filter(data)) mapping.wake(partitionKey);
      }
    },
    ...(faults?.kinesis ? { fault: faults.kinesis } : {}),
  });
  stoppers.push(() => kinesisFront.stop());
  const dynamodb = await dynamodbEndpointForFunctions(engines.dynamodb, faults, stoppers);
  // The VAPID key's secret is the operator's, outside the template: served as they would make it.
  const secretsManager = await startSecretsManager([...secrets, LOCAL_VAPID_SECRET]);
  stoppers.push(() => secretsManager.stop());
  return { dynamodb, kinesis: kinesisFront.endpoint, secretsManager: secretsManager.endpoint };
}

/** A runner for each function of the template, warmed before the stack takes traffic. */
async function startRunners(
  standIns: StandIns,
  assemblyDir: string,
  endpoints: FunctionEndpoints,
  options: DeployedStackOptions & { pushServiceOrigin?: string },
  stoppers: Stoppers,
): Promise<ReturnType<typeof runnersFor>> {
  const started = runnersFor(standIns, assemblyDir, endpoints, {
    logLevel: options.logLevel ?? 'WARN',
    ...(options.pushServiceOrigin ? { pushServiceOrigin: options.pushServiceOrigin } : {}),
    ...(options.maxEnvironmentsPerFunction
      ? { maxEnvironmentsPerFunction: options.maxEnvironmentsPerFunction }
      : {}),
    ...(options.faults?.wrapInvoke ? { wrapInvoke: options.faults.wrapInvoke } : {}),
  });
  for (const runner of started.runners.values()) stoppers.push(() => runner.stop());
  if (options.warmFunctions !== false) {
    await Promise.all([...started.runners.values()].map((runner) => runner.warm()));
  }
  return started;
}

/** The event source mappings of the template, polling the stream into their functions. */
async function startStreamConsumers(
  template: CloudFormationTemplate,
  { context, stream }: StandIns,
  runners: Map<string, FunctionRunner>,
  kinesis: KinesisClient,
  options: DeployedStackOptions,
  mappings: StartedMapping[],
  stoppers: Stoppers,
): Promise<void> {
  mappings.push(
    ...(await startMappings(template, context, runners, {
      kinesis,
      stream,
      ...(options.pollIntervalMs ? { pollIntervalMs: options.pollIntervalMs } : {}),
      ...(options.streamDelayMs ? { streamDelayMs: options.streamDelayMs } : {}),
      log: options.log ?? (() => {}),
    })),
  );
  stoppers.push(async () => {
    await Promise.all(mappings.map(({ mapping }) => mapping.stop()));
  });
}

/** Opens the WebSocket gateway the template's API describes; called again by `restartGateway`. */
function gatewayOpener(
  template: CloudFormationTemplate,
  { context }: StandIns,
  runnerOf: ReturnType<typeof runnerBehind>,
  wsPort: number,
  options: DeployedStackOptions,
  log: (message: string) => void,
): () => Promise<RunningWebSocketGateway> {
  const { stageName, routes, mocks, authorizer, answeredRoutes, throttle } = gatewaySettingsOf(
    template,
    context,
    runnerOf,
    options.throttle ? { throttle: options.throttle } : {},
  );
  return () =>
    startWebSocketGateway({
      port: wsPort,
      stage: stageName,
      routes,
      mocks,
      ...(authorizer ? { authorizer } : {}),
      answeredRoutes,
      ...(throttle ? { throttle } : {}),
      ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
      log: (level, message) => {
        if (level !== 'info') log(`[ws-gateway] ${message}`);
      },
    });
}

/**
 * A configuration for tools that read the tables (the tests' checks): the physical names
 * as the template gives them to the functions, and the engines' own endpoints.
 */
function toolConfig(
  { functions, context }: StandIns,
  endpoints: { dynamodb: string; kinesis: string; connections: string },
  secret: string,
  prefix: string,
): CompleteConfig {
  const variables = new Map<string, string>();
  for (const fn of functions) {
    const given = (fn.resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)
      ?.Variables;
    for (const [name, value] of Object.entries(given ?? {})) {
      if (name.startsWith('PARLEY_') && (name.endsWith('_TABLE') || name.endsWith('_STREAM'))) {
        variables.set(name, resolveString(value, context, `${fn.logicalId} ${name}`));
      }
    }
  }
  const names = Object.fromEntries(
    [...TABLES.map((table) => TABLE_NAME_FIELDS[table.id]), 'eventsStream' as const].map((field) => [
      field,
      variables.get(environmentVariableName(field)) ?? `${prefix}-unused-${field}`,
    ]),
  ) as unknown as ResourceNames;
  return {
    names,
    endpoints: {
      region: REGION,
      local: true,
      dynamodb: endpoints.dynamodb,
      kinesis: endpoints.kinesis,
      connections: endpoints.connections,
    },
    tokens: { secret },
    connectionTtlSeconds: DEFAULT_CONNECTION_TTL_SECONDS,
    // The functions' own setting comes from the template; these tools open no connection.
    maxConnectionsPerUser: DEFAULT_MAX_CONNECTIONS_PER_USER,
    postConcurrency: 50,
    // The functions' own setting comes from the template; these tools send nothing.
    fastPathMaxConnections: DEFAULT_FAST_PATH_MAX_CONNECTIONS,
    logLevel: 'SILENT',
    serviceName: DEFAULT_SERVICE_NAME,
  };
}

/**
 * The DynamoDB endpoint the functions' bundles talk to: DynamoDB Local itself, or a front
 * that injects the given faults on the way.
 */
async function dynamodbEndpointForFunctions(
  dynamodbEndpoint: string,
  faults: DeployedStackFaults | undefined,
  stoppers: Array<() => Promise<void>>,
): Promise<string> {
  if (!faults?.dynamodb) return dynamodbEndpoint;
  const front = await startDynamoDbFront({ target: dynamodbEndpoint, fault: faults.dynamodb });
  stoppers.push(() => front.stop());
  return front.endpoint;
}
