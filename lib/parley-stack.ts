/**
 * The one stack of Parley, `Parley-{stage}`: the data (tables and stream), the WebSocket
 * API, one function per handler, the stream's consumers and the monitoring, wired
 * together here. Settings come validated from `lib/settings.ts`.
 */
import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { eventsStream, TABLES } from '../definitions/tables.js';
import { ParleyApi } from './constructs/api.js';
import { ParleyData, pascalCase } from './constructs/data.js';
import { ParleyDelivery } from './constructs/delivery.js';
import { ParleyFunctions } from './constructs/functions.js';
import { ParleyMonitoring } from './constructs/monitoring.js';
import { acknowledge } from './nag.js';
import type { ParleySettings } from './settings.js';
import { isProduction } from './stage.js';

export interface ParleyStackProps extends StackProps {
  settings: ParleySettings;
}

export class ParleyStack extends Stack {
  readonly settings: ParleySettings;
  readonly data: ParleyData;
  readonly api: ParleyApi;
  readonly functions: ParleyFunctions;
  readonly delivery: ParleyDelivery;
  readonly monitoring: ParleyMonitoring;
  /** The HS256 key the stack generated, when no JWKS URL or secret was given. */
  readonly tokenSigningKey?: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: ParleyStackProps) {
    super(scope, id, props);
    const { settings } = props;
    this.settings = settings;
    const production = isProduction(settings.stage);
    const removalPolicy = production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    /* -------------------------------------------------------------------------- */
    /*                                    DATA                                    */
    /* -------------------------------------------------------------------------- */
    this.data = new ParleyData(this, 'Data', {
      retainData: production,
      shards: settings.shards,
      dynamodbCapacity: settings.dynamodbCapacity,
    });

    let tokenKey: TokenKey;
    if (settings.tokenKey.kind === 'generated') {
      this.tokenSigningKey = generateSigningKey(this, settings.stage, removalPolicy);
      tokenKey = { secret: this.tokenSigningKey };
    } else {
      tokenKey = givenTokenKey(this, settings.tokenKey);
    }

    /* -------------------------------------------------------------------------- */
    /*                              API AND FUNCTIONS                             */
    /* -------------------------------------------------------------------------- */
    this.api = new ParleyApi(this, 'Api', {
      stageName: settings.stage,
      throttle: settings.throttle,
      routeThrottles: { send: settings.sendThrottle },
      retainLogs: production,
    });
    this.functions = new ParleyFunctions(this, 'Functions', {
      stage: settings.stage,
      data: this.data,
      connectionsEndpoint: this.api.connectionsEndpoint,
      grantManageConnections: (grantee, method) => this.api.grantManageConnections(grantee, method),
      tokenKey,
      ...(settings.jwtIssuer ? { jwtIssuer: settings.jwtIssuer } : {}),
      ...(settings.jwtAudience ? { jwtAudience: settings.jwtAudience } : {}),
      maxTokenAgeSeconds: settings.maxTokenAgeSeconds,
      allowedOrigins: settings.allowedOrigins,
      retainLogs: production,
      fastPathMaxConnections: settings.fastPathMaxConnections,
      maxConnectionsPerUser: settings.maxConnectionsPerUser,
      ...(settings.rateLimits ? { rateLimits: settings.rateLimits } : {}),
      ...(settings.reservedConcurrency ? { reservedConcurrency: settings.reservedConcurrency } : {}),
      ...(settings.messageRetentionDays ? { messageRetentionDays: settings.messageRetentionDays } : {}),
      ...(settings.push ? { push: settings.push } : {}),
      systemLogLevel: settings.lambdaSystemLogLevel,
    });
    this.api.addRoutes(this.functions.functions);

    /* -------------------------------------------------------------------------- */
    /*                                  DELIVERY                                  */
    /* -------------------------------------------------------------------------- */
    this.delivery = new ParleyDelivery(this, 'Delivery', {
      stream: this.data.stream,
      functions: this.functions.functions,
    });

    /* -------------------------------------------------------------------------- */
    /*                                 MONITORING                                 */
    /* -------------------------------------------------------------------------- */
    this.monitoring = new ParleyMonitoring(this, 'Monitoring', {
      stage: settings.stage,
      functions: this.functions.functions,
      tables: this.data.tables,
      stream: this.data.stream,
      failureQueue: this.delivery.failureQueue,
      api: { apiId: this.api.webSocketApi.apiId, stageName: this.api.stage.stageName },
      ...(settings.alarmEmail ? { alarmEmail: settings.alarmEmail } : {}),
      deliveryLatencyP99AlarmMs: settings.deliveryLatencyP99AlarmMs,
    });

    this.#addOutputs();
  }

  #addOutputs() {
    new CfnOutput(this, 'WebSocketUrl', {
      description: 'Where clients connect: wss://…?token={jwt}&deviceId={id}',
      value: this.api.url,
    });
    new CfnOutput(this, 'ConnectionsEndpoint', {
      description: 'The @connections management endpoint of the API stage',
      value: this.api.connectionsEndpoint,
    });
    if (this.tokenSigningKey) {
      new CfnOutput(this, 'TokenSigningKeyArn', {
        description: 'The secret holding the HS256 key to sign client tokens with',
        value: this.tokenSigningKey.secretArn,
      });
    }
    if (this.settings.push?.vapid) {
      new CfnOutput(this, 'VapidPublicKey', {
        description:
          'The applicationServerKey browsers subscribe to Web Push with (the private key stays in its secret)',
        value: this.settings.push.vapid.publicKey,
      });
    }
    new CfnOutput(this, 'AlarmTopicArn', {
      description: 'Every alarm notifies this topic',
      value: this.monitoring.alarmTopic.topicArn,
    });
    new CfnOutput(this, 'DashboardName', { value: this.monitoring.dashboard.dashboardName });
    new CfnOutput(this, 'FailureQueueUrl', {
      description: 'Stream records that exhausted their retries',
      value: this.delivery.failureQueue.queueUrl,
    });
    for (const definition of TABLES) {
      new CfnOutput(this, `${pascalCase(definition.id)}TableName`, {
        description: `Physical name of the ${definition.id} table`,
        value: this.data.tables[definition.id].tableName,
      });
    }
    new CfnOutput(this, `${pascalCase(eventsStream.id)}StreamName`, {
      description: `Physical name of the ${eventsStream.id} stream`,
      value: this.data.stream.streamName,
    });
  }
}

