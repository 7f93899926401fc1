import { describe, expect, it } from 'vitest';
import { backoffDelay, waitBeforeRetry } from '../../lambdas/domain/backoff.js';

const POLICY = { baseDelayMs: 5, maxDelayMs: 200 };
const always = (value: number) => () => value;

describe('backoffDelay', () => {
  it('draws a full-jitter delay from 0 up to base * 2^attempt', () => {
    expect(backoffDelay(0, POLICY, always(0))).toBe(0);
    expect(backoffDelay(0, POLICY, always(0.999_999))).toBe(4);
    expect(backoffDelay(3, POLICY, always(0.999_999))).toBe(39);
    expect(backoffDelay(3, POLICY, always(0.5))).toBe(20);
  });

  it('caps the delay at maxDelayMs however many attempts failed', () => {
    for (const attempt of [6, 10, 100, 2000]) {
      expect(backoffDelay(attempt, POLICY, always(0.999_999))).toBe(199);
      expect(backoffDelay(attempt, POLICY, always(0))).toBe(0);
    }
  });

  it('draws one random number per delay', () => {
    const draws = [0.25, 0.75];
    const random = () => draws.shift() ?? Number.NaN;

    expect([backoffDelay(2, POLICY, random), backoffDelay(2, POLICY, random)]).toEqual([5, 15]);
    expect(draws).toEqual([]);
  });
});

describe('waitBeforeRetry', () => {
  it('sleeps the delay its random number gives, and only then resolves', async () => {
    const slept: number[] = [];
    let wake: () => void = () => {};
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        slept.push(ms);
        wake = resolve;
      });
    let waited = false;

    const waiting = waitBeforeRetry(4, POLICY, { random: always(0.5), sleep }).then(() => {
      waited = true;
    });
    await Promise.resolve();

    expect(slept).toEqual([40]);
    expect(waited).toBe(false);
    wake();
    await waiting;
    expect(waited).toBe(true);
  });
});
