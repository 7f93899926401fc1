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
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamConsumerCommand,
  type KinesisClient,
  RegisterStreamConsumerCommand,
  waitUntilStreamExists,
} from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent } from 'aws-lambda';
import {
  type CompleteConfig,
  DEFAULT_CONNECTION_TTL_SECONDS,
  DEFAULT_SERVICE_NAME,
  LOCAL_JWT_SECRET,
} from '../../lambdas/config.js';
import { createDeps, type ParleyDeps } from '../../lambdas/runtime.js';
import type { FunctionId } from '../../lib/functions.js';
import { environmentVariableName, type ResourceNames, TABLE_NAME_FIELDS, TABLES } from '../../lib/tables.js';
import {
  findFreePort,
  type RestartableEngine,
  type RunningEngine,
  startDynamoDbLocal,
  startKinesisMock,
  startRestartableKinesisMock,
} from '../engines.js';
import {
  filterFromPatterns,
  type RunningEventSourceMapping,
  startKinesisEventSourceMapping,
} from '../event-source-mapping.js';
import {
  type RequestAuthorizerHandler,
  type RunningWebSocketGateway,
  startWebSocketGateway,
  type WebSocketRouteHandler,
  type WebSocketThrottle,
} from '../ws-gateway.js';
import { DEFAULT_CLOUD_ASSEMBLY, readSynthesizedStack, synthesizeIfStale } from './cloud-assembly.js';
import { type DynamoDbFault, type DynamoDbRequest, startDynamoDbFront } from './dynamodb-front.js';
import { FunctionRunner } from './function-runner.js';
import { type KinesisFault, type KinesisRequest, startKinesisFront } from './kinesis-front.js';
import { startSecretsManager } from './secrets-manager.js';
import {
  type CloudFormationTemplate,
  type LocalResource,
  type ResolutionContext,
  resolve,
  resolveString,
  resourcesOfType,
  TemplateError,
  type TemplateResource,
} from './template.js';

const REGION = 'us-east-1';
const ACCOUNT_ID = '000000000000';
/** An on-demand stream starts with 4 shards' worth of write capacity in AWS. */
const ON_DEMAND_SHARDS = 4;
/** Lambda gives every function these; the engines on this machine accept any credentials. */
const LOCAL_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
  AWS_SESSION_TOKEN: 'local',
};
const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT'] as const;

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

/** Takes a function's invoke as the stack would call it, and returns the one to call instead. */
export type InvokeWrapper = (
  functionId: FunctionId,
  invoke: (event: unknown) => Promise<unknown>,
) => (event: unknown) => Promise<unknown>;

