import { ROUTED_ACTIONS } from '@parley/protocol';
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ROUTES } from '../../definitions/functions.js';
import { keepaliveRoute, MOCK_ROUTES, pingRoute } from '../../definitions/mock-routes.js';
import { DEFAULT_SEND_THROTTLE, DEFAULT_STAGE_THROTTLE } from '../../lib/settings.js';
import { DEV_CONTEXT, PROD_CONTEXT, synthesize, type TemplateJson } from './support/synthesize.js';

const dev = synthesize(DEV_CONTEXT);
const prod = synthesize(PROD_CONTEXT);

type Resource = { Type: string; Properties: Record<string, TemplateJson>; DependsOn?: string[] };

function resourcesOf(template: typeof dev.template, type: string): Record<string, Resource> {
  return template.findResources(type) as Record<string, Resource>;
}

/** Route key → the logical id of the function its integration invokes. */
function routeTargets(template: typeof dev.template): Record<string, string> {
  const integrations = resourcesOf(template, 'AWS::ApiGatewayV2::Integration');
  const routes = resourcesOf(template, 'AWS::ApiGatewayV2::Route');
  return Object.fromEntries(
    Object.values(routes).map((route) => {
      const integrationId = (route.Properties.Target['Fn::Join'][1][1] as { Ref: string }).Ref;
      const uri = JSON.stringify(integrations[integrationId]?.Properties.IntegrationUri);
      const functionId = /"Fn::GetAtt":\["(\w+Function\w+)","Arn"\]/.exec(uri)?.[1];
      return [route.Properties.RouteKey as string, functionId ?? ''];
    }),
  );
}

