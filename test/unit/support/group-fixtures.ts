/**
 * What the tests of group delivery share: a group made in the in-memory ports (its events
 * stored as messages, as the group store's transaction writes them), connected devices, the
 * fanout of one instance over those ports, and the stream records it reads.
 */
import type { Message, MessageEventFrame } from '@parley/protocol';
import { createBatchFanout, type StreamRecord } from '../../../lambdas/domain/fanout-batch.js';
import {
  type Connection,
  type ConversationEvent,
  type GroupRecord,
  partitionKeyOf,
  type StreamEvent,
} from '../../../lambdas/domain/ports.js';
import { fanoutDeps } from '../../../lambdas/runtime.js';
import type { InMemoryPorts } from '../../support/in-memory/index.js';
import { createInMemoryTestDeps, NOW } from './harness.js';

export const GROUP = 'grp:lunch';

/** A connection opened an hour ago (past the handshake), alive for another hour. */
export const device = (userId: string, deviceId = 'phone'): Connection => ({
  userId,
  connectionId: `conn-${userId}-${deviceId}`,
  deviceId,
  connectedAt: NOW - 60 * 60 * 1000,
  expiresAt: Math.floor(NOW / 1000) + 3600,
});

/** A message (text or membership event) of the group at `seq`, as the stream carries it. */
export function groupMessage(seq: number, fields: Partial<Message> = {}): MessageEventFrame {
  return {
    type: 'message',
    conversationId: GROUP,
    seq,
    messageId: `01MSG${seq}`,
    clientMessageId: `cm-${seq}`,
    senderId: 'alice',
    senderDeviceId: 'phone',
    kind: 'text',
    body: `message ${seq}`,
    serverTs: NOW - 100 + seq,
    ...fields,
  };
}

export interface Roster {
  /** userId → joinedSeq. */
  members: Record<string, number>;
  /** userId → [joinedSeq, removedSeq]. */
  former?: Record<string, [number, number]>;
  /** userId → its earlier windows, [joinedSeq, removedSeq] each, for a user added back. */
  earlier?: Record<string, Array<[number, number]>>;
  title?: string;
  everyone?: GroupRecord['everyone'];
}

/** Stores the group as `roster` says (replacing what was there), with `events` as its messages. */
export async function storeGroup(ports: InMemoryPorts, roster: Roster, events: MessageEventFrame[] = []) {
  const before = await ports.groups.getGroup(GROUP);
  const earlierOf = (userId: string) => {
    const windows = roster.earlier?.[userId];
    return windows
      ? { earlierWindows: windows.map(([joinedSeq, removedSeq]) => ({ joinedSeq, removedSeq })) }
      : {};
  };
  const after: GroupRecord = {
    conversationId: GROUP,
    title: roster.title ?? 'Lunch',
    createdBy: 'alice',
    createdAt: NOW - 1000,
    members: Object.entries(roster.members).map(([userId, joinedSeq]) => ({
      userId,
      admin: userId === 'alice',
      joinedSeq,
      joinedAt: NOW - 1000 + joinedSeq,
      ...earlierOf(userId),
    })),
    former: Object.entries(roster.former ?? {}).map(([userId, [joinedSeq, removedSeq]]) => ({
      userId,
      joinedSeq,
      removedSeq,
      ...earlierOf(userId),
    })),
    everyone: roster.everyone ?? { deliveredSeq: 0, readSeq: 0 },
  };
  const outcome = await ports.groups.commitChange({
    before,
    after,
    events: events.map(({ type: _type, ...message }) => message),
  });
  if (outcome.status !== 'stored') throw new Error(`the group was not stored: ${outcome.status}`);
}

/** Opens the devices, and indexes them in the group when `indexed`, as `$connect` does for a member. */
export async function connect(ports: InMemoryPorts, devices: Connection[], { indexed = true } = {}) {
  for (const connection of devices) await ports.connections.putConnection(connection);
  if (indexed) await ports.groupConnections.addConnections(GROUP, devices);
}

let sequence = 0;
/** Stream records of `events`, in order, each with its partition key. */
export function recordsOf(events: StreamEvent[]): StreamRecord[] {
  return events.map((event) => ({
    id: String(++sequence).padStart(8, '0'),
    partitionKey: partitionKeyOf(event),
    data: JSON.stringify(event),
  }));
}

/** The fanout of one instance over in-memory ports; it answers the ids of the records to retry. */
export function createGroupFanout(options: { postConcurrency?: number } = {}) {
  const { deps, ports, metrics } = createInMemoryTestDeps();
  const fanout = createBatchFanout(() => ({
    ...fanoutDeps(deps),
    ...(options.postConcurrency ? { postConcurrency: options.postConcurrency } : {}),
  }));
  return {
    ports,
    metrics,
    fanout: (events: StreamEvent[]) => fanout(recordsOf(events)),
    fanoutRecords: fanout,
  };
}

/** The seqs (or types, for receipts) of the group's frames a connection was posted, in order. */
export function seqsTo(ports: InMemoryPorts, connectionId: string): Array<number | string> {
  return ports.pusher
    .framesTo(connectionId)
    .map((frame) => frame as ConversationEvent)
    .map((frame) => (frame.type === 'message' ? frame.seq : `${frame.type}:${frame.seq}`));
}

export const indexedIds = async (ports: InMemoryPorts) =>
  (await ports.groupConnections.listGroupConnections(GROUP)).map((connection) => connection.connectionId);