export interface RunningDeployedStack {
  url: string;
  managementEndpoint: string;
  stackName: string;
  /** The physical names and endpoints, for tools that read the tables (the tests' checks). */
  config: CompleteConfig;
  /** Deps over `config` for such tools; the functions never use them. */
  deps: ParleyDeps;
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

interface FunctionResource {
  logicalId: string;
  functionId: FunctionId;
  functionName: string;
  resource: TemplateResource;
}

export async function startDeployedStack(options: DeployedStackOptions = {}): Promise<RunningDeployedStack> {
  const log = options.log ?? (() => {});
  const assemblyDir = options.cloudAssemblyDir ?? DEFAULT_CLOUD_ASSEMBLY;
  if (options.synthesize ?? true) await synthesizeIfStale(assemblyDir, log);
  const { signal } = options;
  signal?.throwIfAborted();
  const { stackName, template } = readSynthesizedStack(assemblyDir, options.stackName);
  const prefix = options.resourcePrefix ?? stackName;
  const logLevel = options.logLevel ?? 'WARN';
  /** Started with `kinesisDataDir`: the kinesis-mock that `restartKinesis` restarts. */
  let restartableKinesis: RestartableEngine | undefined;

  const stoppers: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stoppers.splice(0).reverse()) {
      try {
        await stop();
      } catch {
        // keep stopping the rest
      }
    }
  };
  try {
    const wsPort = options.wsPort === undefined ? 3001 : options.wsPort || (await findFreePort());
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
    const [dynamodbEndpoint, kinesisEndpoint] = engines.map(
      (result) => (result as PromiseFulfilledResult<string>).value,
    ) as [string, string];
    signal?.throwIfAborted();

    // ------------------------------------------------------------------ stand-ins for resources
    const resources = new Map<string, LocalResource>();
    const context: ResolutionContext = { region: REGION, accountId: ACCOUNT_ID, stackName, resources };
    const physicalName = (logicalId: string) => `${prefix}-${logicalId}`.slice(0, 255);
    const arn = (service: string, resource: string) =>
      `arn:aws:${service}:${REGION}:${ACCOUNT_ID}:${resource}`;
    for (const [logicalId] of resourcesOfType(template, 'AWS::DynamoDB::GlobalTable')) {
      const name = physicalName(logicalId);
      resources.set(logicalId, { ref: name, attributes: { Arn: arn('dynamodb', `table/${name}`) } });
    }
    for (const [logicalId] of resourcesOfType(template, 'AWS::DynamoDB::Table')) {
      const name = physicalName(logicalId);
      resources.set(logicalId, { ref: name, attributes: { Arn: arn('dynamodb', `table/${name}`) } });
    }
    const streams = resourcesOfType(template, 'AWS::Kinesis::Stream');
    const [streamEntry, ...otherStreams] = streams;
    if (!streamEntry || otherStreams.length > 0) {
      throw new TemplateError(
        `the local stack runs a template with one Kinesis stream; this one has ${streams.length}`,
      );
    }
    const [streamLogicalId, streamResource] = streamEntry;
    const streamName = physicalName(streamLogicalId);
    const streamArn = arn('kinesis', `stream/${streamName}`);
    resources.set(streamLogicalId, { ref: streamName, attributes: { Arn: streamArn } });
    for (const [logicalId, consumer] of resourcesOfType(template, 'AWS::Kinesis::StreamConsumer')) {
      const consumerName = resolveString(
        consumer.Properties?.ConsumerName,
        context,
        `${logicalId}.ConsumerName`,
      );
      const consumerArn = `${streamArn}/consumer/${consumerName}:0`;
      resources.set(logicalId, {
        ref: consumerArn,
        attributes: { ConsumerARN: consumerArn, ConsumerName: consumerName, StreamARN: streamArn },
      });
    }
    const secretValue = options.jwtSecret ?? LOCAL_JWT_SECRET;
    const secrets = resourcesOfType(template, 'AWS::SecretsManager::Secret').map(([logicalId]) => {
      const secretArn = arn('secretsmanager', `secret:${logicalId}-local0`);
      resources.set(logicalId, { ref: secretArn, attributes: { Id: secretArn } });
      return { arn: secretArn, name: logicalId, value: secretValue };
    });
    for (const [logicalId] of resourcesOfType(template, 'AWS::SQS::Queue')) {
      const name = physicalName(logicalId).slice(0, 80);
      resources.set(logicalId, {
        ref: `http://127.0.0.1/${ACCOUNT_ID}/${name}`,
        attributes: { Arn: arn('sqs', name), QueueName: name },
      });
    }
    const apis = resourcesOfType(template, 'AWS::ApiGatewayV2::Api');
    for (const [logicalId] of apis) resources.set(logicalId, { ref: 'parleylocal' });
    for (const type of [
      'AWS::ApiGatewayV2::Route',
      'AWS::ApiGatewayV2::Integration',
      'AWS::ApiGatewayV2::Authorizer',
      'AWS::ApiGatewayV2::Stage',
    ]) {
      for (const [logicalId] of resourcesOfType(template, type)) resources.set(logicalId, { ref: logicalId });
    }
    const functions = functionResources(template, stackName);
    for (const fn of functions) {
      resources.set(fn.logicalId, {
        ref: fn.functionName,
        attributes: { Arn: arn('lambda', `function:${fn.functionName}`) },
      });
    }

    // ---------------------------------------------------------------------------- data
    const engineClients = createDeps(localConfig(), {}).clients;
    stoppers.push(async () => engineClients.destroy());
    await Promise.all([
      ...[
        ...resourcesOfType(template, 'AWS::DynamoDB::GlobalTable'),
        ...resourcesOfType(template, 'AWS::DynamoDB::Table'),
      ].map(([logicalId, table]) =>
        createTable(engineClients.dynamodb as never, physicalName(logicalId), table),
      ),
      (async () => {
        const properties = streamResource.Properties ?? {};
        const shardCount =
          typeof properties.ShardCount === 'number' ? properties.ShardCount : ON_DEMAND_SHARDS;
        try {
          await engineClients.kinesis.send(
            new CreateStreamCommand({ StreamName: streamName, ShardCount: shardCount }),
          );
        } catch (error) {
          if ((error as Error).name !== 'ResourceInUseException') throw error;
        }
        await waitUntilStreamExists(
          { client: engineClients.kinesis, maxWaitTime: 30, minDelay: 1 },
          { StreamName: streamName },
        );
        await registerConsumers(engineClients.kinesis, template, resources, streamArn);
      })(),
    ]);

    // ------------------------------------------------------------------ AWS endpoints
    const mappings: Array<{ mapping: RunningEventSourceMapping; filter: (data: unknown) => boolean }> = [];
    const kinesisFront = await startKinesisFront({
      target: kinesisEndpoint,
      onPut: (records) => {
        // As enhanced fan-out pushes a record to its consumer: wake the mappings whose filter takes it.
        for (const { partitionKey, data } of records) {
          for (const { mapping, filter } of mappings)
            if (data === undefined || filter(data)) mapping.wake(partitionKey);
        }
      },
      ...(options.faults?.kinesis ? { fault: options.faults.kinesis } : {}),
    });
    stoppers.push(() => kinesisFront.stop());
    const functionsDynamodbEndpoint = await dynamodbEndpointForFunctions(
      dynamodbEndpoint,
      options.faults,
      stoppers,
    );
    const secretsManager = await startSecretsManager(secrets);
    stoppers.push(() => secretsManager.stop());
    const managementEndpoint = `http://127.0.0.1:${wsPort}`;

    // ------------------------------------------------------------------------- functions
    const runners = new Map<string, FunctionRunner>();
    const functionIds = new Map<FunctionId, string>();
    for (const fn of functions) {
      const properties = fn.resource.Properties ?? {};
      const templateEnvironment = resolve(
        (properties.Environment as { Variables?: unknown } | undefined)?.Variables ?? {},
        context,
      ) as Record<string, unknown>;
      const assetPath = fn.resource.Metadata?.['aws:asset:path'];
      if (typeof assetPath !== 'string') {
        throw new TemplateError(`${fn.logicalId}: no aws:asset:path in its metadata, so no bundle to run`);
      }
      const memoryMiB = Number(properties.MemorySize ?? 128);
      const runner = new FunctionRunner(
        {
          functionName: fn.functionName,
          bundleDir: `${assemblyDir}/${assetPath}`,
          handler: String(properties.Handler ?? 'index.handler'),
          memoryMiB,
          timeoutSeconds: Number(properties.Timeout ?? 3),
          environment: {
            ...Object.fromEntries(
              Object.entries(templateEnvironment).map(([name, value]) => [name, String(value)]),
            ),
            ...lambdaRuntimeEnvironment(
              fn.functionName,
              memoryMiB,
              String(properties.Handler ?? 'index.handler'),
            ),
            AWS_ENDPOINT_URL_DYNAMODB: functionsDynamodbEndpoint,
            AWS_ENDPOINT_URL_KINESIS: kinesisFront.endpoint,
            AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.endpoint,
            AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI: managementEndpoint,
          },
        },
        {
          region: REGION,
          accountId: ACCOUNT_ID,
          ...(options.maxEnvironmentsPerFunction
            ? { maxEnvironments: options.maxEnvironmentsPerFunction }
            : {}),
          onOutput: (functionName, line) => showFunctionOutput(functionName, line, logLevel),
        },
      );
      stoppers.push(() => runner.stop());
      wrapInvoke(runner, fn.functionId, options.faults?.wrapInvoke);
      runners.set(fn.logicalId, runner);
      functionIds.set(fn.functionId, fn.functionName);
    }
    await Promise.all([...runners.values()].map((runner) => runner.warm()));
    signal?.throwIfAborted();
    const runnerOf = (expression: unknown, what: string) => {
      // An integration or authorizer URI: arn:…:apigateway:…:lambda:path/2015-03-31/functions/{arn}/invocations
      const uri = resolveString(expression, context, what);
      const functionName = /function:([^/]+)\/invocations$/.exec(uri)?.[1];
      const runner = [...runners.values()].find((candidate) => candidate.functionName === functionName);
      if (!runner) throw new TemplateError(`${what}: no function of the template behind ${uri}`);
      return runner;
    };

    // ---------------------------------------------------------------------- stream consumers
    for (const [logicalId, mapping] of resourcesOfType(template, 'AWS::Lambda::EventSourceMapping')) {
      const properties = resolve(mapping.Properties ?? {}, context) as EventSourceMappingProperties;
      const runner = [...runners.values()].find(
        (candidate) => candidate.functionName === properties.FunctionName,
      );
      if (!runner) throw new TemplateError(`${logicalId}: no function ${properties.FunctionName}`);
      if (
        properties.EventSourceArn !== streamArn &&
        !properties.EventSourceArn?.startsWith(`${streamArn}/consumer/`)
      ) {
        throw new TemplateError(`${logicalId}: reads ${properties.EventSourceArn}, not the stream`);
      }
      const patterns = (properties.FilterCriteria?.Filters ?? []).map(
        (filter) => JSON.parse(filter.Pattern) as Record<string, unknown>,
      );
      const filter = patterns.length > 0 ? filterFromPatterns(patterns) : () => true;
      const running = await startKinesisEventSourceMapping({
        kinesis: engineClients.kinesis,
        streamName,
        region: REGION,
        functionName: runner.functionName,
        handler: (event: KinesisStreamEvent) => runner.invoke(event),
        filter,
        batchSize: properties.BatchSize ?? 100,
        maximumBatchingWindowInSeconds: properties.MaximumBatchingWindowInSeconds ?? 0,
        maximumRetryAttempts: properties.MaximumRetryAttempts ?? -1,
        maximumRecordAgeInSeconds: properties.MaximumRecordAgeInSeconds ?? -1,
        bisectBatchOnFunctionError: properties.BisectBatchOnFunctionError ?? false,
        reportBatchItemFailures: (properties.FunctionResponseTypes ?? []).includes('ReportBatchItemFailures'),
        parallelizationFactor: properties.ParallelizationFactor ?? 1,
        startingPosition: properties.StartingPosition === 'LATEST' ? 'LATEST' : 'TRIM_HORIZON',
        pollIntervalMs: options.pollIntervalMs ?? 5000,
        ...(options.streamDelayMs ? { deliveryDelayMs: options.streamDelayMs } : {}),
        onFailure: (failed) =>
          log(
            `${runner.functionName}: ${failed.records.length} records sent to the on-failure destination ` +
              `${properties.DestinationConfig?.OnFailure?.Destination ?? '(none)'}: ${failed.reason}`,
          ),
        log: (level, message) => {
          if (level !== 'info') log(`${runner.functionName} event source mapping: ${message}`);
        },
      });
      mappings.push({ mapping: running, filter });
      stoppers.push(() => running.stop());
    }

    // -------------------------------------------------------------------------- the API
    const [apiEntry] = apis;
    if (!apiEntry || apis.length > 1)
      throw new TemplateError(`expected one WebSocket API, found ${apis.length}`);
    const [apiLogicalId, api] = apiEntry;
    const selection = api.Properties?.RouteSelectionExpression;
    if (selection !== '$request.body.action') {
      throw new TemplateError(
        `the local gateway selects routes on $request.body.action, not ${String(selection)}`,
      );
    }
    const integrations = new Map(
      resourcesOfType(template, 'AWS::ApiGatewayV2::Integration').map(([logicalId, integration]) => [
        logicalId,
        runnerOf(integration.Properties?.IntegrationUri, `${logicalId}.IntegrationUri`),
      ]),
    );
    const routes: Record<string, WebSocketRouteHandler> = {};
    const routeKeys = new Map<string, string>();
    let authorizer: RequestAuthorizerHandler | undefined;
    for (const [logicalId, route] of resourcesOfType(template, 'AWS::ApiGatewayV2::Route')) {
      const properties = resolve(route.Properties ?? {}, context) as {
        RouteKey: string;
        Target?: string;
        AuthorizationType?: string;
        AuthorizerId?: string;
      };
      const integrationId = properties.Target?.replace(/^integrations\//, '') ?? '';
      const runner = integrations.get(integrationId);
      if (!runner) throw new TemplateError(`route ${properties.RouteKey}: no integration ${integrationId}`);
      routes[properties.RouteKey] = (event) => runner.invoke(event);
      routeKeys.set(logicalId, properties.RouteKey);
      if (properties.AuthorizationType === 'CUSTOM' && properties.AuthorizerId) {
        authorizer = authorizerOf(template, properties.AuthorizerId, context, runnerOf);
      }
    }
    const answeredRoutes = new Set(
      resourcesOfType(template, 'AWS::ApiGatewayV2::RouteResponse').map(([, response]) => {
        const routeId = resolveString(response.Properties?.RouteId, context, 'RouteResponse.RouteId');
        return routeKeys.get(routeId) ?? routeId;
      }),
    );
    const stages = resourcesOfType(template, 'AWS::ApiGatewayV2::Stage').filter(
      ([, stage]) => (stage.Properties?.ApiId as { Ref?: string } | undefined)?.Ref === apiLogicalId,
    );
    const stageProperties = stages[0]?.[1].Properties ?? {};
    const stageName = String(stageProperties.StageName ?? '$default');
    const throttle = options.throttle ?? throttleOf(stageProperties);
    const openGateway = () =>
      startWebSocketGateway({
        port: wsPort,
        stage: stageName,
        routes,
        ...(authorizer ? { authorizer } : {}),
        answeredRoutes,
        ...(throttle ? { throttle } : {}),
        ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
        log: (level, message) => {
          if (level !== 'info') log(`[ws-gateway] ${message}`);
        },
      });
    signal?.throwIfAborted();
    let gateway: RunningWebSocketGateway = await openGateway();
    stoppers.push(() => gateway.stop());

    // ----------------------------------------------------------------- for tools and tests
    const config = localConfig();
    const deps = createDeps(config);
    stoppers.push(async () => deps.clients.destroy());

    return {
      url: gateway.url,
      managementEndpoint,
      stackName,
      config,
      deps,
      functionNames: functionIds,
      invoke: async (functionId, event) => {
        const functionName = functionIds.get(functionId);
        const runner = [...runners.values()].find((candidate) => candidate.functionName === functionName);
        if (!runner) throw new Error(`the template has no function ${functionId}`);
        return runner.invoke(event);
      },
      stop: stopAll,
      async restartGateway() {
        await gateway.stop();
        gateway = await openGateway();
      },
      async restartKinesis() {
        if (!restartableKinesis) {
          throw new Error(
            'restartKinesis needs a kinesis-mock the stack started itself, with kinesisDataDir set',
          );
        }
        await restartableKinesis.restart();
      },
    };

    /** The physical names as the template gives them to the functions, and the engines' endpoints. */
    function localConfig(): CompleteConfig {
      const variables = new Map<string, string>();
      for (const fn of functions) {
        const given = (
          fn.resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined
        )?.Variables;
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
          dynamodb: dynamodbEndpoint,
          kinesis: kinesisEndpoint,
          connections: `http://127.0.0.1:${wsPort}`,
        },
        tokens: { secret: secretValue },
        connectionTtlSeconds: DEFAULT_CONNECTION_TTL_SECONDS,
        postConcurrency: 50,
        logLevel: 'SILENT',
        serviceName: DEFAULT_SERVICE_NAME,
      };
    }
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * Registers the template's enhanced fan-out consumers with kinesis-mock, as CloudFormation
 * does, and stands each one's ARN in for its logical id. (The local mapping still reads
 * with GetRecords, woken by every put: kinesis-mock's SubscribeToShard pushes only once a
 * second.)
 */
