/**
 * The per-user limits: what the limiter decides from the counter's answers, when it spares
 * the counter a write, and what the DynamoDB counter asks of DynamoDB. The counter shared
 * by two limiters on DynamoDB Local is in test/integration/rate-limits.test.ts.
 */
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RATE_LIMITS,
  limitedRouteOf,
  parseRateLimits,
  type RateLimits,
} from '../../definitions/rate-limits.js';
import { DynamoDbRateCounter } from '../../lambdas/adapters/dynamodb-rate-counter.js';
import {
  type CountOutcome,
  type CountRequest,
  type RateCounter,
  RateLimiter,
} from '../../lambdas/domain/rate-limits.js';
import { mockAwsClients } from './support/harness.js';

const { ddb } = mockAwsClients();

/** 2025-11-28T00:33:20.000Z: the first second of a 10-second window. */
const WINDOW_START_MS = 1_764_290_000_000;
const LIMITS: RateLimits = { ...DEFAULT_RATE_LIMITS, send: { perSecond: 3, perWindow: 5 } };

/** A counter with DynamoDB's semantics, in memory, that records each request. */
class CountingCounter implements RateCounter {
  readonly requests: CountRequest[] = [];
  readonly #counts = new Map<string, number>();

  async count(request: CountRequest): Promise<CountOutcome> {
    this.requests.push(request);
    const window = `${request.userId}#${request.route}#${request.windowStart}`;
    const second = `${window}#${request.second}`;
    const total = this.#counts.get(window) ?? 0;
    const inSecond = this.#counts.get(second) ?? 0;
    if (total >= request.limit.perWindow || inSecond >= request.limit.perSecond) {
      return { admitted: false, windowFull: total >= request.limit.perWindow };
    }
    this.#counts.set(window, total + 1);
    this.#counts.set(second, inSecond + 1);
    return { admitted: true };
  }
}

function limiterAt(clock: { now: number }, counter = new CountingCounter()) {
  return { counter, limiter: new RateLimiter({ counter, limits: LIMITS, now: () => clock.now }) };
}

async function take(limiter: RateLimiter, times: number, userId = 'alice') {
  const decisions = [];
  for (let index = 0; index < times; index += 1) decisions.push(await limiter.take(userId, 'send'));
  return decisions.map((decision) => decision.admitted);
}

describe('the rate limiter', () => {
  it('admits up to the limit of a second and refuses the next frame of that second', async () => {
    const { limiter } = limiterAt({ now: WINDOW_START_MS });

    expect(await take(limiter, 4)).toEqual([true, true, true, false]);
  });

  it('refuses again without a write until the second ends, then counts again', async () => {
    const clock = { now: WINDOW_START_MS + 100 };
    const { limiter, counter } = limiterAt(clock);
    await take(limiter, 4);

    expect(await take(limiter, 3)).toEqual([false, false, false]);
    expect(counter.requests).toHaveLength(4);

    clock.now = WINDOW_START_MS + 1000;
    expect(await take(limiter, 1)).toEqual([true]);
    expect(counter.requests).toHaveLength(5);
  });

  it('refuses without a write until the window ends once the window is full', async () => {
    const clock = { now: WINDOW_START_MS };
    const { limiter, counter } = limiterAt(clock);
    await take(limiter, 3);
    clock.now = WINDOW_START_MS + 1000;
    expect(await take(limiter, 3)).toEqual([true, true, false]);

    clock.now = WINDOW_START_MS + 5000;
    expect(await take(limiter, 1)).toEqual([false]);
    expect(counter.requests).toHaveLength(6);

    clock.now = WINDOW_START_MS + 10_000;
    expect(await take(limiter, 1)).toEqual([true]);
  });

  it('counts each user and each route apart', async () => {
    const { limiter } = limiterAt({ now: WINDOW_START_MS });
    await take(limiter, 4, 'alice');

    expect(await take(limiter, 1, 'bob')).toEqual([true]);
    expect((await limiter.take('alice', 'ack')).admitted).toBe(true);
  });

  it('names the limit and when to retry in its refusal', async () => {
    const { limiter } = limiterAt({ now: WINDOW_START_MS + 400 });
    await take(limiter, 3);

    expect(await limiter.take('alice', 'send')).toEqual({
      admitted: false,
      message: 'rate limit: at most 3 send frames a second and 5 every 10 seconds per user; retry in 1 s',
    });
  });

  it('asks the counter for the window, the second within it and an expiry after the window', async () => {
    const { limiter, counter } = limiterAt({ now: WINDOW_START_MS + 7_250 });

    await limiter.take('alice', 'send');

    expect(counter.requests).toEqual([
      {
        userId: 'alice',
        route: 'send',
        windowStart: WINDOW_START_MS / 1000,
        second: 7,
        expiresAt: WINDOW_START_MS / 1000 + 70,
        limit: LIMITS.send,
      },
    ]);
  });

  it('admits every frame without a write when no limits are configured', async () => {
    const counter = new CountingCounter();
    const limiter = new RateLimiter({ counter, limits: undefined, now: () => WINDOW_START_MS });

    expect(await take(limiter, 10)).toEqual(Array(10).fill(true));
    expect(counter.requests).toEqual([]);
  });
});

