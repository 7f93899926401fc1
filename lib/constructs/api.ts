/**
 * The WebSocket API of docs/protocol.md: one route per action (selected on
 * `$request.body.action`), a Lambda REQUEST authorizer on `$connect` reading `token` from
 * the query string, route responses for the actions that answer, `ping` answered by API
 * Gateway itself (a MOCK integration, no function), stage-wide throttling
 * with a tighter throttle of its own for `send`, access logs and error-level execution logs.
 */
import { RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { AUTHORIZER_FUNCTION, type FunctionId, ROUTE_FUNCTIONS } from '../../definitions/functions.js';
import { MOCK_ROUTES, type MockRouteDefinition } from '../../definitions/mock-routes.js';
import { acknowledge } from '../nag.js';
import { pascalCase } from './data.js';

export interface ParleyApiProps {
  stageName: string;
  throttle: { rateLimit: number; burstLimit: number };
  /**
   * Route keys with a throttle of their own, tighter than the stage's (`send`). API Gateway
   * throttles per stage and route across all connections, not per connection.
   */
  routeThrottles?: Partial<Record<string, { rateLimit: number; burstLimit: number }>>;
  /** Keep the access logs when the stack is deleted (production). */
  retainLogs: boolean;
}

/** The `$context` variables of a WebSocket access log line. */
const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  connectionId: '$context.connectionId',
  eventType: '$context.eventType',
  routeKey: '$context.routeKey',
  status: '$context.status',
  requestTime: '$context.requestTimeEpoch',
  sourceIp: '$context.identity.sourceIp',
  userId: '$context.authorizer.userId',
  integrationLatency: '$context.integrationLatency',
  error: '$context.error.message',
  authorizerError: '$context.authorizer.error',
  integrationError: '$context.integration.error',
} as const;

/** Execution logs at ERROR only: INFO would log every frame's metadata, at a cost per line. */
const ROUTE_LOGGING = {
  LoggingLevel: 'ERROR',
  DataTraceEnabled: false,
  DetailedMetricsEnabled: true,
} as const;

export class ParleyApi extends Construct {
  readonly webSocketApi: apigwv2.WebSocketApi;
  readonly stage: apigwv2.WebSocketStage;
  readonly accessLogs: logs.LogGroup;
  readonly #routeThrottles: NonNullable<ParleyApiProps['routeThrottles']>;

  constructor(scope: Construct, id: string, props: ParleyApiProps) {
    super(scope, id);
    this.#routeThrottles = props.routeThrottles ?? {};
    this.webSocketApi = new apigwv2.WebSocketApi(this, 'WebSocketApi', {
      apiName: Stack.of(this).stackName,
      description: 'Parley real-time messaging: docs/protocol.md',
      routeSelectionExpression: '$request.body.action',
    });

    // Access and execution logs need the account's API Gateway CloudWatch Logs role: without
    // it, creating the stage fails ("CloudWatch Logs role ARN must be set in account settings
    // to enable logging", HTTP 400: aws/aws-cdk#33977, anomalyco/sst#1556). The ParleyAccount
    // stack sets it, once per account and region.
    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.retainLogs ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    this.stage = new apigwv2.WebSocketStage(this, 'Stage', {
      webSocketApi: this.webSocketApi,
      stageName: props.stageName,
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });
    const cfnStage = this.stage.node.defaultChild as apigwv2.CfnStage;
    for (const [setting, value] of Object.entries(ROUTE_LOGGING)) {
      cfnStage.addPropertyOverride(`DefaultRouteSettings.${setting}`, value);
    }
  }

  /** `wss://{apiId}.execute-api.{region}.amazonaws.com/{stage}`: what clients connect to. */
  get url(): string {
    return this.stage.url;
  }

  /** `https://{apiId}.execute-api.{region}.amazonaws.com/{stage}`: where functions post to connections. */
  get connectionsEndpoint(): string {
    return this.stage.callbackUrl;
  }

