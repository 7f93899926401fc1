/**
 * The template's functions, each run from its bundle by a `FunctionRunner` with the
 * environment the template gives it, resolved to the local resources, plus what the
 * Lambda service itself adds and the AWS SDK's endpoint variables that point the bundle at
 * the local engines.
 */

import type { FunctionId } from '../../definitions/functions.js';
import type { CompleteConfig } from '../../lambdas/config.js';
import { TemplateError } from '../errors.js';
import { FunctionRunner } from './function-runner.js';
import { withLocalPushOrigin } from './push.js';
import { ACCOUNT_ID, REGION, type StandIns } from './stand-ins.js';
import { type ResolutionContext, resolve, resolveString } from './template.js';

/** Lambda gives every function these; the engines on this machine accept any credentials. */
const LOCAL_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
  AWS_SESSION_TOKEN: 'local',
};
const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT'] as const;

/** Where the bundles' AWS SDK clients are sent, through their standard `AWS_ENDPOINT_URL_*` variables. */
export interface FunctionEndpoints {
  dynamodb: string;
  kinesis: string;
  secretsManager: string;
  connections: string;
}

/** Takes a function's invoke as the stack would call it, and returns the one to call instead. */
export type InvokeWrapper = (
  functionId: FunctionId,
  invoke: (event: unknown) => Promise<unknown>,
) => (event: unknown) => Promise<unknown>;

export interface RunningFunctions {
  /** By function name, as the template's references resolve to it. */
  runners: Map<string, FunctionRunner>;
  /** Handler id → function name. */
  functionIds: Map<FunctionId, string>;
}

/** A runner for each function of the template; none is started until `warm` or its first invoke. */
export function runnersFor(
  { functions, context }: StandIns,
  assemblyDir: string,
  endpoints: FunctionEndpoints,
  options: {
    logLevel: CompleteConfig['logLevel'];
    maxEnvironmentsPerFunction?: number;
    wrapInvoke?: InvokeWrapper;
    /** The local push service's origin, allowed to the functions the template turned Web Push on for. */
    pushServiceOrigin?: string;
  },
): RunningFunctions {
  const logLevel = options.logLevel;
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
          ...withLocalPushOrigin(
            Object.fromEntries(
              Object.entries(templateEnvironment).map(([name, value]) => [name, String(value)]),
            ),
            options.pushServiceOrigin,
          ),
          ...lambdaRuntimeEnvironment(
            fn.functionName,
            memoryMiB,
            String(properties.Handler ?? 'index.handler'),
          ),
          AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
          AWS_ENDPOINT_URL_KINESIS: endpoints.kinesis,
          AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoints.secretsManager,
          AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI: endpoints.connections,
          // Only this says the functions run on this machine, where a JWKS may be served over http.
          PARLEY_LOCAL_STACK: 'true',
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
    wrapInvoke(runner, fn.functionId, options.wrapInvoke);
    runners.set(fn.functionName, runner);
    functionIds.set(fn.functionId, fn.functionName);
  }
  return { runners, functionIds };
}

/** The runner behind an integration or authorizer URI (`…:lambda:path/2015-03-31/functions/{arn}/invocations`). */
export function runnerBehind(runners: Map<string, FunctionRunner>, context: ResolutionContext) {
  return (expression: unknown, what: string): FunctionRunner => {
    const uri = resolveString(expression, context, what);
    const functionName = /function:([^/]+)\/invocations$/.exec(uri)?.[1];
    const runner = functionName ? runners.get(functionName) : undefined;
    if (!runner) throw new TemplateError(`${what}: no function of the template behind ${uri}`);
    return runner;
  };
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

/** Puts `wrap` around a function's invoke, so that every caller of the runner goes through it. */
function wrapInvoke(runner: FunctionRunner, functionId: FunctionId, wrap: InvokeWrapper | undefined): void {
  if (!wrap) return;
  const invoke = wrap(functionId, (event) => FunctionRunner.prototype.invoke.call(runner, event));
  runner.invoke = invoke as FunctionRunner['invoke'];
}
