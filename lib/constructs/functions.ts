/**
 * One Lambda function per function of `definitions/functions.ts`, bundled from its handler
 * file with esbuild for Node.js 22 on arm64, each with a role of its own that grants
 * exactly what its definition says it uses, and a log group of its own.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import {
  connectionMethodsOf,
  DEFAULT_LAMBDA_SYSTEM_LOG_LEVEL,
  FUNCTIONS,
  type FunctionDefinition,
  type FunctionId,
  handlerFileOf,
  type LambdaSystemLogLevel,
  tablesOf,
} from '../../definitions/functions.js';
import { METRICS_NAMESPACE, serviceNameOf } from '../../definitions/metrics.js';
import {
  environmentVariableName,
  TABLE_NAME_FIELDS,
  TABLES,
  type TableDefinition,
  type TableId,
} from '../../definitions/tables.js';
import { acknowledge } from '../nag.js';
import {
  type PushDeploymentSettings,
  platformApplicationsOf,
  platformEndpointsOf,
  pushEnvironmentOf,
} from '../push-settings.js';
import type { ParleyData } from './data.js';
import { pascalCase } from './data.js';

const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The export condition under which the workspace packages point at their TypeScript sources. */
const SOURCE_CONDITION = '@parley/source';

export interface ParleyFunctionsProps {
  stage: string;
  data: ParleyData;
  /** The `@connections` endpoint of the API stage, `https://{apiId}.execute-api.{region}.amazonaws.com/{stage}`. */
  connectionsEndpoint: string;
  /** Grants `execute-api:ManageConnections` on the API stage, for one method, to a function that calls it. */
  grantManageConnections: (grantee: iam.IGrantable, method: 'POST' | 'DELETE') => void;
  /** How tokens are verified: a JWKS URL, or the secret holding the HS256 key. */
  tokenKey: { jwksUrl: string } | { secret: secretsmanager.ISecret };
  jwtIssuer?: string;
  jwtAudience?: string;
  /** `PARLEY_MAX_TOKEN_AGE_SECONDS` of the authorizer. */
  maxTokenAgeSeconds: number;
  /** `PARLEY_ALLOWED_ORIGINS` of the authorizer; any origin when empty. */
  allowedOrigins: string[];
  /** Keep the log groups when the stack is deleted (production). */
  retainLogs: boolean;
  /** `FAST_PATH_MAX_CONNECTIONS` of the `send` function; its default (16) when absent. */
  fastPathMaxConnections?: number;
  /** `PARLEY_MAX_CONNECTIONS_PER_USER` of the `connect` function; its default (10) when absent. */
  maxConnectionsPerUser?: number;
  /** `PARLEY_RATE_LIMITS` of the functions with a per-user limit; their defaults when absent. */
  rateLimits?: string;
  /** Reserved concurrency by function; none for a function not named. */
  reservedConcurrency?: Partial<Record<FunctionId, number>>;
  /** `PARLEY_MESSAGE_RETENTION_DAYS` of every function; messages are kept forever when absent. */
  messageRetentionDays?: number;
  /** The push settings of the functions that push or register pushes; push is off when absent. */
  push?: PushDeploymentSettings;
  /** The level of Lambda's own log records; `DEFAULT_LAMBDA_SYSTEM_LOG_LEVEL` (WARN) when absent. */
  systemLogLevel?: LambdaSystemLogLevel;
}

export class ParleyFunctions extends Construct {
  /** Every function, by its handler id. */
  readonly functions: Readonly<Record<FunctionId, NodejsFunction>>;

  constructor(scope: Construct, id: string, props: ParleyFunctionsProps) {
    super(scope, id);
    const build = (definition: FunctionDefinition) => this.#buildFunction(definition, props);
    this.functions = Object.fromEntries(
      FUNCTIONS.map((definition) => [definition.id, build(definition)]),
    ) as Record<FunctionId, NodejsFunction>;
    acknowledge(
      this,
      'AwsSolutions-L1',
      'Node.js 22 is the runtime Parley is built (esbuild target node22) and tested for; a ' +
        'newer runtime is a deliberate upgrade, made with its own test run.',
    );
  }

