/**
 * Delivery: one conversation event goes to every open connection of every member, the
 * sender's other devices and the sending device included.
 */
import pLimit from 'p-limit';
import { membersOf } from './conversation.js';
import type { ConnectionPusher, ConnectionStore } from './ports.js';

export interface FanoutDeps {
  connections: ConnectionStore;
  pusher: ConnectionPusher;
  /** Posts in flight at once for one event. */
  postConcurrency: number;
}

export interface DeliveryReport {
  delivered: number;
  gone: number;
}

export class DeliveryFailedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DeliveryFailedError';
  }
}

/**
 * Posts `frame` to every connection of every member. A connection that answers 410 is
 * deleted; any other failed post fails the delivery, so that the stream retries it
 * (a repeated post is harmless: clients drop a seq they already have).
 */
export async function deliverToMembers(
  deps: FanoutDeps,
  conversationId: string,
  frame: string,
): Promise<DeliveryReport> {
  const members = membersOf(conversationId);
  if (!members) throw new DeliveryFailedError(`not a conversation id: ${conversationId}`);
  const connections = (
    await Promise.all(members.map((member) => deps.connections.listConnections(member)))
  ).flat();
  const limit = pLimit(deps.postConcurrency);
  const outcomes = await Promise.allSettled(
    connections.map((connection) =>
      limit(async () => {
        const outcome = await deps.pusher.post(connection.connectionId, frame);
        if (outcome === 'gone')
          await deps.connections.deleteConnection(connection.userId, connection.connectionId);
        return outcome;
      }),
    ),
  );
  const failures = outcomes.filter((outcome) => outcome.status === 'rejected');
  if (failures.length > 0) {
    throw new DeliveryFailedError(
      `${failures.length} of ${connections.length} posts failed in ${conversationId}`,
      { cause: failures[0]?.reason },
    );
  }
  const gone = outcomes.filter(
    (outcome) => outcome.status === 'fulfilled' && outcome.value === 'gone',
  ).length;
  return { delivered: connections.length - gone, gone };
}