async function registerConsumers(
  kinesis: KinesisClient,
  template: CloudFormationTemplate,
  resources: Map<string, LocalResource>,
  streamArn: string,
): Promise<void> {
  for (const [logicalId] of resourcesOfType(template, 'AWS::Kinesis::StreamConsumer')) {
    const consumerName = resources.get(logicalId)?.attributes?.ConsumerName ?? logicalId;
    let consumerArn: string | undefined;
    try {
      const registered = await kinesis.send(
        new RegisterStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: consumerName }),
      );
      consumerArn = registered.Consumer?.ConsumerARN;
    } catch (error) {
      if ((error as Error).name !== 'ResourceInUseException') throw error;
      const described = await kinesis.send(
        new DescribeStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: consumerName }),
      );
      consumerArn = described.ConsumerDescription?.ConsumerARN;
    }
    if (!consumerArn)
      throw new TemplateError(`${logicalId}: kinesis-mock registered no consumer ${consumerName}`);
    resources.set(logicalId, {
      ref: consumerArn,
      attributes: { ConsumerARN: consumerArn, ConsumerName: consumerName, StreamARN: streamArn },
    });
  }
}

/** The stage's throttles as API Gateway applies them: `DefaultRouteSettings`, and `RouteSettings` per route. */
function throttleOf(stage: Record<string, unknown>): WebSocketThrottle | undefined {
  type RouteSettings = { ThrottlingRateLimit?: number; ThrottlingBurstLimit?: number };
  const limitOf = (settings: RouteSettings | undefined) =>
    settings?.ThrottlingRateLimit !== undefined && settings.ThrottlingBurstLimit !== undefined
      ? { rateLimit: settings.ThrottlingRateLimit, burstLimit: settings.ThrottlingBurstLimit }
      : undefined;
  const stageLimit = limitOf(stage.DefaultRouteSettings as RouteSettings | undefined);
  const routes = Object.fromEntries(
    Object.entries((stage.RouteSettings as Record<string, RouteSettings> | undefined) ?? {}).flatMap(
      ([routeKey, settings]) => {
        const limit = limitOf(settings);
        return limit ? [[routeKey, limit]] : [];
      },
    ),
  );
  if (!stageLimit && Object.keys(routes).length === 0) return undefined;
  return { ...(stageLimit ? { stage: stageLimit } : {}), routes };
}

