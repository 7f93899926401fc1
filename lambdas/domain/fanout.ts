/**
 * Delivery: one conversation event goes to every open connection of every member, the
 * sender's other devices and the sending device included.
 */

import { membersOf } from '@parley/protocol';
import pLimit from 'p-limit';
import { MetricName, type MetricsRecorder } from '../../definitions/metrics.js';
import { DeliveryFailedError } from './errors.js';
import type { Connection, ConnectionPusher, ConnectionStore } from './ports.js';

/**
 * API Gateway answers a post to a connection 410 until its `$connect` has completed, and
 * the connection item is written inside `$connect`. A connection registered this recently
 * (the `$connect` integration times out at 29 s) that answers 410 is still opening, not
 * gone: deleting its item would leave the device connected but deaf.
 */
const HANDSHAKE_GRACE_MS = 30_000;

/** True for a connection that answered 410 while still in its handshake: keep its items. */
export function isStillOpening(connection: Connection, now: number): boolean {
  return now - connection.connectedAt < HANDSHAKE_GRACE_MS;
}

export interface FanoutDeps {
  connections: ConnectionStore;
  pusher: ConnectionPusher;
  metrics: MetricsRecorder;
  now: () => number;
  /** Posts in flight at once for one event. */
  postConcurrency: number;
}

export interface PostOptions {
  /** Connections not to post to. */
  skip?: ReadonlySet<string>;
  /** Called after each successful post, with the index of the frame posted. */
  onPosted?: (frameIndex: number) => void;
  /** Called after a connection that answered 410 was deleted. */
  onGone?: (connection: Connection) => Promise<void>;
}

export interface DeliveryReport {
  delivered: number;
  /** Connections left out because they were in `skip`. */
  skipped: number;
  gone: number;
  /** Connections still in their handshake: not posted to, and not deleted. */
  opening: number;
  /** The connections done with: posted every frame, or gone and deleted (not those still opening). */
  connectionIds: Set<string>;
}

/**
 * Posts `frame` to every connection of every member. A connection that answers 410 is
 * deleted, unless it is still opening (see `HANDSHAKE_GRACE_MS`); any other failed post
 * fails the delivery, so that the stream retries it (a repeated post is harmless:
 * clients drop a seq they already have).
 */
export async function deliverToMembers(
  deps: FanoutDeps,
  conversationId: string,
  frame: string,
  options: Pick<PostOptions, 'skip' | 'onPosted'> = {},
): Promise<DeliveryReport> {
  const members = membersOf(conversationId);
  if (!members) throw new DeliveryFailedError(`not a conversation id: ${conversationId}`);
  return postToUsers(deps, members, [frame], options);
}

/**
 * Posts `frames`, in order, to every open connection of `userIds` but those in `skip`;
 * see `deliverToMembers`.
 */
export async function postToUsers(
  deps: FanoutDeps,
  userIds: readonly string[],
  frames: readonly string[],
  options: PostOptions = {},
): Promise<DeliveryReport> {
  const connections = (
    await Promise.all(userIds.map((userId) => deps.connections.listConnections(userId)))
  ).flat();
  return postToConnections(deps, connections, frames, options);
}

/**
 * Posts `frames`, in order, to each of `connections` but those in `skip`, at most
 * `postConcurrency` at once. A connection that answers 410 is deleted (and handed to
 * `onGone`), unless it is still opening; any other failed post fails the delivery.
 */
export async function postToConnections(
  deps: FanoutDeps,
  all: readonly Connection[],
  frames: readonly string[],
  { skip = new Set(), onPosted, onGone }: PostOptions = {},
): Promise<DeliveryReport> {
  const connections = all.filter((connection) => !skip.has(connection.connectionId));
  const limit = pLimit(deps.postConcurrency);
  const outcomes = await Promise.allSettled(
    connections.map((connection) =>
      limit(async () => {
        for (const [index, frame] of frames.entries()) {
          if ((await deps.pusher.post(connection.connectionId, frame)) === 'gone') {
            // The device catches up by itself once open; the caller may post again later.
            if (isStillOpening(connection, deps.now())) return 'opening' as const;
            deps.metrics.record(MetricName.GoneConnections, 1);
            await deps.connections.deleteConnection(connection.userId, connection.connectionId);
            await onGone?.(connection);
            return 'gone' as const;
          }
          onPosted?.(index);
        }
        return 'delivered' as const;
      }),
    ),
  );
  const failures = outcomes.filter((outcome) => outcome.status === 'rejected');
  if (failures.length > 0) {
    throw new DeliveryFailedError(`${failures.length} of ${connections.length} posts failed`, {
      cause: failures[0]?.reason,
    });
  }
  const outcomeOf = (index: number) => {
    const outcome = outcomes[index];
    return outcome?.status === 'fulfilled' ? outcome.value : undefined;
  };
  const count = (value: string) => outcomes.filter((_, index) => outcomeOf(index) === value).length;
  return {
    delivered: count('delivered'),
    skipped: all.length - connections.length,
    gone: count('gone'),
    opening: count('opening'),
    connectionIds: new Set(
      connections
        .filter((_, index) => outcomeOf(index) !== 'opening')
        .map((connection) => connection.connectionId),
    ),
  };
}
