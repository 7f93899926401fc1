/** The delay line of the modelled network: each item after its own delay, never before the items ahead. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DelayLine } from '../../../local/latency/delay-line.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('a delay line', () => {
  it('delivers at once when there is no delay and nothing waits ahead', () => {
    const line = new DelayLine();
    const delivered: string[] = [];
    line.push(0, () => delivered.push('a'));
    expect(delivered).toEqual(['a']);
  });

  it('holds an item for its delay', () => {
    // prepare
    const line = new DelayLine();
    const delivered: string[] = [];

    // act
    line.push(30, () => delivered.push('a'));
    vi.advanceTimersByTime(29);
    const before = [...delivered];
    vi.advanceTimersByTime(1);

    // assess
    expect(before).toEqual([]);
    expect(delivered).toEqual(['a']);
  });

  it('keeps the order items entered, a shorter delay waiting behind a longer one', () => {
    // prepare
    const line = new DelayLine();
    const delivered: string[] = [];

    // act
    line.push(30, () => delivered.push('slow'));
    line.push(5, () => delivered.push('quick'));
    line.push(0, () => delivered.push('none'));
    vi.advanceTimersByTime(10);
    const early = [...delivered];
    vi.advanceTimersByTime(20);

    // assess
    expect(early).toEqual([]);
    expect(delivered).toEqual(['slow', 'quick', 'none']);
  });

  it('drops what it holds when cleared, and delivers what comes after', () => {
    // prepare
    const line = new DelayLine();
    const delivered: string[] = [];
    line.push(10, () => delivered.push('lost'));

    // act
    line.clear();
    vi.advanceTimersByTime(100);
    line.push(0, () => delivered.push('after'));

    // assess
    expect(delivered).toEqual(['after']);
    expect(line.waiting).toBe(0);
  });
});
