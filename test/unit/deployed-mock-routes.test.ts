/**
 * The deployed mode's reading of the template's MOCK routes (`local/deployed/api.ts`): each is
 * served as `definitions/mock-routes.ts` says, recognised by its templates, and one whose
 * templates differ fails the start.
 */
import { describe, expect, it } from 'vitest';
import { keepaliveRoute, pingRoute } from '../../definitions/mock-routes.js';
import { gatewaySettingsOf } from '../../local/deployed/api.js';
import type { CloudFormationTemplate } from '../../local/deployed/template.js';
import { TemplateError } from '../../local/errors.js';

const CONTEXT = { region: 'us-east-1', accountId: '123456789012', stackName: 'Parley', resources: new Map() };

/** A template with one WebSocket API and one MOCK route; `responseTemplate` adds an integration response. */
function templateWithMockRoute(
  routeKey: string,
  requestTemplate: string,
  responseTemplate?: string,
): CloudFormationTemplate {
  return {
    Resources: {
      Api: {
        Type: 'AWS::ApiGatewayV2::Api',
        Properties: { RouteSelectionExpression: '$request.body.action' },
      },
      Mock: {
        Type: 'AWS::ApiGatewayV2::Integration',
        Properties: { IntegrationType: 'MOCK', RequestTemplates: { $default: requestTemplate } },
      },
      ...(responseTemplate
        ? {
            MockResponse: {
              Type: 'AWS::ApiGatewayV2::IntegrationResponse',
              Properties: {
                IntegrationId: { Ref: 'Mock' },
                ResponseTemplates: { $default: responseTemplate },
              },
            },
          }
        : {}),
      Route: {
        Type: 'AWS::ApiGatewayV2::Route',
        Properties: { RouteKey: routeKey, Target: 'integrations/Mock' },
      },
    },
  };
}

const noFunctions = () => {
  throw new Error('no function in these templates');
};

describe('the deployed mode and the MOCK routes of the template', () => {
  it('serves keepalive, a MOCK integration with no integration response, answering nothing', () => {
    const template = templateWithMockRoute('keepalive', keepaliveRoute.requestTemplate);

    const settings = gatewaySettingsOf(template, CONTEXT, noFunctions);

    expect(settings.mocks.keepalive?.({ action: 'keepalive', requestId: 'k1' })).toBeUndefined();
    expect(settings.answeredRoutes.has('keepalive')).toBe(false);
  });

  it('serves ping with the answer its response template writes', () => {
    const template = templateWithMockRoute('ping', pingRoute.requestTemplate, pingRoute.response?.template);

    const settings = gatewaySettingsOf(template, CONTEXT, noFunctions);

    expect(settings.mocks.ping?.({ action: 'ping', requestId: 'r6' })).toEqual({
      type: 'pong',
      requestId: 'r6',
    });
  });

  it('refuses a one-way MOCK integration that was given an integration response by hand', () => {
    const template = templateWithMockRoute('keepalive', keepaliveRoute.requestTemplate, '{"type":"pong"}');

    expect(() => gatewaySettingsOf(template, CONTEXT, noFunctions)).toThrow(
      new TemplateError(
        'Mock: a MOCK integration whose templates are not those of definitions/mock-routes.ts',
      ),
    );
  });
});
