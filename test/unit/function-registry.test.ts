import { existsSync } from 'node:fs';
import { ROUTED_ACTIONS } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import {
  ANSWERED_ROUTES,
  AUTHORIZER_FUNCTION,
  FUNCTIONS,
  type FunctionDefinition,
  functionOfHandlerFile,
  handlerFileOf,
  ROUTE_FUNCTIONS,
  ROUTES,
  STREAM_FUNCTIONS,
} from '../../definitions/functions.js';
import { MOCK_ROUTES } from '../../definitions/mock-routes.js';
import { STREAM_CONSUMERS } from '../../definitions/stream-consumers.js';
import { HANDLER_BUILDERS } from '../../local/functions.js';

const PROJECT_ROOT = new URL('../../', import.meta.url);

describe('the registry of functions', () => {
  it('gives every action of the protocol, the connection lifecycle and $default a route, each once', () => {
    const routeKeys = ROUTE_FUNCTIONS.map(({ trigger }) => trigger.routeKey);
    const mocked = MOCK_ROUTES.map(({ routeKey }) => routeKey);

    expect([...routeKeys, ...mocked].sort()).toEqual(
      ['$connect', '$default', '$disconnect', ...ROUTED_ACTIONS].sort(),
    );
    expect(Object.keys(ROUTES)).toEqual(routeKeys);
  });

  it('leaves ping and keepalive to API Gateway: no function serves them', () => {
    expect(MOCK_ROUTES.map(({ routeKey }) => routeKey)).toEqual(['ping', 'keepalive']);
    expect(FUNCTIONS.map(({ id }) => id as string)).not.toContain('ping');
    expect(FUNCTIONS.map(({ id }) => id as string)).not.toContain('keepalive');
  });

  it('answers the caller with a route response on every function route but the connection lifecycle and the mostly silent ack and typing', () => {
    const mocked = new Set(MOCK_ROUTES.map(({ routeKey }) => routeKey));
    const oneWay = new Set(['ack', 'typing']);
    expect([...ANSWERED_ROUTES].sort()).toEqual(
      ['$default', ...ROUTED_ACTIONS.filter((action) => !mocked.has(action) && !oneWay.has(action))].sort(),
    );
  });

  it('lets the one-way routes post what they answer: their functions may use @connections', () => {
    const oneWayFunctions = FUNCTIONS.filter(
      ({ trigger }) => trigger.kind === 'route' && !trigger.answered && !trigger.routeKey.startsWith('$'),
    );
    expect(oneWayFunctions.map(({ id }) => id as string).sort()).toEqual(['ack', 'typing']);
    for (const definition of oneWayFunctions) {
      expect((definition as FunctionDefinition).posts, definition.id).toBe(true);
    }
  });

  it('has one authorizer, in front of $connect, reading the token from the query string', () => {
    expect(AUTHORIZER_FUNCTION.id).toBe('authorizer');
    expect(AUTHORIZER_FUNCTION.trigger).toEqual({
      kind: 'authorizer',
      routeKey: '$connect',
      queryParameter: 'token',
    });
    expect(ROUTES[AUTHORIZER_FUNCTION.trigger.routeKey]).toBe('connect');
  });

  it('runs each consumer of the stream in the function its settings name, each once', () => {
    expect(STREAM_FUNCTIONS.map(({ id, trigger }) => [id, trigger.consumer])).toEqual(
      STREAM_CONSUMERS.map((consumer) => [consumer.id, consumer]),
    );
  });

  it('gives every function exactly one trigger kind, so that nothing runs twice or never', () => {
    const triggered = [...ROUTE_FUNCTIONS, ...STREAM_FUNCTIONS, AUTHORIZER_FUNCTION].map(({ id }) => id);

    expect(triggered.sort()).toEqual(FUNCTIONS.map(({ id }) => id).sort());
  });

  it.each(FUNCTIONS.map(({ id }) => id))('has the handler file of %s in the repository', (id) => {
    expect(existsSync(new URL(handlerFileOf(id), PROJECT_ROOT))).toBe(true);
  });

  it('finds a function by the handler file a description names, and none for another file', () => {
    expect(functionOfHandlerFile('Parley dev: lambdas/handlers/presence-notifier.ts')?.id).toBe(
      'presence-notifier',
    );
    expect(functionOfHandlerFile('Parley dev: lambdas/handlers/subscribe-presence.ts')?.id).toBe(
      'subscribe-presence',
    );
    expect(functionOfHandlerFile('Parley dev: lambdas/handlers/presence.ts')).toBeUndefined();
    expect(functionOfHandlerFile('Parley dev: some other function')).toBeUndefined();
  });

  it('builds a handler for every function of the registry, and for no other', () => {
    expect(Object.keys(HANDLER_BUILDERS).sort()).toEqual(FUNCTIONS.map(({ id }) => id).sort());
  });
});
