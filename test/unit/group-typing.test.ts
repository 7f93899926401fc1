/**
 * Typing in a group, through the typing handler on the in-memory ports: current members
 * only, to the other members' devices in the group's connection index, at most one `start`
 * per member per group every GROUP_TYPING_INTERVAL_MS, a `stop` always.
 */
import { GROUP_TYPING_INTERVAL_MS } from '@parley/protocol';
import { describe, expect, it, vi } from 'vitest';
import { INTERNAL_ERROR_MESSAGE } from '../../lambdas/domain/errors.js';
import type { Connection } from '../../lambdas/domain/ports.js';
import { createTypingHandler } from '../../lambdas/handlers/typing.js';
import { createInMemoryPorts } from '../support/in-memory/index.js';
import { createGroup, frameFrom, GROUP, removeMember } from './support/group-members.js';
import { CALLER_CONNECTION_ID, createInMemoryTestDeps, errorOf, invoke, NOW } from './support/harness.js';

const EXPIRES_AT = Math.floor(NOW / 1000) + 3600;
const device = (userId: string, deviceId: string, connectedAt = NOW - 3_600_000): Connection => ({
  userId,
  connectionId: `conn-${userId}-${deviceId}`,
  deviceId,
  connectedAt,
  expiresAt: EXPIRES_AT,
});

const typingFrame = (state: 'start' | 'stop') => ({ action: 'typing', conversationId: GROUP, state });
const typingEvent = (userId: string, state: 'start' | 'stop') => ({
  type: 'typing',
  conversationId: GROUP,
  userId,
  state,
});

/** alice, bob and carol in the group; their devices connected and indexed; a clock the test moves. */
async function groupOnline() {
  let now = NOW;
  const ports = createInMemoryPorts({ now: () => now });
  const test = createInMemoryTestDeps({ ports });
  test.deps.now = () => now;
  await createGroup(ports, ['alice', 'bob', 'carol']);
  const devices = [
    device('alice', 'phone'),
    device('alice', 'laptop'),
    device('bob', 'phone'),
    device('carol', 'phone'),
    device('carol', 'laptop'),
  ];
  for (const connection of devices) await ports.connections.putConnection(connection);
  await ports.groupConnections.addConnections(GROUP, devices);
  const type = async (userId: string, state: 'start' | 'stop') =>
    invoke(createTypingHandler(test.provider), frameFrom(userId, typingFrame(state)));
  const postedTo = () => ports.pusher.posts.map((post) => post.connectionId).sort();
  const advance = (ms: number) => {
    now += ms;
  };
  return { ...test, type, postedTo, advance };
}

