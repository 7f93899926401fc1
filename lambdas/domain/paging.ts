/**
 * How the server cuts a page of a `sync` or `conversations` answer so that it fits one
 * WebSocket frame.
 */
import { MAX_FRAME_BYTES } from '@parley/protocol';

/**
 * The longest prefix of `items` whose frame stays within MAX_FRAME_BYTES, keeping at least
 * one item (a single message or entry always fits: a body is at most 4096 characters).
 * Pages are cut by size as well as by `limit`, and say `hasMore` for the rest.
 */
export function fitToFrame<Item>(items: Item[], envelope: object): Item[] {
  // Room for the envelope's own fields, the brackets and commas, and a margin.
  let budget = MAX_FRAME_BYTES - Buffer.byteLength(JSON.stringify(envelope), 'utf8') - 512;
  const fitted: Item[] = [];
  for (const item of items) {
    budget -= frameBytesOf(item);
    if (budget < 0 && fitted.length > 0) break;
    fitted.push(item);
  }
  return fitted;
}

/** A read for a frame starts with this many messages: a short catch-up is one query. */
export const FIRST_PAGE_MESSAGES = 4;

/**
 * How many messages the next query of a read for one frame asks for, once `read` messages
 * (the largest `largestBytes` of JSON) are in and `remainingBytes` of the frame are left:
 * as many as would fit were each as large as the largest so far, and at most four times as
 * many as were read, so that small messages followed by large ones cannot make one query
 * read far more than the frame holds.
 */
export function nextPageSize(progress: {
  read: number;
  largestBytes: number;
  remainingBytes: number;
  remainingLimit: number;
}): number {
  const { read, largestBytes, remainingBytes, remainingLimit } = progress;
  if (read === 0) return Math.min(remainingLimit, FIRST_PAGE_MESSAGES);
  const fitting = Math.ceil(remainingBytes / Math.max(largestBytes, 1));
  return Math.max(1, Math.min(remainingLimit, fitting, 4 * read));
}

/** The bytes of an item in a frame: its JSON in UTF-8, and a comma. */
export function frameBytesOf(item: unknown): number {
  return Buffer.byteLength(JSON.stringify(item), 'utf8') + 1;
}