interface EventSourceMappingProperties {
  FunctionName?: string;
  EventSourceArn?: string;
  BatchSize?: number;
  MaximumBatchingWindowInSeconds?: number;
  MaximumRetryAttempts?: number;
  MaximumRecordAgeInSeconds?: number;
  BisectBatchOnFunctionError?: boolean;
  FunctionResponseTypes?: string[];
  ParallelizationFactor?: number;
  StartingPosition?: string;
  FilterCriteria?: { Filters?: Array<{ Pattern: string }> };
  DestinationConfig?: { OnFailure?: { Destination?: string } };
}

/** Each function of the template, with the handler id its description names (`lambdas/handlers/{id}.ts`). */
function functionResources(template: CloudFormationTemplate, stackName: string): FunctionResource[] {
  return resourcesOfType(template, 'AWS::Lambda::Function').map(([logicalId, resource]) => {
    const description = String(resource.Properties?.Description ?? '');
    const functionId = /lambdas\/handlers\/([a-z-]+)\.ts$/.exec(description)?.[1];
    if (!functionId)
      throw new TemplateError(`${logicalId}: its description names no handler: ${description}`);
    return {
      logicalId,
      functionId: functionId as FunctionId,
      functionName: `${stackName}-${logicalId}`.slice(0, 64),
      resource,
    };
  });
}

