import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../../local/gateway/token-bucket.js';

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const takeTimes = (bucket: TokenBucket, times: number) =>
  Array.from({ length: times }, () => bucket.take()).filter(Boolean).length;

describe('the token bucket of a stage or route', () => {
  it('starts full: a rested bucket lets its burst through at once, and no more', () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ rateLimit: 50, burstLimit: 100 }, clock.now);

    expect(takeTimes(bucket, 100)).toBe(100);
    expect(bucket.take()).toBe(false);
  });

  it('refills at its rate', () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ rateLimit: 20, burstLimit: 10 }, clock.now);
    takeTimes(bucket, 10);

    clock.advance(250);

    expect(bucket.available()).toBe(5);
    expect(takeTimes(bucket, 10)).toBe(5);
  });

  it('never holds more than its burst, however long it rested', () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ rateLimit: 20, burstLimit: 10 }, clock.now);

    clock.advance(60 * 60 * 1000);

    expect(takeTimes(bucket, 100)).toBe(10);
  });

  it('takes nothing for a refused frame, so a client that keeps trying is served at the rate', () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ rateLimit: 2, burstLimit: 1 }, clock.now);
    bucket.take();

    // Ten refused tries in the first 400 ms, then the token that 500 ms bring.
    for (let i = 0; i < 10; i++) {
      clock.advance(40);
      expect(bucket.take()).toBe(false);
    }
    clock.advance(100);

    expect(bucket.take()).toBe(true);
  });

  it('keeps fractions of a token: at half a frame a second, one frame every two seconds', () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ rateLimit: 0.5, burstLimit: 1 }, clock.now);
    bucket.take();

    clock.advance(1999);
    expect(bucket.take()).toBe(false);
    clock.advance(1);
    expect(bucket.take()).toBe(true);
  });

  it('serves a client sending exactly at the rate, whatever the rounding of rate × time', () => {
    const clock = manualClock(0);
    const bucket = new TokenBucket({ rateLimit: 61, burstLimit: 1 }, clock.now);
    bucket.take();

    // 1000 / 61 ms later, rate × time is 0.9999999999999999 in floating point.
    clock.advance(1000 / 61);

    expect(bucket.take()).toBe(true);
  });

  it('adds nothing when the clock steps back', () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ rateLimit: 1, burstLimit: 2 }, clock.now);
    takeTimes(bucket, 2);

    clock.advance(-10_000);
    expect(bucket.take()).toBe(false);
    clock.advance(1000);

    expect(bucket.take()).toBe(true);
  });

  it('refuses every request when both limits are 0, as AWS does for a switched-off route', () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ rateLimit: 0, burstLimit: 0 }, clock.now);

    clock.advance(60_000);

    expect(takeTimes(bucket, 10)).toBe(0);
  });

  it('lets only its burst through, ever, when the rate is 0', () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ rateLimit: 0, burstLimit: 3 }, clock.now);

    expect(takeTimes(bucket, 10)).toBe(3);
    clock.advance(60_000);

    expect(takeTimes(bucket, 10)).toBe(0);
  });

  it.each([
    [{ rateLimit: 1, burstLimit: -1 }, 'burstLimit: must be an integer of 0 or more, not -1'],
    [{ rateLimit: 1, burstLimit: 1.5 }, 'burstLimit: must be an integer of 0 or more, not 1.5'],
    [{ rateLimit: -1, burstLimit: 1 }, 'rateLimit: must be a number of 0 or more, not -1'],
    [
      { rateLimit: Number.POSITIVE_INFINITY, burstLimit: 1 },
      'rateLimit: must be a number of 0 or more, not Infinity',
    ],
  ])('refuses %j, naming the field', (limit, message) => {
    expect(() => new TokenBucket(limit)).toThrow(new RangeError(message));
  });

  it('never lets more than burst + rate × time through in any stretch of time, whatever the client does', () => {
    const limit = fc.record({
      burst: fc.integer({ min: 1, max: 50 }),
      perSecond: fc.integer({ min: 1, max: 100 }),
    });
    // Each step: how long the client waits (ms), then how many frames it sends at once.
    const steps = fc.array(fc.tuple(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 20 })), {
      maxLength: 60,
    });
    fc.assert(
      fc.property(limit, steps, ({ burst, perSecond }, plan) => {
        const clock = manualClock(0);
        const bucket = new TokenBucket({ rateLimit: perSecond, burstLimit: burst }, clock.now);
        const accepted: number[] = [];
        for (const [wait, frames] of plan) {
          clock.advance(wait);
          for (let i = 0; i < frames; i++) if (bucket.take()) accepted.push(clock.now());
        }
        // The most frames any stretch [from, to] let through beyond the rate: with f(i) = i - rate × t(i),
        // a stretch lets through f(to) - f(from) + 1, at most the burst.
        let lowest = Number.POSITIVE_INFINITY;
        let most = 0;
        for (const [index, at] of accepted.entries()) {
          const f = index - (perSecond * at) / 1000;
          lowest = Math.min(lowest, f);
          most = Math.max(most, f - lowest + 1);
        }
        expect(most).toBeLessThanOrEqual(burst + 1e-9);
      }),
      { numRuns: 300 },
    );
  });

  it('never refuses a client that keeps under the rate once its burst is spent', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 100 }),
        fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 100 }),
        (burst, perSecond, extraWaits) => {
          const clock = manualClock(0);
          const bucket = new TokenBucket({ rateLimit: perSecond, burstLimit: burst }, clock.now);
          takeTimes(bucket, burst);
          const interval = 1000 / perSecond;
          for (const extra of extraWaits) {
            clock.advance(interval + extra);
            expect(bucket.take()).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
