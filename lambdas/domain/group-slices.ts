/**
 * Slices of a large group's delivery (docs/adr/0007-groups.md, "Delivery"): when an event
 * is for more connected devices than one invocation should post, the fanout splits them into
 * a fixed number of slices and puts each on the stream as a record of its own, under the
 * partition key `{conversationId}#{slice}`, for other invocations to post. A device's slice
 * follows from a hash of its connection id alone, and the number of slices never changes,
 * so a device always gets a group's events through the same partition key: in order.
 */
import { postToConnections } from './fanout.js';
import { type ConversationWork, type FanoutBatchDeps, failFrom, recordPosted } from './fanout-work.js';
import type { Connection, ConversationEvent, GroupSliceEvent } from './ports.js';

/** More connected devices than this for one event, and its posts go to slices. */
export const SLICE_THRESHOLD = 256;
/** Fixed, so that a device stays in its slice whatever the group's size. */
export const SLICE_COUNT = 8;

/** The slice of a connection: FNV-1a of its id, so every invocation computes the same. */
export function sliceOf(connectionId: string, slices: number = SLICE_COUNT): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < connectionId.length; index++) {
    hash ^= connectionId.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % slices;
}

/** The slices of one event's delivery that hold at least one connection. */
export function slicesOf(event: ConversationEvent, connections: readonly Connection[]): GroupSliceEvent[] {
  const bySlice = new Map<number, Connection[]>();
  for (const connection of connections) {
    const slice = sliceOf(connection.connectionId);
    bySlice.set(slice, [...(bySlice.get(slice) ?? []), connection]);
  }
  return [...bySlice]
    .sort(([a], [b]) => a - b)
    .map(([slice, sliceConnections]) => ({
      type: 'group-slice',
      conversationId: event.conversationId,
      slice,
      slices: SLICE_COUNT,
      event,
      connections: sliceConnections,
    }));
}

/**
 * Hands an event's posts to its slices. The records of one slice key go on the stream in
 * the order of the events, since the caller hands over an event only once the previous
 * one's slices are published.
 */
export async function publishSlices(
  deps: FanoutBatchDeps,
  event: ConversationEvent,
  connections: readonly Connection[],
): Promise<void> {
  await Promise.all(slicesOf(event, connections).map((slice) => deps.publisher.publish(slice)));
}

/**
 * Posts the events of one slice key's records in stream order, stopping at the first that
 * fails (it and the later ones are retried). A connection that answers 410 leaves the
 * connections and the group's index.
 */
export async function deliverSlices(deps: FanoutBatchDeps, work: ConversationWork): Promise<void> {
  for (const { index, slice } of work.slices) {
    const frame = JSON.stringify(slice.event);
    try {
      const report = await postToConnections(deps, slice.connections, [frame], {
        onPosted: () => recordPosted(deps, slice.event),
        onGone: (gone) => deps.groupConnections.removeConnections(slice.conversationId, [gone.connectionId]),
      });
      deps.logger.debug('delivered a slice', {
        conversationId: slice.conversationId,
        slice: slice.slice,
        seq: slice.event.seq,
        delivered: report.delivered,
        gone: report.gone,
      });
    } catch (error) {
      deps.logger.warn('delivery of a slice failed; the stream will retry', {
        conversationId: slice.conversationId,
        slice: slice.slice,
        seq: slice.event.seq,
        error,
      });
      failFrom(work, index);
      return;
    }
  }
}
