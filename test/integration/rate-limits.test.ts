/**
 * The per-user limit holds across Lambda instances: two limiters (two instances) counting
 * in one rate-limits table on DynamoDB Local admit no more between them than the limit.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_RATE_LIMITS, type RateLimits } from '../../definitions/rate-limits.js';
import { resourceNames } from '../../definitions/tables.js';
import { createAwsClients } from '../../lambdas/adapters/aws-clients.js';
import { DynamoDbRateCounter } from '../../lambdas/adapters/dynamodb-rate-counter.js';
import { RateLimiter } from '../../lambdas/domain/rate-limits.js';
import { ensureResources } from '../../local/resources.js';
import { uniqueId } from '../support/stack.js';

const clients = createAwsClients({
  region: 'us-east-1',
  local: true,
  dynamodb: inject('dynamodbEndpoint'),
  kinesis: inject('kinesisEndpoint'),
});
const names = resourceNames(uniqueId('r'));
const LIMITS: RateLimits = { ...DEFAULT_RATE_LIMITS, send: { perSecond: 4, perWindow: 6 } };
/** The first second of a 10-second window, far from any real clock's window. */
const WINDOW_START_MS = 1_764_290_000_000;

beforeAll(async () => {
  await ensureResources({ dynamodb: clients.dynamodb as never, kinesis: clients.kinesis }, names);
});
afterAll(() => clients.destroy());

function instance(clock: { now: number }) {
  const counter = new DynamoDbRateCounter({ client: clients.dynamodb, tableName: names.rateLimitsTable });
  return new RateLimiter({ counter, limits: LIMITS, now: () => clock.now });
}

describe('the rate limit in DynamoDB', () => {
  it('admits no more than the limit of a second between two instances taking at once', async () => {
    const clock = { now: WINDOW_START_MS };
    const instances = [instance(clock), instance(clock)];

    const decisions = await Promise.all(
      Array.from({ length: 10 }, (_, index) => instances[index % 2]?.take('alice', 'send')),
    );

    expect(decisions.filter((decision) => decision?.admitted)).toHaveLength(4);
  });

  it('learns from the refused item that the window is full, and refuses until it ends', async () => {
    const clock = { now: WINDOW_START_MS + 20_000 };
    const first = instance(clock);
    for (let index = 0; index < 4; index += 1) await first.take('bob', 'send');
    clock.now += 1000;
    await first.take('bob', 'send');
    await first.take('bob', 'send');

    const refusal = await instance(clock).take('bob', 'send');

    expect(refusal).toEqual({
      admitted: false,
      message: 'rate limit: at most 4 send frames a second and 6 every 10 seconds per user; retry in 9 s',
    });
  });
});
