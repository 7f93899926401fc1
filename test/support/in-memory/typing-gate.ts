/**
 * The typing gate in memory, with the contract of `DynamoDbTypingGate`: one `start` per
 * member per conversation in an interval; the first after the interval is let through again.
 */
import type { TypingGate } from '../../../lambdas/domain/ports.js';

export class InMemoryTypingGate implements TypingGate {
  /** conversationId and userId → when its last `start` was let through. */
  readonly #lastStarts = new Map<string, number>();

  async claimStart(
    conversationId: string,
    userId: string,
    now: number,
    intervalMs: number,
  ): Promise<boolean> {
    const key = `${conversationId}\u0000${userId}`;
    const last = this.#lastStarts.get(key);
    if (last !== undefined && now - last < intervalMs) return false;
    this.#lastStarts.set(key, now);
    return true;
  }
}