  /**
   * Exactly the settings the function reads (`lambdas/config.ts` requires the same ones):
   * the names of the tables it touches, the stream if it publishes, the `@connections`
   * endpoint if it posts, the token key if it verifies tokens.
   */
  #environmentOf(definition: FunctionDefinition, props: ParleyFunctionsProps): Record<string, string> {
    const tables = tablesOf(definition).map((tableId) => {
      const field = TABLE_NAME_FIELDS[tableId];
      return [environmentVariableName(field), props.data.tables[tableId].tableName];
    });
    return {
      ...Object.fromEntries(tables),
      ...(definition.publishes
        ? { [environmentVariableName('eventsStream')]: props.data.stream.streamName }
        : {}),
      ...(connectionMethodsOf(definition).length > 0
        ? { PARLEY_CONNECTIONS_ENDPOINT: props.connectionsEndpoint }
        : {}),
      // Only `$connect` counts a user's connections (docs/adr/0011-connection-cap.md).
      ...(definition.id === 'connect' && props.maxConnectionsPerUser !== undefined
        ? { PARLEY_MAX_CONNECTIONS_PER_USER: String(props.maxConnectionsPerUser) }
        : {}),
      ...(definition.verifiesTokens ? this.#tokenEnvironment(props) : {}),
      // Only `send` posts a message before the stream does (docs/adr/0008-fast-path.md).
      ...(definition.id === 'send' && props.fastPathMaxConnections !== undefined
        ? { FAST_PATH_MAX_CONNECTIONS: String(props.fastPathMaxConnections) }
        : {}),
      ...(props.rateLimits && 'rate-limits' in definition.tables
        ? { PARLEY_RATE_LIMITS: props.rateLimits }
        : {}),
      // Every reader of messages or list entries must treat an expired one as gone.
      ...(props.messageRetentionDays !== undefined
        ? { PARLEY_MESSAGE_RETENTION_DAYS: String(props.messageRetentionDays) }
        : {}),
      ...(definition.pushes
        ? pushEnvironmentOf(props.push, 'notifier')
        : definition.deletesPlatformEndpoints
          ? pushEnvironmentOf(props.push, 'routes')
          : {}),
      POWERTOOLS_SERVICE_NAME: serviceNameOf(props.stage),
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      POWERTOOLS_LOG_LEVEL: 'INFO',
      // Stack traces in the logs point at lambdas/…/*.ts, not at the minified bundle.
      NODE_OPTIONS: '--enable-source-maps',
    };
  }

