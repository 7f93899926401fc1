import { describe, expect, it } from 'vitest';
import { SettleDeadline } from '../chaos/settle-deadline.js';

const STALL_MS = 30_000;

describe('the settle deadline of a chaos run', () => {
  it('gives up one stall period after the start when nothing is ever closer to agreeing', () => {
    const deadline = new SettleDeadline(0, STALL_MS, 3);

    expect(deadline.look(5, 0)).toBe(STALL_MS);
    expect(deadline.look(5, 20_000)).toBe(STALL_MS);
    expect(deadline.look(7, 29_000)).toBe(STALL_MS);
  });

  it('waits a whole stall period more after each look that finds less left to do', () => {
    const deadline = new SettleDeadline(0, STALL_MS, 3);
    deadline.look(5, 0);

    expect(deadline.look(4, 25_000)).toBe(55_000);
    // More to do again (a device restarted) is no progress: the deadline stays.
    expect(deadline.look(6, 40_000)).toBe(55_000);
    expect(deadline.look(4, 50_000)).toBe(55_000);
    expect(deadline.look(3, 50_000)).toBe(80_000);
  });

  it('gives up after its limit of stall periods in all, however steady the progress', () => {
    const deadline = new SettleDeadline(1_000, STALL_MS, 3);
    let left = 100;
    let endsAt = 0;
    for (let now = 1_000; now <= 200_000; now += 10_000) endsAt = deadline.look(--left, now);

    expect(endsAt).toBe(1_000 + 3 * STALL_MS);
  });

  it('refuses a stall period that is not a positive number of milliseconds', () => {
    expect(() => new SettleDeadline(0, 0, 3)).toThrow('settle stall: must be a positive number of ms, not 0');
    expect(() => new SettleDeadline(0, Number.NaN, 3)).toThrow('not NaN');
  });
});
