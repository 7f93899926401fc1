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
    budget -= Buffer.byteLength(JSON.stringify(item), 'utf8') + 1;
    if (budget < 0 && fitted.length > 0) break;
    fitted.push(item);
  }
  return fitted;
}
