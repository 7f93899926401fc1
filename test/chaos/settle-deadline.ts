/**
 * When the settle of a chaos run gives up: once a whole stall period passes with nothing
 * closer to agreeing with the store, or after `limitStalls` stall periods in all. A loaded
 * machine serves the catch-up slowly, so the wait is for progress, not for a fixed time;
 * a device stuck for good still ends it.
 */
export class SettleDeadline {
  readonly #stallMs: number;
  readonly #limitAt: number;
  #endsAt: number;
  #leastLeft = Number.POSITIVE_INFINITY;

  constructor(startedAt: number, stallMs: number, limitStalls: number) {
    if (!(stallMs > 0)) throw new RangeError(`settle stall: must be a positive number of ms, not ${stallMs}`);
    this.#stallMs = stallMs;
    this.#limitAt = startedAt + limitStalls * stallMs;
    this.#endsAt = startedAt + stallMs;
  }

  /** When the settle gives up, `left` being what a look at `now` found still to do. */
  look(left: number, now: number): number {
    if (left < this.#leastLeft) {
      this.#leastLeft = left;
      this.#endsAt = Math.min(this.#limitAt, now + this.#stallMs);
    }
    return this.#endsAt;
  }
}