  /**
   * Lets `grantee` post to this stage's connections (POST), or close them (DELETE): that
   * method only (never reading them), and no other API's or stage's.
   */
  grantManageConnections(grantee: iam.IGrantable, method: 'POST' | 'DELETE' = 'POST'): void {
    const connections = Stack.of(this).formatArn({
      service: 'execute-api',
      resource: this.webSocketApi.apiId,
      resourceName: `${this.stage.stageName}/${method}/@connections/*`,
    });
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: ['execute-api:ManageConnections'],
      resourceArns: [connections],
    });
    if (grant.principalStatement && grantee.grantPrincipal instanceof iam.Role) {
      // The finding names the ARN as cdk-nag prints it: unresolved parts as <Token> placeholders.
      const stack = Stack.of(this);
      const shown = (value: string, placeholder: string) => (Token.isUnresolved(value) ? placeholder : value);
      const apiLogicalId = stack.getLogicalId(this.webSocketApi.node.defaultChild as apigwv2.CfnApi);
      const arn =
        `arn:<AWS::Partition>:execute-api:${shown(stack.region, '<AWS::Region>')}:` +
        `${shown(stack.account, '<AWS::AccountId>')}:<${apiLogicalId}>/${this.stage.stageName}/${method}/@connections/*`;
      acknowledge(
        grantee.grantPrincipal,
        'AwsSolutions-IAM5',
        'Connection ids are made at run time, so the resource ends in a wildcard; the grant is ' +
          `otherwise as narrow as it gets: ManageConnections, ${method} only, on this API and stage only.`,
        `Resource::${arn}`,
      );
    }
  }

  /**
   * Adds the route of every route function of `definitions/functions.ts`, each integrated with
   * its function, and the authorizer in front of the route it authorizes.
   */
  addRoutes(functions: Readonly<Record<FunctionId, lambda.IFunction>>): void {
    const { id: authorizerId, trigger: authorizes } = AUTHORIZER_FUNCTION;
    const authorizer = new WebSocketLambdaAuthorizer('TokenAuthorizer', functions[authorizerId], {
      // API Gateway answers 401 itself, without invoking the function, when `token` is missing.
      identitySource: [`route.request.querystring.${authorizes.queryParameter}`],
    });
    for (const { id: functionId, trigger } of ROUTE_FUNCTIONS) {
      const { routeKey } = trigger;
      const integration = new WebSocketLambdaIntegration(
        `${pascalCase(functionId)}Integration`,
        functions[functionId],
      );
      const route = this.webSocketApi.addRoute(routeKey, {
        integration,
        ...(routeKey === authorizes.routeKey ? { authorizer } : {}),
        returnResponse: trigger.answered,
      });
      const throttle = this.#routeThrottles[routeKey];
      if (throttle) {
        // A route's settings replace the defaults for that route: repeat the logging ones.
        const cfnStage = this.stage.node.defaultChild as apigwv2.CfnStage;
        cfnStage.addPropertyOverride(`RouteSettings.${routeKey}`, {
          ...ROUTE_LOGGING,
          ThrottlingRateLimit: throttle.rateLimit,
          ThrottlingBurstLimit: throttle.burstLimit,
        });
        // API Gateway refuses settings for a route key the API does not have yet.
        this.stage.node.addDependency(route);
      }
      if (routeKey !== authorizes.routeKey) acknowledgeConnectAuthorization(route);
    }
    for (const mockRoute of MOCK_ROUTES) this.#addMockRoute(mockRoute);
  }

  /**
   * A route API Gateway serves itself: a MOCK integration whose request template gives the
   * status and, for a route that answers, an integration response whose template writes
   * the answer and a route response that sends it back. With no response the route is
   * one-way and gets neither: API Gateway answers nothing. The CDK's mock integration has
   * no integration response, so these are the CloudFormation resources themselves.
   */
  #addMockRoute({ routeKey, requestTemplate, response }: MockRouteDefinition): void {
    const name = pascalCase(routeKey);
    const apiId = this.webSocketApi.apiId;
    const integration = new apigwv2.CfnIntegration(this, `${name}MockIntegration`, {
      apiId,
      integrationType: 'MOCK',
      templateSelectionExpression: '\\$default',
      requestTemplates: { $default: requestTemplate },
    });
    const route = new apigwv2.CfnRoute(this, `${name}Route`, {
      apiId,
      routeKey,
      target: `integrations/${integration.ref}`,
      ...(response ? { routeResponseSelectionExpression: '$default' } : {}),
    });
    acknowledgeConnectAuthorization(route);
    if (!response) return;
    new apigwv2.CfnIntegrationResponse(this, `${name}MockIntegrationResponse`, {
      apiId,
      integrationId: integration.ref,
      integrationResponseKey: '$default',
      templateSelectionExpression: '\\$default',
      responseTemplates: { $default: response.template },
    });
    new apigwv2.CfnRouteResponse(this, `${name}RouteResponse`, {
      apiId,
      routeId: route.ref,
      routeResponseKey: '$default',
    });
  }
}

function acknowledgeConnectAuthorization(route: Construct): void {
  acknowledge(
    route,
    'AwsSolutions-APIG4',
    'A WebSocket API authorizes on $connect only, as API Gateway allows: every later ' +
      'frame of the connection carries the identity the authorizer returned, and each ' +
      'handler checks the caller is a member of the conversation it reads or writes.',
  );
}
