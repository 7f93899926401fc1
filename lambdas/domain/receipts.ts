/**
 * Receipts: per member, a `delivered` and a `read` watermark that only move forward;
 * reading lifts `delivered` with it. The watermark of the ack's kind, once it reached the
 * acked seq, is published on the conversation's stream, behind the messages it
 * acknowledges, so a receipt never overtakes its message on any device.
 */

import type { ReceiptKind } from '@parley/protocol';
import { BadRequestError } from './errors.js';
import type { EventPublisher, MessageStore, ReceiptStore, WatermarkOutcome } from './ports.js';

export interface ReceiptDeps {
  messages: MessageStore;
  receipts: ReceiptStore;
  publisher: EventPublisher;
}

export interface AckInput {
  conversationId: string;
  userId: string;
  kind: ReceiptKind;
  seq: number;
}

/** What an ack did to each watermark it raised: `read` first when it raised both. */
export type WatermarkOutcomes = Array<[ReceiptKind, WatermarkOutcome]>;

/**
 * Applies an ack; returns the caller's watermark of that kind afterwards. `afterRaise` runs
 * once the receipts are published, with what the ack did to each watermark (a group
 * recomputes its `everyone` there).
 */
export async function acknowledge(
  deps: ReceiptDeps,
  input: AckInput,
  afterRaise?: (outcomes: WatermarkOutcomes) => Promise<void>,
): Promise<{ seq: number }> {
  const lastSeq = await deps.messages.lastSeq(input.conversationId);
  if (input.seq > lastSeq) {
    throw new BadRequestError(`seq: must be at most the conversation's last seq, ${lastSeq}`);
  }
  const outcomes = await raiseWatermarks(deps.receipts, input);
  const own = outcomes.find(([kind]) => kind === input.kind)?.[1];
  // Published when the watermark moved, and again when an ack repeats it exactly: that
  // repeat is a client retry, and the first try may have failed before publishing. Only
  // the ack's own kind: the `delivered` a `read` lifts is not published again, since every
  // reader of a `read` receipt (clients, the conversation list) lifts `delivered` with it.
  if (own && own.seq === input.seq && input.seq > 0) {
    await deps.publisher.publish({
      type: 'receipt',
      conversationId: input.conversationId,
      userId: input.userId,
      kind: input.kind,
      seq: input.seq,
    });
  }
  await afterRaise?.(outcomes);
  return { seq: own?.seq ?? input.seq };
}

/** Raises the watermark of the ack's kind, and `delivered` with `read`. */
export async function raiseWatermarks(receipts: ReceiptStore, input: AckInput): Promise<WatermarkOutcomes> {
  const outcomes: WatermarkOutcomes = [];
  if (input.kind === 'read') {
    outcomes.push([
      'read',
      await receipts.raiseWatermark(input.conversationId, input.userId, 'read', input.seq),
    ]);
  }
  outcomes.push([
    'delivered',
    await receipts.raiseWatermark(input.conversationId, input.userId, 'delivered', input.seq),
  ]);
  return outcomes;
}