describe('the WebSocket API', () => {
  it('selects routes on the action of the frame', () => {
    dev.template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    dev.template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: '$request.body.action',
    });
  });

  it('has a route for every action of docs/protocol.md, the connection lifecycle and $default, and no other', () => {
    const routeKeys = Object.keys(routeTargets(dev.template)).sort();
    expect(routeKeys).toEqual(['$connect', '$default', '$disconnect', ...ROUTED_ACTIONS].sort());
  });

  it('sends each route to its own function', () => {
    const functions = dev.stack.functions.functions;
    const expected = Object.fromEntries(
      Object.entries(ROUTES).map(([routeKey, functionId]) => [
        routeKey,
        dev.logicalId(functions[functionId]),
      ]),
    );
    const mocked = new Set(MOCK_ROUTES.map(({ routeKey }) => routeKey));
    const targets = Object.entries(routeTargets(dev.template)).filter(([routeKey]) => !mocked.has(routeKey));
    expect(Object.fromEntries(targets)).toEqual(expected);
    const types = Object.values(resourcesOf(dev.template, 'AWS::ApiGatewayV2::Integration')).map(
      (integration) => integration.Properties.IntegrationType,
    );
    expect(types.filter((type) => type !== 'AWS_PROXY')).toEqual(MOCK_ROUTES.map(() => 'MOCK'));
  });

  /** The route of `routeKey`, its logical id, and the integration it targets. */
  function routeAndIntegration(routeKey: string) {
    const routes = resourcesOf(dev.template, 'AWS::ApiGatewayV2::Route');
    const [routeId, route] =
      Object.entries(routes).find(([, candidate]) => candidate.Properties.RouteKey === routeKey) ?? [];
    if (!routeId || !route) throw new Error(`no ${routeKey} route`);
    const integrationId = (route.Properties.Target['Fn::Join'][1][1] as { Ref: string }).Ref;
    const integration = resourcesOf(dev.template, 'AWS::ApiGatewayV2::Integration')[integrationId];
    return { routeId, route, integrationId, integration };
  }

  it('answers ping itself: a MOCK integration whose response template writes pong with the requestId', () => {
    const { routeId: pingRouteId, route, integrationId, integration } = routeAndIntegration('ping');

    expect(integration?.Properties).toEqual({
      ApiId: { Ref: dev.logicalId(dev.stack.api.webSocketApi) },
      IntegrationType: 'MOCK',
      TemplateSelectionExpression: '\\$default',
      RequestTemplates: {
        $default: `{"statusCode":200,"requestId":"$util.escapeJavaScript($input.path('$.requestId'))"}`,
      },
    });
    dev.template.hasResourceProperties('AWS::ApiGatewayV2::IntegrationResponse', {
      IntegrationId: { Ref: integrationId },
      IntegrationResponseKey: '$default',
      TemplateSelectionExpression: '\\$default',
      ResponseTemplates: {
        $default: `{"type":"pong","requestId":"$util.escapeJavaScript($input.path('$.requestId'))"}`,
      },
    });
    expect(route.Properties.RouteResponseSelectionExpression).toBe('$default');
    dev.template.hasResourceProperties('AWS::ApiGatewayV2::RouteResponse', {
      RouteId: { Ref: pingRouteId },
      RouteResponseKey: '$default',
    });
  });

  it('writes in the local answer to ping what the template writes', () => {
    const answer = pingRoute.response?.answer;
    expect(answer?.({ action: 'ping', requestId: 'r6' })).toEqual({ type: 'pong', requestId: 'r6' });
    expect(answer?.({ action: 'ping' })).toEqual({ type: 'pong', requestId: '' });
  });

  it('serves keepalive with a one-way MOCK route: no integration response, no route response, no function', () => {
    const { routeId, route, integrationId, integration } = routeAndIntegration('keepalive');

    expect(integration?.Properties).toEqual({
      ApiId: { Ref: dev.logicalId(dev.stack.api.webSocketApi) },
      IntegrationType: 'MOCK',
      TemplateSelectionExpression: '\\$default',
      RequestTemplates: { $default: '{"statusCode":200}' },
    });
    expect(route.Properties.RouteResponseSelectionExpression).toBeUndefined();
    const responses = Object.values(resourcesOf(dev.template, 'AWS::ApiGatewayV2::RouteResponse'));
    expect(responses.filter((response) => response.Properties.RouteId.Ref === routeId)).toEqual([]);
    const integrationResponses = Object.values(
      resourcesOf(dev.template, 'AWS::ApiGatewayV2::IntegrationResponse'),
    );
    expect(
      integrationResponses.filter((response) => response.Properties.IntegrationId.Ref === integrationId),
    ).toEqual([]);
    expect(keepaliveRoute.response).toBeUndefined();
  });

  it('authorizes $connect with the authorizer function, reading token from the query string', () => {
    const authorizerFunction = dev.logicalId(dev.stack.functions.functions.authorizer);
    const authorizers = resourcesOf(dev.template, 'AWS::ApiGatewayV2::Authorizer');
    expect(Object.values(authorizers)).toHaveLength(1);
    const [authorizerId, authorizer] = Object.entries(authorizers)[0] ?? [];
    expect(authorizer?.Properties).toMatchObject({
      AuthorizerType: 'REQUEST',
      IdentitySource: ['route.request.querystring.token'],
    });
    expect(JSON.stringify(authorizer?.Properties.AuthorizerUri)).toContain(authorizerFunction);
    dev.template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: '$connect',
      AuthorizationType: 'CUSTOM',
      AuthorizerId: { Ref: authorizerId },
    });
  });

  it('lets API Gateway invoke the authorizer and every route function, from this API only', () => {
    const apiId = dev.logicalId(dev.stack.api.webSocketApi);
    const permissions = Object.values(resourcesOf(dev.template, 'AWS::Lambda::Permission'));
    const invokedFunctions = new Set(
      permissions
        .filter((permission) => permission.Properties.Principal === 'apigateway.amazonaws.com')
        .map((permission) => {
          expect(JSON.stringify(permission.Properties.SourceArn)).toContain(apiId);
          return permission.Properties.FunctionName['Fn::GetAtt'][0] as string;
        }),
    );
    const functions = dev.stack.functions.functions;
    expect([...invokedFunctions].sort()).toEqual(
      [...new Set([...Object.values(ROUTES), 'authorizer' as const])]
        .map((id) => dev.logicalId(functions[id]))
        .sort(),
    );
  });

  it('answers with a route response on every route but $connect, $disconnect, keepalive and the one-way ack and typing', () => {
    const routes = resourcesOf(dev.template, 'AWS::ApiGatewayV2::Route');
    const routeKeyOf = Object.fromEntries(
      Object.entries(routes).map(([logicalId, route]) => [logicalId, route.Properties.RouteKey as string]),
    );
    const responses = Object.values(resourcesOf(dev.template, 'AWS::ApiGatewayV2::RouteResponse'));
    const answered = responses.map((response) => {
      expect(response.Properties.RouteResponseKey).toBe('$default');
      return routeKeyOf[response.Properties.RouteId.Ref as string];
    });
    // ack and typing most often answer nothing, and a two-way route may then send an empty frame.
    const oneWay = ['$connect', '$disconnect', 'keepalive', 'ack', 'typing'];
    expect(answered.sort()).toEqual(
      [...Object.keys(ROUTES), ...MOCK_ROUTES.map(({ routeKey }) => routeKey)]
        .filter((key) => !oneWay.includes(key))
        .sort(),
    );
    for (const route of Object.values(routes).filter((route) => oneWay.includes(route.Properties.RouteKey))) {
      expect(route.Properties.RouteResponseSelectionExpression, route.Properties.RouteKey).toBeUndefined();
    }
  });

  it('deploys one stage named after the Parley stage, throttled and logging errors', () => {
    dev.template.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
    dev.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: 'dev',
      AutoDeploy: true,
      DefaultRouteSettings: {
        ThrottlingRateLimit: DEFAULT_STAGE_THROTTLE.rateLimit,
        ThrottlingBurstLimit: DEFAULT_STAGE_THROTTLE.burstLimit,
        LoggingLevel: 'ERROR',
        DataTraceEnabled: false,
        DetailedMetricsEnabled: true,
      },
    });
  });

  it('takes the throttle from the settings', () => {
    const throttled = synthesize({ stage: 'dev', throttleRate: '50', throttleBurst: '10' });
    throttled.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 10 },
    });
  });

  it('throttles send tighter than the stage, logging as every route does, and no other route', () => {
    const stage = Object.values(resourcesOf(dev.template, 'AWS::ApiGatewayV2::Stage'))[0];
    expect(stage?.Properties.RouteSettings).toEqual({
      send: {
        ThrottlingRateLimit: DEFAULT_SEND_THROTTLE.rateLimit,
        ThrottlingBurstLimit: DEFAULT_SEND_THROTTLE.burstLimit,
        LoggingLevel: 'ERROR',
        DataTraceEnabled: false,
        DetailedMetricsEnabled: true,
      },
    });
  });

  it('deploys the stage after the send route, since API Gateway refuses settings of a route it lacks', () => {
    const routes = resourcesOf(dev.template, 'AWS::ApiGatewayV2::Route');
    const sendRoute = Object.entries(routes).find(([, route]) => route.Properties.RouteKey === 'send')?.[0];
    const stage = Object.values(resourcesOf(dev.template, 'AWS::ApiGatewayV2::Stage'))[0];
    expect(sendRoute).toBeDefined();
    expect(stage?.DependsOn).toContain(sendRoute);
  });

  it('takes the send throttle from the settings', () => {
    const throttled = synthesize({ stage: 'dev', sendThrottleRate: '20', sendThrottleBurst: '5' });
    throttled.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      RouteSettings: { send: Match.objectLike({ ThrottlingRateLimit: 20, ThrottlingBurstLimit: 5 }) },
    });
  });

  it('writes an access log line per request, as JSON, with the connection, route, status and errors', () => {
    const stage = Object.values(resourcesOf(dev.template, 'AWS::ApiGatewayV2::Stage'))[0];
    const settings = stage?.Properties.AccessLogSettings;
    expect(settings.DestinationArn).toEqual({
      'Fn::GetAtt': [dev.logicalId(dev.stack.api.accessLogs), 'Arn'],
    });
    const format = JSON.parse(settings.Format);
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      connectionId: '$context.connectionId',
      routeKey: '$context.routeKey',
      status: '$context.status',
      error: '$context.error.message',
    });
  });

  it('leaves the account-wide API Gateway logs setting to the ParleyAccount stack', () => {
    for (const deployment of [dev, prod]) {
      deployment.template.resourceCountIs('AWS::ApiGateway::Account', 0);
      const roles = JSON.stringify(deployment.template.findResources('AWS::IAM::Role'));
      expect(roles).not.toContain('apigateway.amazonaws.com');
    }
  });

  it('outputs the wss:// URL clients connect to', () => {
    const output = dev.template.findOutputs('WebSocketUrl');
    expect(JSON.stringify(output.WebSocketUrl?.Value)).toMatch(/wss:\/\/.*execute-api.*\/dev/);
  });
});