describe('typing in a group', () => {
  it('reaches every connected device of the other members, none of the typing member’s, and answers nothing', async () => {
    const test = await groupOnline();

    const result = await test.type('alice', 'start');

    expect(result).toEqual({ statusCode: 200 });
    expect(test.postedTo()).toEqual(['conn-bob-phone', 'conn-carol-laptop', 'conn-carol-phone']);
    expect(test.ports.pusher.framesTo('conn-bob-phone')).toEqual([typingEvent('alice', 'start')]);
    expect(test.ports.publisher.records).toEqual([]);
  });

  it('forwards one start per member every interval, and the next one after it', async () => {
    const test = await groupOnline();

    await test.type('alice', 'start');
    test.advance(GROUP_TYPING_INTERVAL_MS - 1);
    await test.type('alice', 'start');
    test.advance(1);
    await test.type('alice', 'start');

    expect(test.ports.pusher.framesTo('conn-bob-phone')).toEqual([
      typingEvent('alice', 'start'),
      typingEvent('alice', 'start'),
    ]);
  });

  it('always forwards stop, even right after a start', async () => {
    const test = await groupOnline();

    await test.type('alice', 'start');
    await test.type('alice', 'stop');
    await test.type('alice', 'stop');

    expect(test.ports.pusher.framesTo('conn-bob-phone')).toEqual([
      typingEvent('alice', 'start'),
      typingEvent('alice', 'stop'),
      typingEvent('alice', 'stop'),
    ]);
  });

  it('holds back one member’s start without holding back another’s', async () => {
    const test = await groupOnline();

    await test.type('alice', 'start');
    await test.type('bob', 'start');

    expect(test.ports.pusher.framesTo('conn-carol-phone')).toEqual([
      typingEvent('alice', 'start'),
      typingEvent('bob', 'start'),
    ]);
  });

  it('holds back a start received by another Lambda instance within the interval', async () => {
    const test = await groupOnline();
    const other = createInMemoryTestDeps({ ports: test.ports });

    await test.type('alice', 'start');
    await invoke(createTypingHandler(other.provider), frameFrom('alice', typingFrame('start')));

    expect(test.ports.pusher.framesTo('conn-bob-phone')).toHaveLength(1);
  });

  it('deletes a device gone (410) and takes it out of the group’s index, and still reaches the others', async () => {
    const test = await groupOnline();
    test.ports.pusher.close('conn-carol-laptop');

    await test.type('alice', 'stop');

    expect(test.postedTo()).toEqual(['conn-bob-phone', 'conn-carol-phone']);
    expect((await test.ports.connections.listConnections('carol')).map((c) => c.connectionId)).toEqual([
      'conn-carol-phone',
    ]);
    expect(
      (await test.ports.groupConnections.listGroupConnections(GROUP)).map((c) => c.connectionId),
    ).not.toContain('conn-carol-laptop');
    expect(test.metrics.values('GoneConnections')).toEqual([1]);
  });

  it('keeps a device that answers 410 while it is still opening', async () => {
    const test = await groupOnline();
    const opening = device('bob', 'tablet', NOW - 1000);
    await test.ports.connections.putConnection(opening);
    await test.ports.groupConnections.addConnections(GROUP, [opening]);
    test.ports.pusher.close(opening.connectionId);

    await test.type('alice', 'stop');

    expect(
      (await test.ports.groupConnections.listGroupConnections(GROUP)).map((c) => c.connectionId),
    ).toContain(opening.connectionId);
    expect(await test.ports.connections.listConnections('bob')).toHaveLength(2);
  });

  it('lets a throttled post go, keeping the device in the connections and the index', async () => {
    const test = await groupOnline();
    test.ports.pusher.throttle('conn-carol-laptop');

    const result = await test.type('alice', 'stop');

    expect(result.body).toBeUndefined();
    expect(test.postedTo()).toEqual(['conn-bob-phone', 'conn-carol-phone']);
    expect(await test.ports.connections.listConnections('carol')).toHaveLength(2);
    expect(
      (await test.ports.groupConnections.listGroupConnections(GROUP)).map((c) => c.connectionId),
    ).toContain('conn-carol-laptop');
    expect(test.metrics.values('GoneConnections')).toEqual([]);
  });

  it('answers internal when a post fails for another reason than 410', async () => {
    const test = await groupOnline();
    vi.spyOn(test.ports.pusher, 'post').mockRejectedValueOnce(new Error('LimitExceededException'));

    const result = await test.type('alice', 'stop');

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: null,
      code: 'internal',
      message: INTERNAL_ERROR_MESSAGE,
    });
  });
});

describe('typing in a group refused', () => {
  it.each([
    ['a user who was never a member', 'dave'],
    ['a former member', 'carol'],
  ])('refuses %s as forbidden, posts nothing but the answer and claims no start', async (_who, userId) => {
    const test = await groupOnline();
    await removeMember(test.ports, 'carol');
    const claimStart = vi.spyOn(test.ports.typingGate, 'claimStart');

    const result = await test.type(userId, 'start');

    expect(errorOf(result)).toMatchObject({
      code: 'forbidden',
      message: `conversationId: you are not a member of ${GROUP}`,
    });
    expect(test.ports.pusher.posts).toEqual([{ connectionId: CALLER_CONNECTION_ID, frame: result.body }]);
    expect(claimStart).not.toHaveBeenCalled();
  });
});
