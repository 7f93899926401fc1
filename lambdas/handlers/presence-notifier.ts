/**
 * Kinesis consumer of `presence-changed` events, with a batching window of a few seconds:
 * each batch becomes at most one `presence` frame per subscribed connection, holding the
 * current state of every changed user it watches.
 */
import type { KinesisStreamEvent } from 'aws-lambda';
import { presenceConsumer } from '../../definitions/stream-consumers.js';
import type { PresenceChangedEvent } from '../domain/ports.js';
import { notifyPresenceChanges } from '../domain/presence.js';
import { streamConsumer } from '../middleware/lambda-function.js';
import { type DepsProvider, depsFromEnvironment, presenceDeps } from '../runtime.js';

/** The filter of this consumer's event source mapping, in AWS and locally. */
export const PRESENCE_EVENT_TYPES = presenceConsumer.eventTypes;

function changedUserId(data: string): string | undefined {
  try {
    const event = JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as PresenceChangedEvent;
    return event?.type === 'presence-changed' && typeof event.userId === 'string' ? event.userId : undefined;
  } catch {
    return undefined;
  }
}

export function createPresenceNotifierHandler(deps: DepsProvider) {
  const handle = async (batch: KinesisStreamEvent): Promise<void> => {
    const userIds = batch.Records.map((record) => changedUserId(record.kinesis.data)).filter(
      (userId): userId is string => userId !== undefined,
    );
    if (userIds.length === 0) return;
    // A failure throws: the batch is retried whole, and re-sending presence is harmless.
    const { posts } = await notifyPresenceChanges(presenceDeps(deps()), userIds);
    deps().logger.debug('presence notified', { users: new Set(userIds).size, posts });
  };
  return streamConsumer(deps, handle);
}

export const handler = createPresenceNotifierHandler(depsFromEnvironment('presence-notifier'));
