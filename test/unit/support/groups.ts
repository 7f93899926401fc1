/** The in-memory ports and the deps of the membership changes, for the groups' unit tests. */
import { vi } from 'vitest';
import { DEFAULT_GROUP_CHANGES, type GroupChangeDeps } from '../../../lambdas/domain/group-changes.js';
import { createGroup } from '../../../lambdas/domain/groups.js';
import { createInMemoryPorts } from '../../support/in-memory/index.js';
import { NOW } from './harness.js';

export const GROUP = 'grp:lunch';
export const ALICE = { userId: 'alice', deviceId: 'phone' };
export const BOB = { userId: 'bob', deviceId: 'laptop' };
export const CAROL = { userId: 'carol', deviceId: 'tablet' };

/** Ports on a clock that moves 1 ms a read, message ids `01EV0001`, … and a backoff that does not wait. */
export function groupTest() {
  let clock = NOW;
  const now = () => clock++;
  const ports = createInMemoryPorts({ now });
  let ids = 0;
  const sleep = vi.fn(async (_ms: number) => {});
  const deps: GroupChangeDeps = {
    groups: ports.groups,
    messages: ports.messages,
    publisher: ports.publisher,
    newMessageId: () => `01EV${String(++ids).padStart(4, '0')}`,
    now,
    sleep,
    random: () => 0.5,
    ...DEFAULT_GROUP_CHANGES,
  };
  /** The kinds and seqs of the events published so far, in order. */
  const published = () =>
    ports.publisher.events.map((event) =>
      event.type === 'message' ? `${event.seq} ${event.kind}` : event.type,
    );
  return { ports, deps, sleep, published };
}

/** `count` user ids of 64 characters, in user id order. */
export const longIds = (count: number, prefix = 'u') =>
  Array.from({ length: count }, (_, index) => `${prefix}${String(index).padStart(5, '0')}`.padEnd(64, 'x'));

/** A group made by alice with `members`, at seq 1 (and on, if the list took more than one event). */
export async function aliceGroup(test: ReturnType<typeof groupTest>, members = ['bob', 'carol']) {
  return createGroup(test.deps, ALICE, { conversationId: GROUP, title: 'Lunch', members });
}
