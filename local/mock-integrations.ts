/**
 * The MOCK routes of `definitions/mock-routes.ts` as the local gateway serves them: each
 * answers what its templates write, and a one-way route (no response) answers nothing.
 */
import { MOCK_ROUTES, type MockRouteDefinition } from '../definitions/mock-routes.js';
import type { WebSocketMockIntegration } from './gateway/index.js';

/** The local gateway's integration for one MOCK route. */
export function mockIntegrationOf(route: MockRouteDefinition): WebSocketMockIntegration {
  return route.response ? route.response.answer : answerNothing;
}

/** Every MOCK route of the CDK stack, by route key. */
export const MOCK_INTEGRATIONS: Readonly<Record<string, WebSocketMockIntegration>> = Object.fromEntries(
  MOCK_ROUTES.map((route) => [route.routeKey, mockIntegrationOf(route)]),
);

/** The MOCK routes with a route response: only they answer the caller. */
export const ANSWERED_MOCK_ROUTES: readonly string[] = MOCK_ROUTES.filter(({ response }) => response).map(
  ({ routeKey }) => routeKey,
);

function answerNothing(): undefined {
  return undefined;
}