  #tokenEnvironment(props: ParleyFunctionsProps): Record<string, string> {
    return {
      ...('jwksUrl' in props.tokenKey
        ? { PARLEY_JWKS_URL: props.tokenKey.jwksUrl }
        : { PARLEY_JWT_SECRET_ARN: props.tokenKey.secret.secretArn }),
      ...(props.jwtIssuer ? { PARLEY_JWT_ISSUER: props.jwtIssuer } : {}),
      ...(props.jwtAudience ? { PARLEY_JWT_AUDIENCE: props.jwtAudience } : {}),
      PARLEY_MAX_TOKEN_AGE_SECONDS: String(props.maxTokenAgeSeconds),
      ...(props.allowedOrigins.length > 0 ? { PARLEY_ALLOWED_ORIGINS: props.allowedOrigins.join(',') } : {}),
    };
  }

  #buildFunction(definition: FunctionDefinition, props: ParleyFunctionsProps): NodejsFunction {
    const name = pascalCase(definition.id);
    // A role per function, with no managed policy: it may write its own log group and do
    // what its definition lists, and nothing else.
    const role = new iam.Role(this, `${name}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Parley ${props.stage}: the ${definition.id} function`,
    });
    const logGroup = new logs.LogGroup(this, `${name}Logs`, {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.retainLogs ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    logGroup.grantWrite(role);

    const fn = new NodejsFunction(this, `${name}Function`, {
      entry: join(PROJECT_ROOT, handlerFileOf(definition.id)),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: definition.memoryMiB,
      timeout: Duration.seconds(definition.timeoutSeconds),
      role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      // At WARN Lambda sends no START and REPORT record per invocation, which at scale cost
      // more than the handlers' own lines; Lambda's Duration, Errors and Throttles metrics
      // do not come from those records and stay.
      systemLogLevelV2: lambda.SystemLogLevel[props.systemLogLevel ?? DEFAULT_LAMBDA_SYSTEM_LOG_LEVEL],
      // The deployed mode of the local stack finds the function's id by this handler file.
      description: `Parley ${props.stage}: ${handlerFileOf(definition.id)}`,
      environment: this.#environmentOf(definition, props),
      // A reservation is also the function's ceiling: see docs/adr/0012-per-user-limits.md.
      ...(props.reservedConcurrency?.[definition.id] !== undefined
        ? { reservedConcurrentExecutions: props.reservedConcurrency[definition.id] }
        : {}),
      bundling: {
        // The SDK is bundled too, at the version package-lock.json pins, rather than
        // whatever version the runtime ships.
        externalModules: [],
        format: OutputFormat.CJS,
        target: 'node22',
        minify: true,
        sourceMap: true,
        // The workspace packages (@parley/protocol) are bundled from their TypeScript
        // sources, as tsx, vitest and tsc resolve them (package.json `exports`).
        esbuildArgs: { '--conditions': SOURCE_CONDITION },
      },
    });

    this.#grant(role, definition, props);
    return fn;
  }

  /** Exactly what the definition lists: its tables and actions, its indexes, the stream, the API, the key. */
  #grant(role: iam.Role, definition: FunctionDefinition, props: ParleyFunctionsProps): void {
    for (const [tableId, actions] of Object.entries(definition.tables) as Array<
      [TableId, readonly string[]]
    >) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: actions.map((action) => `dynamodb:${action}`),
          resources: [props.data.tables[tableId].tableArn],
        }),
      );
    }
    for (const [tableId, indexNames] of Object.entries(definition.indexQueries ?? {}) as Array<
      [TableId, readonly string[]]
    >) {
      // Named index ARNs rather than `table.grant`'s `index/*`, so no wildcard reaches IAM.
      const table = props.data.tables[tableId];
      for (const indexName of indexNames) {
        if (!indexNamesOf(tableId).includes(indexName)) {
          throw new Error(`${definition.id}: table ${tableId} has no index ${indexName}`);
        }
      }
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['dynamodb:Query'],
          resources: indexNames.map((indexName) => `${table.tableArn}/index/${indexName}`),
        }),
      );
    }
    if (definition.publishes) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['kinesis:PutRecord'],
          resources: [props.data.stream.streamArn],
        }),
      );
    }
    for (const method of connectionMethodsOf(definition)) props.grantManageConnections(role, method);
    this.#grantPush(role, definition, props.push);
    if (definition.verifiesTokens && 'secret' in props.tokenKey) {
      // GetSecretValue only: `secret.grantRead` would add DescribeSecret, which nothing calls.
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['secretsmanager:GetSecretValue'],
          resources: [props.tokenKey.secret.secretArn],
        }),
      );
    }
  }

  /**
   * The notifier: GetSecretValue on the VAPID key's secret only; CreatePlatformEndpoint on
   * the configured platform applications; Publish, Get/SetEndpointAttributes (re-enabling an
   * endpoint as SNS's guide says) and DeleteEndpoint on their endpoints. The registration
   * routes: DeleteEndpoint on those endpoints. Nothing without a platform application.
   */
  #grantPush(role: iam.Role, definition: FunctionDefinition, push: PushDeploymentSettings | undefined) {
    const applications = platformApplicationsOf(push);
    const endpoints = applications.map(platformEndpointsOf);
    if (definition.pushes && push?.vapid) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['secretsmanager:GetSecretValue'],
          resources: [push.vapid.privateKeySecretArn],
        }),
      );
    }
    if (applications.length === 0 || !(definition.pushes || definition.deletesPlatformEndpoints)) return;
    if (definition.pushes) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['sns:CreatePlatformEndpoint'], resources: applications }),
      );
    }
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: definition.pushes
          ? ['sns:Publish', 'sns:GetEndpointAttributes', 'sns:SetEndpointAttributes', 'sns:DeleteEndpoint']
          : ['sns:DeleteEndpoint'],
        resources: endpoints,
      }),
    );
    for (const endpoint of endpoints) {
      acknowledge(
        role,
        'AwsSolutions-IAM5',
        'SNS makes a platform endpoint per device token at run time, so the resource ends in a ' +
          'wildcard; it is otherwise as narrow as it gets: the endpoints of the one platform ' +
          'application this deployment configured, and only the actions the function calls.',
        `Resource::${endpoint}`,
      );
    }
  }
}

function indexNamesOf(tableId: TableId): string[] {
  const definition: TableDefinition | undefined = TABLES.find((table) => table.id === tableId);
  return [...(definition?.globalSecondaryIndexes ?? []), ...(definition?.localSecondaryIndexes ?? [])].map(
    (index) => index.indexName,
  );
}
