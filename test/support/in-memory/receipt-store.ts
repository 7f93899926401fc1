/**
 * Receipt watermarks in memory, with the contract of `DynamoDbReceiptStore`: a watermark is
 * raised only to a higher seq (the first one is set whatever its value), a call that would
 * not raise it answers the watermark it holds, every call answers the watermark before it
 * (0 when none), and the members are listed in user id order
 * with 0 for a kind never acked.
 */
import type { Receipt, ReceiptKind } from '@parley/protocol';
import type { ReceiptStore, WatermarkOutcome } from '../../../lambdas/domain/ports.js';

type Watermarks = Partial<Record<ReceiptKind, number>>;

export class InMemoryReceiptStore implements ReceiptStore {
  /** conversationId → userId → watermarks. */
  readonly #members = new Map<string, Map<string, Watermarks>>();

  async raiseWatermark(
    conversationId: string,
    userId: string,
    kind: ReceiptKind,
    seq: number,
  ): Promise<WatermarkOutcome> {
    const members = this.#members.get(conversationId) ?? new Map<string, Watermarks>();
    this.#members.set(conversationId, members);
    const watermarks = members.get(userId) ?? {};
    const current = watermarks[kind];
    if (current !== undefined && current >= seq) return { seq: current, moved: false, previous: current };
    members.set(userId, { ...watermarks, [kind]: seq });
    return { seq, moved: true, previous: current ?? 0 };
  }

  async getReceipt(conversationId: string, userId: string): Promise<Receipt> {
    const watermarks = this.#members.get(conversationId)?.get(userId) ?? {};
    return { userId, deliveredSeq: watermarks.delivered ?? 0, readSeq: watermarks.read ?? 0 };
  }

  async listReceipts(conversationId: string): Promise<Receipt[]> {
    return [...(this.#members.get(conversationId) ?? new Map<string, Watermarks>())]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([userId, watermarks]) => ({
        userId,
        deliveredSeq: watermarks.delivered ?? 0,
        readSeq: watermarks.read ?? 0,
      }));
  }
}