describe('the limits setting', () => {
  it('keeps the defaults for the routes it does not name', () => {
    expect(parseRateLimits('{"send":{"perSecond":200,"perWindow":800}}')).toEqual({
      ...DEFAULT_RATE_LIMITS,
      send: { perSecond: 200, perWindow: 800 },
    });
    expect(parseRateLimits(undefined)).toEqual(DEFAULT_RATE_LIMITS);
  });

  it('allows a client flushing its outbox at least 30 sends a second, in bursts of 100', () => {
    expect(DEFAULT_RATE_LIMITS.send.perSecond).toBeGreaterThanOrEqual(100);
    expect(DEFAULT_RATE_LIMITS.send.perWindow / 10).toBeGreaterThanOrEqual(30);
  });

  it.each([
    ['not json', /must be a JSON object/],
    ['{"sned":{"perSecond":1,"perWindow":1}}', /Unrecognized key/],
    ['{"send":{"perSecond":0,"perWindow":1}}', /^send.perSecond: /],
  ])('refuses %s, naming what is wrong', (text, message) => {
    expect(() => parseRateLimits(text)).toThrow(message);
  });

  it('limits $connect as the handshake and leaves unlimited routes alone', () => {
    expect(limitedRouteOf('$connect')).toBe('connect');
    expect(limitedRouteOf('send')).toBe('send');
    expect(limitedRouteOf('createGroup')).toBeUndefined();
  });
});

describe('the DynamoDB rate counter', () => {
  const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
  const counter = new DynamoDbRateCounter({ client, tableName: 'unit-rate-limits' });
  const request: CountRequest = {
    userId: 'alice',
    route: 'send',
    windowStart: 1_764_290_000,
    second: 7,
    expiresAt: 1_764_290_070,
    limit: { perSecond: 100, perWindow: 400 },
  };

  it('adds to the window and its second in one conditional update of the user’s counter', async () => {
    ddb.on(UpdateCommand).resolves({});

    await expect(counter.count(request)).resolves.toEqual({ admitted: true });
    expect(ddb.commandCalls(UpdateCommand).map((call) => call.args[0].input)).toEqual([
      {
        TableName: 'unit-rate-limits',
        Key: { userId: 'alice', window: 'send#1764290000' },
        UpdateExpression: 'ADD #total :one, #second :one SET expiresAt = :expiresAt',
        ConditionExpression:
          '(attribute_not_exists(#total) OR #total < :perWindow) AND ' +
          '(attribute_not_exists(#second) OR #second < :perSecond)',
        ExpressionAttributeNames: { '#total': 'total', '#second': 's7' },
        ExpressionAttributeValues: {
          ':one': 1,
          ':expiresAt': 1_764_290_070,
          ':perWindow': 400,
          ':perSecond': 100,
        },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    ]);
  });

  it.each([
    ['400', true],
    ['120', false],
  ])('refuses when the condition fails, the window full when its total is %s: %s', async (total, full) => {
    ddb.on(UpdateCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: {},
        Item: { total: { N: total }, s7: { N: '100' } },
      }),
    );

    await expect(counter.count(request)).resolves.toEqual({ admitted: false, windowFull: full });
  });

  it('lets any other failure through', async () => {
    ddb.on(UpdateCommand).rejects(new Error('ProvisionedThroughputExceededException'));

    await expect(counter.count(request)).rejects.toThrow('ProvisionedThroughputExceededException');
  });
});
