/**
 * Delivery: one conversation event goes to every open connection of every member, the
 * sender's other devices and the sending device included.
 */

import { membersOf } from '@parley/protocol';
import pLimit from 'p-limit';
import { MetricName, type MetricsRecorder } from '../../definitions/metrics.js';
import { type BackoffDeps, type BackoffPolicy, waitBeforeRetry } from './backoff.js';
import { DeliveryFailedError } from './errors.js';
import type { Connection, ConnectionPusher, ConnectionStore, PostOutcome } from './ports.js';

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

/**
 * How a throttled post (429 or 5xx, after the SDK's own retries) is tried again for its
 * connection alone before it is dropped: 3 more times, at most 100, 200 and 400 ms apart.
 * With the SDK's retries inside each try (about 1.5 s at worst) a connection holds its
 * conversation's next event for about 7 s at most, and only once a batch (see `dropped`):
 * well inside the fanout's 60 s timeout (docs/adr/0011-connection-cap.md).
 */
export const THROTTLED_POST_RETRIES: BackoffPolicy & { retries: number } = {
  retries: 3,
  baseDelayMs: 100,
  maxDelayMs: 1_000,
};

export interface FanoutDeps {
  connections: ConnectionStore;
  pusher: ConnectionPusher;
  metrics: MetricsRecorder;
  now: () => number;
  /** Posts in flight at once for one event. */
  postConcurrency: number;
  /** The waits between a throttled post's tries; real timers when absent. */
  retryWait?: BackoffDeps;
  /**
   * The connections whose posts were dropped as throttled since this set was made (the
   * fanout makes one per batch): their later posts in the batch are dropped without a try,
   * so that a throttled connection costs its conversation one round of retries, not one per event.
   */
  dropped?: Set<string>;
}

export interface PostOptions {
  /** Connections not to post to. */
  skip?: ReadonlySet<string>;
  /** Called after each successful post, with the index of the frame posted. */
  onPosted?: (frameIndex: number) => void;
  /** Called after a connection that answered 410 was deleted. */
  onGone?: (connection: Connection) => Promise<void>;
  /**
   * What a throttled post comes to: 'retry' (the default) tries it again, then drops it and
   * counts it; 'leave' gives up at once and counts nothing, for a caller whose frame some
   * other path delivers (the fast path) or that nobody misses for long (typing).
   */
  throttled?: 'retry' | 'leave';
}

export interface DeliveryReport {
  delivered: number;
  /** Connections left out because they were in `skip`. */
  skipped: number;
  gone: number;
  /** Connections still in their handshake: not posted to, and not deleted. */
  opening: number;
  /** Connections whose posts were dropped as throttled. */
  dropped: number;
  /**
   * The connections done with: posted every frame, gone and deleted, or dropped (not those
   * still opening, nor those a 'leave' caller left throttled).
   */
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
 * `onGone`), unless it is still opening; a throttled post is retried for its connection
 * alone, then dropped (see `THROTTLED_POST_RETRIES`); any other failed post fails the delivery.
 */
export async function postToConnections(
  deps: FanoutDeps,
  all: readonly Connection[],
  frames: readonly string[],
  { skip = new Set(), onPosted, onGone, throttled = 'retry' }: PostOptions = {},
): Promise<DeliveryReport> {
  const connections = all.filter((connection) => !skip.has(connection.connectionId));
  const limit = pLimit(deps.postConcurrency);
  const drop = (connection: Connection, frameCount: number) => {
    deps.metrics.record(MetricName.PostsDropped, frameCount);
    deps.dropped?.add(connection.connectionId);
    return 'dropped' as const;
  };
  const outcomes = await Promise.allSettled(
    connections.map((connection) =>
      limit(async () => {
        if (deps.dropped?.has(connection.connectionId)) return drop(connection, frames.length);
        for (const [index, frame] of frames.entries()) {
          const outcome = await postRetryingThrottled(deps, connection.connectionId, frame, throttled);
          if (outcome === 'throttled') {
            return throttled === 'leave' ? outcome : drop(connection, frames.length - index);
          }
          if (outcome === 'gone') {
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
    dropped: count('dropped'),
    connectionIds: new Set(
      connections
        .filter((_, index) => !['opening', 'throttled'].includes(outcomeOf(index) ?? ''))
        .map((connection) => connection.connectionId),
    ),
  };
}

const REAL_WAIT: BackoffDeps = {
  random: Math.random,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** One post, tried again while API Gateway throttles it, as `THROTTLED_POST_RETRIES` allows. */
async function postRetryingThrottled(
  deps: FanoutDeps,
  connectionId: string,
  frame: string,
  throttled: 'retry' | 'leave',
): Promise<PostOutcome> {
  for (let retry = 0; ; retry++) {
    const outcome = await deps.pusher.post(connectionId, frame);
    if (outcome !== 'throttled' || throttled === 'leave' || retry >= THROTTLED_POST_RETRIES.retries) {
      return outcome;
    }
    await waitBeforeRetry(retry, THROTTLED_POST_RETRIES, deps.retryWait ?? REAL_WAIT);
  }
}