/** What the Lambda service sets in every function's environment (see "Defined runtime environment variables"). */
function lambdaRuntimeEnvironment(
  functionName: string,
  memoryMiB: number,
  handler: string,
): Record<string, string> {
  return {
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_LAMBDA_FUNCTION_NAME: functionName,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memoryMiB),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${functionName}`,
    AWS_LAMBDA_LOG_STREAM_NAME: 'local',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    _HANDLER: handler,
    TZ: ':UTC',
    LANG: 'en_US.UTF-8',
    ...LOCAL_CREDENTIALS,
    // This machine runs Node.js 20 where Lambda runs 22: the SDK's notice is about the former.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

function authorizerOf(
  template: CloudFormationTemplate,
  authorizerId: string,
  _context: ResolutionContext,
  runnerOf: (expression: unknown, what: string) => FunctionRunner,
): RequestAuthorizerHandler {
  const resource = template.Resources[authorizerId];
  if (resource?.Type !== 'AWS::ApiGatewayV2::Authorizer') {
    throw new TemplateError(`authorizer ${authorizerId} is not in the template`);
  }
  const properties = resource.Properties ?? {};
  if (properties.AuthorizerType !== 'REQUEST') {
    throw new TemplateError(`authorizer ${authorizerId}: the local gateway runs REQUEST authorizers only`);
  }
  const runner = runnerOf(properties.AuthorizerUri, `${authorizerId}.AuthorizerUri`);
  const queryParameters = ((properties.IdentitySource as string[] | undefined) ?? []).map((source) => {
    const name = /^route\.request\.querystring\.(.+)$/.exec(source)?.[1];
    if (!name)
      throw new TemplateError(`authorizer ${authorizerId}: identity source ${source} is not a query string`);
    return name;
  });
  return async (event) => {
    // API Gateway answers 401 itself, without invoking the authorizer, when an identity source is missing.
    for (const name of queryParameters) {
      if (!event.queryStringParameters?.[name]) throw new Error('Unauthorized');
    }
    return runner.invoke(event);
  };
}

async function createTable(
  client: { send(command: CreateTableCommand | UpdateTimeToLiveCommand): Promise<unknown> },
  tableName: string,
  table: TemplateResource,
): Promise<void> {
  const properties = table.Properties ?? {};
  const indexes = (list: unknown) =>
    (list as Array<Record<string, unknown>> | undefined)?.map(({ IndexName, KeySchema, Projection }) => ({
      IndexName,
      KeySchema,
      Projection,
    }));
  const input = {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: properties.AttributeDefinitions,
    KeySchema: properties.KeySchema,
    ...(properties.GlobalSecondaryIndexes
      ? { GlobalSecondaryIndexes: indexes(properties.GlobalSecondaryIndexes) }
      : {}),
    ...(properties.LocalSecondaryIndexes
      ? { LocalSecondaryIndexes: indexes(properties.LocalSecondaryIndexes) }
      : {}),
  } as CreateTableCommandInput;
  try {
    await client.send(new CreateTableCommand(input));
  } catch (error) {
    if ((error as Error).name === 'ResourceInUseException') return;
    throw error;
  }
  const ttl = properties.TimeToLiveSpecification as { AttributeName?: string; Enabled?: boolean } | undefined;
  if (ttl?.Enabled && ttl.AttributeName) {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { Enabled: true, AttributeName: ttl.AttributeName },
      }),
    );
  }
}

/** A function's log line, on stderr when its level is at or above the stack's; EMF metric lines are not shown. */
function showFunctionOutput(functionName: string, line: string, logLevel: CompleteConfig['logLevel']): void {
  if (logLevel === 'SILENT') return;
  let level = 'INFO';
  try {
    const parsed = JSON.parse(line) as { level?: string; _aws?: unknown };
    if (parsed._aws) return;
    level = String(parsed.level ?? 'INFO').toUpperCase();
  } catch {
    // A plain line (console.log): shown at INFO.
  }
  const rank = (value: string) => LOG_LEVELS.indexOf(value as (typeof LOG_LEVELS)[number]);
  if (rank(level) >= rank(logLevel)) console.error(`[${functionName}] ${line}`);
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

/** Puts `wrap` around a function's invoke, so that every caller of the runner goes through it. */
function wrapInvoke(runner: FunctionRunner, functionId: FunctionId, wrap: InvokeWrapper | undefined): void {
  if (!wrap) return;
  const invoke = wrap(functionId, (event) => FunctionRunner.prototype.invoke.call(runner, event));
  runner.invoke = invoke as FunctionRunner['invoke'];
}
