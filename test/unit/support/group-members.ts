/**
 * Groups for the unit tests of what members may do, written through the in-memory group
 * store as a membership change would write them (the membership routes are not under test
 * here): a change and its event commit together at the next seq.
 */
import type { Everyone, Message, MessageKind } from '@parley/protocol';
import type { WebSocketEvent } from '../../../lambdas/middleware/websocket-route.js';
import type { InMemoryPorts } from '../../support/in-memory/index.js';
import { messageEvent, NOW } from './harness.js';

export const GROUP = 'grp:lunch';

/** A `MESSAGE` event from `userId`'s `deviceId` with `frame` as its body. */
export function frameFrom(userId: string, frame: unknown, deviceId = 'phone'): WebSocketEvent {
  const event = messageEvent(frame);
  event.requestContext.authorizer = { principalId: userId, userId, deviceId };
  return event;
}

/** Commits one change to the group: its event at the conversation's next seq; returns that seq. */
async function commit(
  ports: InMemoryPorts,
  conversationId: string,
  kind: MessageKind,
  fields: Partial<Message>,
  change: (seq: number) => Parameters<InMemoryPorts['groups']['commitChange']>[0]['after'],
): Promise<number> {
  const seq = (await ports.messages.lastSeq(conversationId)) + 1;
  const before = await ports.groups.getGroup(conversationId);
  const messageId = `01EVENT${seq}`;
  const event: Message = {
    conversationId,
    seq,
    messageId,
    clientMessageId: messageId,
    senderId: 'alice',
    senderDeviceId: 'phone',
    kind,
    ...fields,
    serverTs: NOW,
  };
  const outcome = await ports.groups.commitChange({ before, after: change(seq), events: [event] });
  if (outcome.status !== 'stored') throw new Error(`the test's change was not stored: ${outcome.status}`);
  return seq;
}

/** Creates the group with `members` (the first one its admin), all joined at seq 1. */
export async function createGroup(
  ports: InMemoryPorts,
  members: string[],
  conversationId = GROUP,
): Promise<void> {
  await commit(ports, conversationId, 'group-created', { title: 'Lunch', members }, (seq) => ({
    conversationId,
    title: 'Lunch',
    createdBy: members[0] ?? 'alice',
    createdAt: NOW,
    members: members.map((userId, index) => ({ userId, admin: index === 0, joinedSeq: seq, joinedAt: NOW })),
    former: [],
    everyone: { deliveredSeq: 0, readSeq: 0 },
  }));
}

/** Adds `userId` to the group; returns the seq it joined at. */
export async function addMember(
  ports: InMemoryPorts,
  userId: string,
  conversationId = GROUP,
): Promise<number> {
  const group = await requireGroup(ports, conversationId);
  // A user added back keeps the windows of its earlier memberships, as the domain's change does.
  const former = group.former.find((candidate) => candidate.userId === userId);
  const earlierWindows = former
    ? [...(former.earlierWindows ?? []), { joinedSeq: former.joinedSeq, removedSeq: former.removedSeq }]
    : undefined;
  return commit(ports, conversationId, 'members-added', { members: [userId] }, (seq) => ({
    ...group,
    members: [
      ...group.members,
      { userId, admin: false, joinedSeq: seq, joinedAt: NOW, ...(earlierWindows ? { earlierWindows } : {}) },
    ],
    former: group.former.filter((former) => former.userId !== userId),
  }));
}

/** Removes `userId` from the group; returns the seq of its removal. */
export async function removeMember(
  ports: InMemoryPorts,
  userId: string,
  conversationId = GROUP,
): Promise<number> {
  const group = await requireGroup(ports, conversationId);
  const member = group.members.find((candidate) => candidate.userId === userId);
  if (!member) throw new Error(`${userId} is not a member of ${conversationId}`);
  return commit(ports, conversationId, 'member-removed', { userId }, (seq) => ({
    ...group,
    members: group.members.filter((candidate) => candidate.userId !== userId),
    former: [
      ...group.former,
      {
        userId,
        joinedSeq: member.joinedSeq,
        removedSeq: seq,
        ...(member.earlierWindows ? { earlierWindows: member.earlierWindows } : {}),
      },
    ],
  }));
}

/** Stores text messages from `senderId` up to seq `lastSeq`. */
export async function fillTo(
  ports: InMemoryPorts,
  lastSeq: number,
  senderId = 'bob',
  conversationId = GROUP,
): Promise<void> {
  for (let seq = (await ports.messages.lastSeq(conversationId)) + 1; seq <= lastSeq; seq++) {
    await ports.messages.storeMessage({
      conversationId,
      seq,
      messageId: `01TEXT${seq}`,
      clientMessageId: `cm-${seq}`,
      senderId,
      senderDeviceId: 'phone',
      kind: 'text',
      body: `message ${seq}`,
      serverTs: NOW + seq,
    });
  }
}

async function requireGroup(ports: InMemoryPorts, conversationId: string) {
  const group = await ports.groups.getGroup(conversationId);
  if (!group) throw new Error(`no group ${conversationId}`);
  return group;
}

/** Stores `everyone` of GROUP as given, its holders unknown, as a recompute would. */
export async function setEveryone(groups: InMemoryPorts['groups'], everyone: Everyone): Promise<void> {
  const state = await groups.getEveryoneState(GROUP);
  if (!state || !(await groups.setEveryone(GROUP, { everyone }, state.version))) {
    throw new Error(`${GROUP}: everyone not written`);
  }
}
