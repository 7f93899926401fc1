/**
 * The WebSocket API of the template as the local gateway runs it: its routes and their
 * integrations (a function, or a MOCK answered as `definitions/mock-routes.ts` says), the
 * REQUEST authorizer and its identity source, the route responses and the stage's throttles.
 */

import { MOCK_ROUTES } from '../../definitions/mock-routes.js';
import { TemplateError } from '../errors.js';
import type {
  RequestAuthorizerHandler,
  WebSocketMockIntegration,
  WebSocketRouteHandler,
  WebSocketThrottle,
} from '../gateway/index.js';
import { mockIntegrationOf } from '../mock-integrations.js';
import type { FunctionRunner } from './function-runner.js';
import {
  type CloudFormationTemplate,
  type ResolutionContext,
  resolve,
  resolveString,
  resourcesOfType,
} from './template.js';

export interface GatewaySettings {
  stageName: string;
  routes: Record<string, WebSocketRouteHandler>;
  mocks: Record<string, WebSocketMockIntegration>;
  authorizer?: RequestAuthorizerHandler;
  answeredRoutes: Set<string>;
  throttle?: WebSocketThrottle;
}

/** The gateway's settings from the template's one WebSocket API. */
export function gatewaySettingsOf(
  template: CloudFormationTemplate,
  context: ResolutionContext,
  runnerOf: (expression: unknown, what: string) => FunctionRunner,
  options: { throttle?: WebSocketThrottle } = {},
): GatewaySettings {
  const apis = resourcesOfType(template, 'AWS::ApiGatewayV2::Api');
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
      integration.Properties?.IntegrationType === 'MOCK'
        ? { mock: mockOf(template, logicalId, integration.Properties) }
        : { runner: runnerOf(integration.Properties?.IntegrationUri, `${logicalId}.IntegrationUri`) },
    ]),
  );
  const routes: Record<string, WebSocketRouteHandler> = {};
  const mocks: Record<string, WebSocketMockIntegration> = {};
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
    const integration = integrations.get(integrationId);
    if (!integration)
      throw new TemplateError(`route ${properties.RouteKey}: no integration ${integrationId}`);
    const { runner, mock } = integration;
    if (mock) mocks[properties.RouteKey] = mock;
    else if (runner) routes[properties.RouteKey] = (event) => runner.invoke(event);
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
  return {
    stageName,
    routes,
    mocks,
    ...(authorizer ? { authorizer } : {}),
    answeredRoutes,
    ...(throttle ? { throttle } : {}),
  };
}

/**
 * A MOCK integration's answer. The gateway cannot run Velocity templates, so it answers only
 * the mocks of `definitions/mock-routes.ts`, recognised by their templates: a template
 * edited by hand fails the start rather than answering differently from AWS.
 */
function mockOf(
  template: CloudFormationTemplate,
  integrationId: string,
  properties: Record<string, unknown>,
): WebSocketMockIntegration {
  const requestTemplate = (properties.RequestTemplates as Record<string, unknown> | undefined)?.$default;
  const responseTemplates = resourcesOfType(template, 'AWS::ApiGatewayV2::IntegrationResponse')
    .filter(([, response]) => (response.Properties?.IntegrationId as { Ref?: string })?.Ref === integrationId)
    .map(([, response]) => (response.Properties?.ResponseTemplates as Record<string, unknown>)?.$default);
  const known = MOCK_ROUTES.find(
    ({ requestTemplate: expected, response }) =>
      expected === requestTemplate &&
      (response
        ? responseTemplates.length === 1 && responseTemplates[0] === response.template
        : responseTemplates.length === 0),
  );
  if (!known) {
    throw new TemplateError(
      `${integrationId}: a MOCK integration whose templates are not those of definitions/mock-routes.ts`,
    );
  }
  return mockIntegrationOf(known);
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
