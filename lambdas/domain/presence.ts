/**
 * Presence: a user is online while at least one of its devices is connected; `lastSeen`
 * is when its last connection closed. Only a change of that state is published, so one
 * user's devices coming and going do not flood subscribers, and the notifier sends each
 * subscriber at most one frame per batch.
 */

import type { PresenceFrame, UserPresence } from '@parley/protocol';
import pLimit from 'p-limit';
import { MetricName, type MetricsRecorder } from '../../definitions/metrics.js';
import type {
  ConnectionPusher,
  ConnectionStore,
  EventPublisher,
  PresenceRecord,
  PresenceStore,
  PresenceSubscriptionStore,
  PrivacyStore,
} from './ports.js';

export interface PresenceDeps {
  presence: PresenceStore;
  subscriptions: PresenceSubscriptionStore;
  connections: ConnectionStore;
  privacy: PrivacyStore;
  publisher: EventPublisher;
  pusher: ConnectionPusher;
  metrics: MetricsRecorder;
  now: () => number;
  connectionTtlSeconds: number;
  postConcurrency: number;
}

const OFFLINE = { online: false, lastSeen: null } as const;

/** What a reader sees: an online record past its expiry is a user whose devices died silently. */
export function presenceView(userId: string, record: PresenceRecord | undefined, now: number): UserPresence {
  if (!record) return { userId, ...OFFLINE };
  if (record.online && record.expiresAt > Math.floor(now / 1000))
    return { userId, online: true, lastSeen: null };
  if (record.online) return { userId, online: false, lastSeen: record.lastActiveAt };
  return { userId, online: false, lastSeen: record.lastSeen };
}

/** On `$connect`, after the connection is registered. */
export async function recordConnect(deps: PresenceDeps, userId: string): Promise<void> {
  const now = deps.now();
  const expiresAt = Math.floor(now / 1000) + deps.connectionTtlSeconds;
  const { wasOnline, version } = await deps.presence.markOnline(userId, now, expiresAt);
  if (wasOnline) return;
  try {
    await deps.publisher.publish({ type: 'presence-changed', userId });
  } catch (error) {
    // The connect fails and the client connects again. Left online, the user would look
    // already online to that retry, and nobody would ever hear of it: undo, so the retry
    // publishes. If a device connected meanwhile the version moved and this does nothing.
    await deps.presence.markOffline(userId, version, now).catch(() => undefined);
    throw error;
  }
}

/** On `$disconnect`, after the connection is removed: offline once no connection is left. */
export async function recordDisconnect(deps: PresenceDeps, userId: string): Promise<void> {
  // Read the version before the connections: a connect that lands in between bumps it,
  // and the conditional write below then leaves the user online.
  const record = await deps.presence.get(userId);
  if (!record?.online) return;
  const live = await deps.connections.listConnections(userId);
  if (live.length > 0) return;
  if (await deps.presence.markOffline(userId, record.version, deps.now())) {
    await deps.publisher.publish({ type: 'presence-changed', userId });
  }
}

/**
 * Answers a subscription with the current presence of each user, and registers the
 * connection for later changes of those the caller may see: those who wrote to it in their
 * one-to-one conversation and do not block it (protocol 1.3; sharing a group is not
 * enough). Anyone else is answered as a stranger, by the same path: one read of the same
 * two keys whether the user exists or not, and no subscription.
 */
export async function subscribeToPresence(
  deps: PresenceDeps,
  subscriber: { userId: string; connectionId: string },
  userIds: string[],
): Promise<UserPresence[]> {
  const distinct = [...new Set(userIds)];
  const allowed = await deps.privacy.presenceVisibleTo(subscriber.userId, distinct);
  const visible = distinct.filter((userId) => allowed.has(userId));
  const now = deps.now();
  const expiresAt = Math.floor(now / 1000) + deps.connectionTtlSeconds;
  const [records] = await Promise.all([
    deps.presence.getMany(visible),
    deps.subscriptions.subscribe(
      visible.map((watchedUserId) => ({
        watchedUserId,
        connectionId: subscriber.connectionId,
        subscriberUserId: subscriber.userId,
        expiresAt,
      })),
    ),
  ]);
  await dropBlockedMeanwhile(deps, subscriber, visible, allowed);
  const recordOf = new Map(records.map((record) => [record.userId, record]));
  return distinct.map((userId) =>
    allowed.has(userId) ? presenceView(userId, recordOf.get(userId), now) : { userId, ...OFFLINE },
  );
}

/**
 * A block committed between the consent read and the subscription's write would miss the
 * subscription when it ends the blocked user's ones: read the blocks again after the write.
 * Either this read sees the block, or the block's own read of the subscriptions comes
 * later and sees the subscription.
 */
async function dropBlockedMeanwhile(
  deps: PresenceDeps,
  subscriber: { userId: string; connectionId: string },
  visible: string[],
  allowed: Set<string>,
): Promise<void> {
  const others = visible.filter((userId) => userId !== subscriber.userId);
  if (others.length === 0) return;
  const blocks = await deps.privacy.findBlocks(
    others.map((userId) => ({ blockerId: userId, blockedId: subscriber.userId })),
  );
  await Promise.all(
    blocks.map(({ blockerId }) => {
      allowed.delete(blockerId);
      return deps.subscriptions.unsubscribe(blockerId, subscriber.connectionId);
    }),
  );
}

/**
 * Sends the current presence of the changed users to their subscribers: one frame per
 * subscribed connection, holding every changed user it watches.
 */
export async function notifyPresenceChanges(
  deps: PresenceDeps,
  userIds: string[],
): Promise<{ posts: number }> {
  const distinct = [...new Set(userIds)];
  const now = deps.now();
  const [records, subscriberLists] = await Promise.all([
    deps.presence.getMany(distinct),
    Promise.all(distinct.map((userId) => deps.subscriptions.listSubscribers(userId))),
  ]);
  const recordOf = new Map(records.map((record) => [record.userId, record]));
  const byConnection = new Map<string, { users: UserPresence[]; watched: string[] }>();
  for (const subscriptions of subscriberLists) {
    for (const { watchedUserId, connectionId } of subscriptions) {
      const entry = byConnection.get(connectionId) ?? { users: [], watched: [] };
      entry.users.push(presenceView(watchedUserId, recordOf.get(watchedUserId), now));
      entry.watched.push(watchedUserId);
      byConnection.set(connectionId, entry);
    }
  }
  const limit = pLimit(deps.postConcurrency);
  const outcomes = await Promise.allSettled(
    [...byConnection].map(([connectionId, { users, watched }]) =>
      limit(async () => {
        const frame: PresenceFrame = { type: 'presence', users };
        const outcome = await deps.pusher.post(connectionId, JSON.stringify(frame));
        // A presence frame is not retried: the next change of these users carries their state anew.
        if (outcome === 'throttled') deps.metrics.record(MetricName.PostsDropped, 1);
        if (outcome === 'gone') {
          deps.metrics.record(MetricName.GoneConnections, 1);
          await Promise.all(
            watched.map((watchedUserId) => deps.subscriptions.unsubscribe(watchedUserId, connectionId)),
          );
        }
      }),
    ),
  );
  const failed = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failed) throw new Error('presence posts failed', { cause: failed.reason });
  return { posts: byConnection.size };
}
