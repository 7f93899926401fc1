/**
 * The fast path (docs/adr/0008-fast-path.md): once `send` has committed a message, in a
 * conversation with few connected devices, it posts the message to them itself, then puts
 * the record on the stream naming the connections that answered 2xx. The stream stays the
 * guarantee: the fanout posts to every connection not named, writes the lists and carries
 * the receipts as before. Whatever goes wrong here (a read or a post that fails, one that
 * takes too long) only leaves more connections to the stream; it never fails the send.
 */
import { isGroupConversationId, type Message, membersOf } from '@parley/protocol';
import pLimit from 'p-limit';
import { MetricName } from '../../definitions/metrics.js';
import { type FanoutDeps, postToConnections } from './fanout.js';
import { recordPosted } from './fanout-work.js';
import { recipientsOf } from './group-fanout.js';
import type { Connection, GroupConnectionStore, GroupStore, Logger } from './ports.js';
import type { FastPath } from './sequencing.js';

/**
 * How long the fast path may hold a send before its record goes on the stream. The stream
 * hop itself (PutRecord, then the enhanced fan-out push to the fanout) is about this long
 * (docs/capacity.md §9): a post slower than that reaches its device no sooner than the
 * stream would, and waiting for it would only delay every device the fast path left out.
 */
export const FAST_PATH_BUDGET_MS = 100;

export interface FastPathDeps extends FanoutDeps {
  groups: GroupStore;
  groupConnections: GroupConnectionStore;
  logger: Logger;
  /** Connected devices of a group up to which the fast path posts; 0 turns it off everywhere. */
  maxConnections: number;
  /** See `FAST_PATH_BUDGET_MS`. */
  budgetMs: number;
}

/**
 * Posts `message` to every connection of every member that receives it (the sender's other
 * devices included, not the sending one), within `budgetMs`, and answers the connections that answered 2xx by
 * then: the ones the stream's record may tell the fanout to leave out. A connection that
 * answers 410 is deleted, as the fanout deletes it (and leaves the group's index).
 */
export async function postFirst(
  deps: FastPathDeps,
  message: Message,
  directConnections?: Promise<Connection[]>,
): Promise<string[]> {
  if (deps.maxConnections <= 0) return [];
  const reached = new Set<string>();
  const posting = postToTargets(deps, message, reached, directConnections).catch((error: unknown) => {
    deps.logger.warn('the fast path failed; the stream delivers the message', {
      conversationId: message.conversationId,
      seq: message.seq,
      error,
    });
  });
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), deps.budgetMs);
  });
  const outcome = await Promise.race([posting, bound]);
  clearTimeout(timer);
  if (outcome === 'late') {
    // A post still under way may yet land: the fanout posts again, and the device drops the repeat.
    deps.logger.info('the fast path ran out of time; the stream delivers to the rest', {
      conversationId: message.conversationId,
      seq: message.seq,
      reached: reached.size,
    });
  }
  const connectionIds = [...reached];
  if (connectionIds.length > 0) deps.metrics.record(MetricName.FastPathPosts, connectionIds.length);
  return connectionIds;
}

/**
 * Starts the fast path of one send (`SequencingDeps.startFastPath`). In a one-to-one
 * conversation the targets are the members' connections, known before the seq is: their
 * read starts now and overlaps the claim, off the recipient's path. A group's targets
 * depend on its roster at the message's seq, so they are read after the commit.
 */
export function startFastPath(deps: FastPathDeps, conversationId: string): FastPath {
  if (deps.maxConnections <= 0) return async () => [];
  if (isGroupConversationId(conversationId)) return (message) => postFirst(deps, message);
  const connections = directTargets(deps, conversationId);
  // A failed read is reported by the posts that await it; a send refused before its commit
  // never awaits it, and its rejection must not count as unhandled.
  connections.catch(() => {});
  return (message) => postFirst(deps, message, connections);
}

/** Reads the message's targets and posts to each, adding to `reached` every one that answers 2xx. */
async function postToTargets(
  deps: FastPathDeps,
  message: Message,
  reached: Set<string>,
  directConnections: Promise<Connection[]> | undefined,
): Promise<void> {
  const group = isGroupConversationId(message.conversationId);
  const targets = (
    group
      ? await groupTargets(deps, message)
      : await (directConnections ?? directTargets(deps, message.conversationId))
  ).filter((connection) => !isSendingDevice(connection, message));
  if (targets.length === 0) return;
  const event = { type: 'message' as const, ...message };
  const frame = JSON.stringify(event);
  const onGone = group
    ? (gone: Connection) =>
        deps.groupConnections.removeConnections(message.conversationId, [gone.connectionId])
    : undefined;
  const limit = pLimit(deps.postConcurrency);
  await Promise.all(
    targets.map((connection) =>
      limit(async () => {
        try {
          // A throttled post is the stream's to deliver: the fast path never waits to retry it.
          const report = await postToConnections(deps, [connection], [frame], {
            throttled: 'leave',
            ...(onGone ? { onGone } : {}),
          });
          if (report.delivered === 0) return;
          reached.add(connection.connectionId);
          recordPosted(deps, event);
        } catch (error) {
          // One failed post leaves that device to the stream, not the others.
          deps.logger.debug('a fast path post failed; the stream delivers to it', {
            connectionId: connection.connectionId,
            error,
          });
        }
      }),
    ),
  );
}

/**
 * The device that sent the message is left to the stream. The SDK takes its own message
 * arriving as the server's word that the send is done, and stops retrying it: posted
 * before the publish, it would stop the retry that publishes the record of a send that
 * died between its posts and its publish (docs/adr/0008-fast-path.md). The device has
 * its `sent` answer for its own screen anyway.
 */
function isSendingDevice(connection: Connection, message: Message): boolean {
  return connection.userId === message.senderId && connection.deviceId === message.senderDeviceId;
}

/** Every connection of both members of a one-to-one conversation (of its one member, to oneself). */
async function directTargets(deps: FastPathDeps, conversationId: string): Promise<Connection[]> {
  const members = [...new Set(membersOf(conversationId) ?? [])];
  return (await Promise.all(members.map((userId) => deps.connections.listConnections(userId)))).flat();
}

/**
 * The group's indexed connections of the users who receive the message, as the fanout
 * picks them; none when the group has more than `maxConnections` connected devices. The
 * index is read first, and no further than one past the bound, so that a large group costs
 * one small read. A connection not yet indexed (a member just added) is the stream's.
 */
async function groupTargets(deps: FastPathDeps, message: Message): Promise<Connection[]> {
  const indexed = await deps.groupConnections.listGroupConnections(
    message.conversationId,
    deps.maxConnections + 1,
  );
  if (indexed.length === 0 || indexed.length > deps.maxConnections) return [];
  // The index may still hold devices of users removed before this seq: the group says who receives it.
  const group = await deps.groups.getGroup(message.conversationId);
  if (!group) return [];
  const recipients = recipientsOf(group, { type: 'message', ...message });
  return indexed.filter((connection) => recipients.has(connection.userId));
}
