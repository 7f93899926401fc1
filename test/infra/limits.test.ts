/**
 * The per-user limits and reserved concurrency in the template (docs/adr/0012-per-user-limits.md):
 * the rate-limits table, the functions that count in it, and reservations only where the
 * context asks for them, since a fresh account may not have the concurrency to reserve.
 */
import { describe, expect, it } from 'vitest';
import { FUNCTIONS, type FunctionId } from '../../definitions/functions.js';
import { LIMITED_ROUTES, routeKeyOf } from '../../definitions/rate-limits.js';
import { parseSettings, SettingsError } from '../../lib/settings.js';
import { DEV_CONTEXT, synthesize, type TemplateJson } from './support/synthesize.js';

const RESERVED = { authorizer: 20, connect: 20, fanout: 50, send: 100, sync: 40 };
const SEND_LIMIT = { send: { perSecond: 50, perWindow: 200 } };
const dev = synthesize(DEV_CONTEXT);
const tuned = synthesize({
  ...DEV_CONTEXT,
  reservedConcurrency: JSON.stringify(RESERVED),
  rateLimits: SEND_LIMIT,
});

function functionOf(deployment: typeof dev, id: FunctionId): TemplateJson {
  const logicalId = deployment.logicalId(deployment.stack.functions.functions[id]);
  return deployment.template.toJSON().Resources[logicalId].Properties;
}

const LIMITED_FUNCTIONS = FUNCTIONS.filter(({ trigger }) =>
  LIMITED_ROUTES.some((route) => trigger.kind === 'route' && trigger.routeKey === routeKeyOf(route)),
).map(({ id }) => id);

describe('the per-user limits in the template', () => {
  it('count in a table of their own whose counters expire', () => {
    const table = dev.template.toJSON().Resources[dev.logicalId(dev.stack.data.tables['rate-limits'])];

    expect(table.Properties.KeySchema).toEqual([
      { AttributeName: 'userId', KeyType: 'HASH' },
      { AttributeName: 'window', KeyType: 'RANGE' },
    ]);
    expect(table.Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
  });

  it('give the table to the function of every limited route, and to no other', () => {
    expect(LIMITED_FUNCTIONS).toEqual([
      'connect',
      'send',
      'ack',
      'sync',
      'conversations',
      'typing',
      'subscribe-presence',
      'register-push',
      'unregister-push',
    ]);
    for (const { id } of FUNCTIONS) {
      const variables = functionOf(dev, id).Environment.Variables;
      expect('PARLEY_RATE_LIMITS_TABLE' in variables, id).toBe(LIMITED_FUNCTIONS.includes(id));
    }
  });

  it('keep the defaults in the code unless the context sets limits, then give them to the limited functions', () => {
    for (const { id } of FUNCTIONS) {
      expect(functionOf(dev, id).Environment.Variables.PARLEY_RATE_LIMITS, id).toBeUndefined();
      expect(functionOf(tuned, id).Environment.Variables.PARLEY_RATE_LIMITS, id).toBe(
        LIMITED_FUNCTIONS.includes(id) ? JSON.stringify(SEND_LIMIT) : undefined,
      );
    }
  });
});

describe('reserved concurrency in the template', () => {
  it('reserves nothing by default, so that a fresh account with a low quota can deploy', () => {
    for (const { id } of FUNCTIONS) {
      expect(functionOf(dev, id).ReservedConcurrentExecutions, id).toBeUndefined();
    }
  });

  it('reserves what the context gives each function named, and nothing for the others', () => {
    for (const { id } of FUNCTIONS) {
      expect(functionOf(tuned, id).ReservedConcurrentExecutions, id).toBe(
        (RESERVED as Partial<Record<FunctionId, number>>)[id],
      );
    }
  });

  it.each([
    [{ reservedConcurrency: '{"send":901}' }, /must leave 100 of accountConcurrency unreserved/],
    [{ reservedConcurrency: '{"send":150}', accountConcurrency: '200' }, /must leave 100/],
    [{ reservedConcurrency: '{"sender":5}' }, /^Invalid context reservedConcurrency/],
    [{ reservedConcurrency: '{"send":0}' }, /^Invalid context reservedConcurrency/],
    [{ rateLimits: '{"send":{"perSecond":0,"perWindow":1}}' }, /^Invalid context rateLimits/],
  ])('refuses %j at synthesis, naming the setting', (context, message) => {
    const read = () =>
      parseSettings((key) =>
        key in context ? context[key as keyof typeof context] : key === 'stage' ? 'dev' : undefined,
      );

    expect(read).toThrow(SettingsError);
    expect(read).toThrow(message);
  });

  it('accepts reservations that leave 100 of a raised quota unreserved', () => {
    const settings = parseSettings(
      (key) =>
        ({ stage: 'dev', reservedConcurrency: '{"send":1900}', accountConcurrency: '2000' })[key as string],
    );

    expect(settings.reservedConcurrency).toEqual({ send: 1900 });
  });
});
