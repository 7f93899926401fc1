/**
 * Typing in a group: straight to the connected devices of the other members, read from the
 * group's connection index (what grows with its connected devices, not with its members).
 * The server lets through at most one `start` per member per group in
 * `GROUP_TYPING_INTERVAL_MS`, whichever Lambda instance receives it; `stop` always goes.
 */
import { GROUP_TYPING_INTERVAL_MS, type TypingEventFrame } from '@parley/protocol';
import pLimit from 'p-limit';
import { MetricName, type MetricsRecorder } from '../../definitions/metrics.js';
import { assertCurrentMember } from './conversation.js';
import { DeliveryFailedError } from './errors.js';
import { isStillOpening } from './fanout.js';
import type {
  Connection,
  ConnectionPusher,
  ConnectionStore,
  GroupConnectionStore,
  GroupStore,
  TypingGate,
} from './ports.js';

export interface GroupTypingDeps {
  groups: GroupStore;
  groupConnections: GroupConnectionStore;
  connections: ConnectionStore;
  typingGate: TypingGate;
  pusher: ConnectionPusher;
  metrics: MetricsRecorder;
  now: () => number;
  postConcurrency: number;
}

/** What became of a `typing` frame in a group. */
export type GroupTypingOutcome = { forwarded: false } | { forwarded: true; delivered: number; gone: number };

/** Checks that the caller is a current member, then forwards its typing state unless the gate holds a `start` back. */
export async function forwardGroupTyping(
  deps: GroupTypingDeps,
  event: TypingEventFrame,
): Promise<GroupTypingOutcome> {
  const { conversationId, userId } = event;
  await assertCurrentMember(deps.groups, conversationId, userId);
  if (
    event.state === 'start' &&
    !(await deps.typingGate.claimStart(conversationId, userId, deps.now(), GROUP_TYPING_INTERVAL_MS))
  ) {
    return { forwarded: false };
  }
  const devices = (await deps.groupConnections.listGroupConnections(conversationId)).filter(
    (connection) => connection.userId !== userId,
  );
  const frame = JSON.stringify(event);
  const limit = pLimit(deps.postConcurrency);
  const outcomes = await Promise.allSettled(
    devices.map((connection) => limit(() => postOrForget(deps, conversationId, connection, frame))),
  );
  const failures = outcomes.filter((outcome) => outcome.status === 'rejected');
  if (failures.length > 0) {
    throw new DeliveryFailedError(`${failures.length} of ${devices.length} typing posts failed`, {
      cause: failures[0]?.reason,
    });
  }
  const count = (value: string) =>
    outcomes.filter((outcome) => outcome.status === 'fulfilled' && outcome.value === value).length;
  return { forwarded: true, delivered: count('delivered'), gone: count('gone') };
}

/** Posts the frame; a connection gone (410) leaves the connections table and the group's index. */
async function postOrForget(
  deps: GroupTypingDeps,
  conversationId: string,
  connection: Connection,
  frame: string,
): Promise<'delivered' | 'gone' | 'opening' | 'throttled'> {
  const outcome = await deps.pusher.post(connection.connectionId, frame);
  // A throttled typing frame is only late, not a sign the connection is gone: let it go.
  if (outcome === 'delivered' || outcome === 'throttled') return outcome;
  if (isStillOpening(connection, deps.now())) return 'opening';
  deps.metrics.record(MetricName.GoneConnections, 1);
  await Promise.all([
    deps.connections.deleteConnection(connection.userId, connection.connectionId),
    deps.groupConnections.removeConnections(conversationId, [connection.connectionId]),
  ]);
  return 'gone';
}