/** Where the authorizer finds the keys that verify tokens. */
type TokenKey = { jwksUrl: string } | { secret: secretsmanager.ISecret };

/** The key a deployment brings: a JWKS URL, or the ARN of a secret holding an HS256 key. */
function givenTokenKey(
  scope: Construct,
  tokenKey: ParleySettings['tokenKey'],
): { jwksUrl: string } | { secret: secretsmanager.ISecret } {
  if (tokenKey.kind === 'jwks') return { jwksUrl: tokenKey.jwksUrl };
  if (tokenKey.kind === 'secret') {
    return {
      secret: secretsmanager.Secret.fromSecretCompleteArn(scope, 'TokenSigningKey', tokenKey.secretArn),
    };
  }
  throw new Error('a generated token key is made by the stack, not given');
}

/** An HS256 key of the stack's own, when the deployment brings none. */
function generateSigningKey(
  scope: Construct,
  stage: string,
  removalPolicy: RemovalPolicy,
): secretsmanager.Secret {
  const key = new secretsmanager.Secret(scope, 'TokenSigningKey', {
    description: `Parley ${stage}: the HS256 key client tokens are signed with`,
    generateSecretString: { passwordLength: 64, excludePunctuation: true },
    removalPolicy,
  });
  acknowledge(
    key,
    'AwsSolutions-SMG4',
    'Rotating the HS256 key invalidates every token in circulation, so it is rotated by ' +
      'hand with the token issuer (put a new value, then re-issue tokens); an issuer whose ' +
      'keys rotate by kid is configured with jwksUrl instead.',
  );
  return key;
}
