/**
 * Presence, through its domain functions and handlers on the in-memory ports. What the
 * DynamoDB presence stores ask of DynamoDB is in `dynamodb-presence-stores.test.ts`.
 */
import { directConversationId, ID_RULE_MESSAGE, type PresenceFrame } from '@parley/protocol';
import { describe, expect, it, vi } from 'vitest';
import { applyToEntry } from '../../lambdas/domain/conversation-list.js';
import { INTERNAL_ERROR_MESSAGE } from '../../lambdas/domain/errors.js';
import type { PresenceRecord } from '../../lambdas/domain/ports.js';
import { presenceView, recordConnect, recordDisconnect } from '../../lambdas/domain/presence.js';
import { createPresenceNotifierHandler } from '../../lambdas/handlers/presence-notifier.js';
import { createSubscribePresenceHandler } from '../../lambdas/handlers/subscribe-presence.js';
import { presenceDeps } from '../../lambdas/runtime.js';
import {
  createInMemoryPorts,
  InMemoryConnectionPusher,
  type InMemoryPorts,
} from '../support/in-memory/index.js';
import {
  answerOf,
  createInMemoryTestDeps,
  errorOf,
  invoke,
  kinesisEvent,
  kinesisEventOf,
  lambdaContext,
  messageEvent,
  NOW,
  presenceStreamEvent,
} from './support/harness.js';

const NOW_SECONDS = Math.floor(NOW / 1000);
const CONNECTION_ID = 'Jyw1ZebpoAMCKZQ=';

const record = (userId: string, fields: Partial<PresenceRecord> = {}): PresenceRecord => ({
  userId,
  online: true,
  lastSeen: null,
  lastActiveAt: NOW - 60_000,
  expiresAt: NOW_SECONDS + 3600,
  version: 1,
  ...fields,
});
const presenceChanged = (userId: string) => ({
  partitionKey: `presence:${userId}`,
  event: { type: 'presence-changed', userId },
});

/**
 * In-memory ports holding the users who wrote to alice (their list entry of the one-to-one
 * conversation, as the fanout writes it), the blocks, the presence records and the
 * subscriptions, and spies on the calls presence makes (which still reach the ports unless
 * a test says otherwise).
 */
async function tables(
  content: {
    wroteToAlice?: string[];
    blocks?: Array<{ blockerId: string; blockedId: string }>;
    presence?: PresenceRecord[];
    subscriptions?: Record<string, Array<{ connectionId: string; subscriberUserId: string }>>;
  } = {},
) {
  const ports = createInMemoryPorts({ now: () => NOW });
  for (const writer of content.wroteToAlice ?? []) await write(ports, writer, 'alice');
  for (const block of content.blocks ?? []) await ports.privacy.block(block, NOW);
  for (const presence of content.presence ?? []) ports.presence.put(presence);
  for (const [watchedUserId, subscriptions] of Object.entries(content.subscriptions ?? {})) {
    await ports.presenceSubscriptions.subscribe(
      subscriptions.map((subscription) => ({ watchedUserId, ...subscription, expiresAt: NOW_SECONDS + 600 })),
    );
  }
  const calls = {
    presenceVisibleTo: vi.spyOn(ports.privacy, 'presenceVisibleTo'),
    findBlocks: vi.spyOn(ports.privacy, 'findBlocks'),
    get: vi.spyOn(ports.presence, 'get'),
    getMany: vi.spyOn(ports.presence, 'getMany'),
    markOnline: vi.spyOn(ports.presence, 'markOnline'),
    markOffline: vi.spyOn(ports.presence, 'markOffline'),
    listConnections: vi.spyOn(ports.connections, 'listConnections'),
    subscribe: vi.spyOn(ports.presenceSubscriptions, 'subscribe'),
    listSubscribers: vi.spyOn(ports.presenceSubscriptions, 'listSubscribers'),
    unsubscribe: vi.spyOn(ports.presenceSubscriptions, 'unsubscribe'),
    publish: vi.spyOn(ports.publisher, 'publish'),
    post: vi.spyOn(ports.pusher, 'post'),
  };
  return { ports, calls };
}

/** `from` sends `to` a message, as the fanout then writes `from`'s list entry. */
async function write(ports: InMemoryPorts, from: string, to: string) {
  const conversationId = directConversationId(from, to);
  const message = {
    type: 'message' as const,
    conversationId,
    seq: 1,
    messageId: `m-${from}`,
    clientMessageId: `c-${from}`,
    senderId: from,
    senderDeviceId: 'phone',
    body: 'hi',
    serverTs: NOW,
  };
  await ports.conversationList.update(from, conversationId, (current) =>
    applyToEntry(conversationId, current, [message], from),
  );
}

type Calls = Awaited<ReturnType<typeof tables>>['calls'];

function expectUntouched(calls: Calls) {
  for (const spy of Object.values(calls)) expect(spy).not.toHaveBeenCalled();
}

const watchedOf = (calls: Calls) =>
  calls.subscribe.mock.calls.flatMap(([subscriptions]) => subscriptions.map((s) => s.watchedUserId));

describe('what a reader sees of a presence record', () => {
  it('shows a user without a record as offline and never seen', () => {
    expect(presenceView('bob', undefined, NOW)).toEqual({ userId: 'bob', online: false, lastSeen: null });
  });

  it('shows an online record before its expiry as online', () => {
    expect(presenceView('bob', record('bob'), NOW)).toEqual({ userId: 'bob', online: true, lastSeen: null });
  });

  it.each([
    ['at', NOW_SECONDS],
    ['past', NOW_SECONDS - 1],
  ])('shows an online record %s its expiry as offline since it last connected', (_case, expiresAt) => {
    expect(presenceView('bob', record('bob', { expiresAt }), NOW)).toEqual({
      userId: 'bob',
      online: false,
      lastSeen: NOW - 60_000,
    });
  });

  it('shows an offline record with its lastSeen', () => {
    const offline = record('bob', { online: false, lastSeen: NOW - 5000, expiresAt: 0 });

    expect(presenceView('bob', offline, NOW)).toEqual({ userId: 'bob', online: false, lastSeen: NOW - 5000 });
  });
});

describe('recording connects and disconnects', () => {
  const deps = (ports: InMemoryPorts) => presenceDeps(createInMemoryTestDeps({ ports }).deps);

  it.each([
    ['was offline', [record('alice', { online: false, lastSeen: NOW - 9000, expiresAt: 0 })]],
    ['was never seen', []],
    ['was online on a record past its expiry', [record('alice', { expiresAt: NOW_SECONDS - 1 })]],
  ])('publishes that a user who %s came online', async (_case, presence) => {
    const { ports } = await tables({ presence });

    await recordConnect(deps(ports), 'alice');

    expect(ports.publisher.records).toEqual([presenceChanged('alice')]);
  });

  it('publishes nothing when another device of the user is already online', async () => {
    const { ports, calls } = await tables({ presence: [record('alice')] });

    await recordConnect(deps(ports), 'alice');

    expect(calls.markOnline).toHaveBeenCalledTimes(1);
    expect(calls.publish).not.toHaveBeenCalled();
  });

  it('lets a failed publish through, so that $connect fails and the client reconnects', async () => {
    const { ports, calls } = await tables();
    calls.publish.mockRejectedValue(new Error('ProvisionedThroughputExceededException'));

    await expect(recordConnect(deps(ports), 'alice')).rejects.toThrow(
      'ProvisionedThroughputExceededException',
    );
  });

  it('undoes the online mark when the publish failed, so the reconnect publishes again', async () => {
    const { ports, calls } = await tables({ presence: [record('alice', { online: false, version: 6 })] });
    calls.publish.mockRejectedValueOnce(new Error('InternalFailure'));

    await expect(recordConnect(deps(ports), 'alice')).rejects.toThrow('InternalFailure');

    expect(calls.markOffline.mock.calls).toEqual([['alice', 7, NOW]]);
    expect(await ports.presence.get('alice')).toMatchObject({ online: false, version: 7 });
    await recordConnect(deps(ports), 'alice');
    expect(ports.publisher.records).toEqual([presenceChanged('alice')]);
  });

  it('marks the user offline and publishes it when its last connection closed', async () => {
    const { ports, calls } = await tables({ presence: [record('alice', { version: 3 })] });

    await recordDisconnect(deps(ports), 'alice');

    expect(calls.markOffline.mock.calls).toEqual([['alice', 3, NOW]]);
    expect(await ports.presence.get('alice')).toMatchObject({ online: false, lastSeen: NOW });
    expect(ports.publisher.records).toEqual([presenceChanged('alice')]);
  });

  it('does nothing while another connection of the user is live', async () => {
    const { ports, calls } = await tables({ presence: [record('alice')] });
    await ports.connections.putConnection({
      userId: 'alice',
      connectionId: 'other',
      deviceId: 'laptop',
      connectedAt: NOW,
      expiresAt: NOW_SECONDS + 3600,
    });

    await recordDisconnect(deps(ports), 'alice');

    expect(calls.markOffline).not.toHaveBeenCalled();
    expect(calls.publish).not.toHaveBeenCalled();
  });

  it('publishes nothing when a connect came in between and the conditional update fails', async () => {
    const { ports, calls } = await tables({ presence: [record('alice', { version: 3 })] });
    // A device connects after the record was read: the version moves on.
    calls.listConnections.mockImplementationOnce(async () => {
      await ports.presence.markOnline('alice', NOW, NOW_SECONDS + 3600);
      return [];
    });

    await recordDisconnect(deps(ports), 'alice');

    expect(calls.markOffline).toHaveBeenCalledTimes(1);
    expect(await ports.presence.get('alice')).toMatchObject({ online: true, version: 4 });
    expect(calls.publish).not.toHaveBeenCalled();
  });

  it.each([
    ['is already offline', [record('alice', { online: false, lastSeen: NOW - 5000 })]],
    ['has no presence record', []],
  ])('does nothing for a user who %s', async (_case, presence) => {
    const { ports, calls } = await tables({ presence });

    await recordDisconnect(deps(ports), 'alice');

    expect(calls.get).toHaveBeenCalledTimes(1);
    expect(calls.listConnections).not.toHaveBeenCalled();
    expect(calls.markOffline).not.toHaveBeenCalled();
    expect(calls.publish).not.toHaveBeenCalled();
  });

  it('lets any other failure of the offline update through', async () => {
    const { ports, calls } = await tables({ presence: [record('alice')] });
    calls.markOffline.mockRejectedValue(new Error('InternalServerError'));

    await expect(recordDisconnect(deps(ports), 'alice')).rejects.toThrow('InternalServerError');
    expect(calls.publish).not.toHaveBeenCalled();
  });
});

describe('the subscribePresence handler', () => {
  const frame = (overrides: Record<string, unknown> = {}) => ({
    action: 'subscribePresence',
    requestId: 'r5',
    userIds: ['bob'],
    ...overrides,
  });

  async function subscribe(ports: InMemoryPorts, overrides: Record<string, unknown> = {}) {
    const { provider, deps } = createInMemoryTestDeps({ ports });
    const result = await invoke(createSubscribePresenceHandler(provider), messageEvent(frame(overrides)));
    return { result, deps };
  }

  it('answers the presence of users who wrote to the caller, and of the caller itself', async () => {
    const { ports } = await tables({
      wroteToAlice: ['bob', 'dave'],
      presence: [
        record('alice'),
        record('bob'),
        record('dave', { online: false, lastSeen: NOW - 5000, expiresAt: 0 }),
      ],
    });

    const { result } = await subscribe(ports, { userIds: ['bob', 'dave', 'alice'] });

    expect(result.statusCode).toBe(200);
    expect(answerOf<PresenceFrame>(result)).toEqual({
      type: 'presence',
      requestId: 'r5',
      users: [
        { userId: 'bob', online: true, lastSeen: null },
        { userId: 'dave', online: false, lastSeen: NOW - 5000 },
        { userId: 'alice', online: true, lastSeen: null },
      ],
    });
  });

  it('shows an online user whose record expired as offline since it last connected', async () => {
    const { ports } = await tables({
      wroteToAlice: ['bob'],
      presence: [record('bob', { expiresAt: NOW_SECONDS - 10 })],
    });

    const { result } = await subscribe(ports);

    expect(answerOf<PresenceFrame>(result).users).toEqual([
      { userId: 'bob', online: false, lastSeen: NOW - 60_000 },
    ]);
  });

  it('shows a user who wrote to the caller but was never seen online as offline and never seen', async () => {
    const { ports } = await tables({ wroteToAlice: ['bob'] });

    const { result } = await subscribe(ports);

    expect(answerOf<PresenceFrame>(result).users).toEqual([{ userId: 'bob', online: false, lastSeen: null }]);
  });

  it('shows strangers as offline and never seen, reads not their presence and subscribes to none of them', async () => {
    const { ports, calls } = await tables({
      wroteToAlice: ['bob'],
      presence: [record('bob'), record('carol'), record('erin')],
    });

    const { result } = await subscribe(ports, { userIds: ['carol', 'bob', 'erin'] });

    expect(answerOf<PresenceFrame>(result).users).toEqual([
      { userId: 'carol', online: false, lastSeen: null },
      { userId: 'bob', online: true, lastSeen: null },
      { userId: 'erin', online: false, lastSeen: null },
    ]);
    expect(calls.getMany.mock.calls).toEqual([[['bob']]]);
    expect(watchedOf(calls)).toEqual(['bob']);
  });

  it('hides a user the caller wrote to but who never wrote to the caller', async () => {
    const { ports, calls } = await tables({ presence: [record('carol')] });
    await write(ports, 'alice', 'carol');

    const { result } = await subscribe(ports, { userIds: ['carol'] });

    expect(answerOf<PresenceFrame>(result).users).toEqual([
      { userId: 'carol', online: false, lastSeen: null },
    ]);
    expect(calls.getMany.mock.calls).toEqual([[[]]]);
    expect(watchedOf(calls)).toEqual([]);
  });

  it('hides a user who wrote to the caller but blocks it, as a stranger', async () => {
    const { ports, calls } = await tables({
      wroteToAlice: ['bob'],
      blocks: [{ blockerId: 'bob', blockedId: 'alice' }],
      presence: [record('bob')],
    });

    const { result } = await subscribe(ports, { userIds: ['bob'] });

    expect(answerOf<PresenceFrame>(result).users).toEqual([{ userId: 'bob', online: false, lastSeen: null }]);
    expect(watchedOf(calls)).toEqual([]);
  });

  it('drops the subscription of a user whose block committed while it was written', async () => {
    const { ports, calls } = await tables({ wroteToAlice: ['bob'], presence: [record('bob')] });
    calls.subscribe.mockImplementationOnce(async (subscriptions) => {
      await ports.presenceSubscriptions.subscribe(subscriptions);
      await ports.privacy.block({ blockerId: 'bob', blockedId: 'alice' }, NOW);
    });

    const { result } = await subscribe(ports, { userIds: ['bob'] });

    expect(answerOf<PresenceFrame>(result).users).toEqual([{ userId: 'bob', online: false, lastSeen: null }]);
    expect(await ports.presenceSubscriptions.listSubscribers('bob')).toEqual([]);
  });

  it('subscribes the connection to each visible user until the connection expires', async () => {
    const { ports, calls } = await tables({ wroteToAlice: ['bob'] });

    const { deps } = await subscribe(ports, { userIds: ['bob', 'alice'] });

    const expiresAt = NOW_SECONDS + deps.config.connectionTtlSeconds;
    expect(calls.subscribe.mock.calls).toEqual([
      [
        [
          { watchedUserId: 'bob', connectionId: CONNECTION_ID, subscriberUserId: 'alice', expiresAt },
          { watchedUserId: 'alice', connectionId: CONNECTION_ID, subscriberUserId: 'alice', expiresAt },
        ],
      ],
    ]);
    expect(await ports.presenceSubscriptions.listSubscribers('bob')).toHaveLength(1);
  });

  it('answers and subscribes once for a user named twice', async () => {
    const { ports, calls } = await tables({ wroteToAlice: ['bob'], presence: [record('bob')] });

    const { result } = await subscribe(ports, { userIds: ['bob', 'carol', 'bob', 'carol'] });

    expect(answerOf<PresenceFrame>(result).users).toEqual([
      { userId: 'bob', online: true, lastSeen: null },
      { userId: 'carol', online: false, lastSeen: null },
    ]);
    expect(watchedOf(calls)).toEqual(['bob']);
    expect(calls.presenceVisibleTo.mock.calls).toEqual([['alice', ['bob', 'carol']]]);
  });

  it('subscribes to 100 users and reads their presence with one call each', async () => {
    const userIds = Array.from({ length: 100 }, (_, index) => `user${String(index).padStart(3, '0')}`);
    const { ports, calls } = await tables({ wroteToAlice: userIds });

    const { result } = await subscribe(ports, { userIds });

    expect(answerOf<PresenceFrame>(result).users).toHaveLength(100);
    expect(calls.subscribe).toHaveBeenCalledTimes(1);
    expect(watchedOf(calls)).toEqual(userIds);
    expect(calls.getMany).toHaveBeenCalledTimes(1);
  });

  it.each([
    ['the subscriptions cannot be written', 'subscribe'],
    ['the presence read fails', 'getMany'],
  ] as const)('answers internal when %s', async (_case, failing) => {
    const { ports, calls } = await tables({ wroteToAlice: ['bob'] });
    calls[failing].mockRejectedValue(new Error('InternalServerError'));

    const { result } = await subscribe(ports);

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'r5',
      code: 'internal',
      message: INTERNAL_ERROR_MESSAGE,
    });
  });

  it.each([
    { name: 'an empty list', frame: { userIds: [] }, message: 'userIds: must hold 1 to 100 user ids' },
    {
      name: 'a list of 101 users',
      frame: { userIds: Array.from({ length: 101 }, (_, index) => `u${index}`) },
      message: 'userIds: must hold 1 to 100 user ids',
    },
    {
      name: 'a single id instead of a list',
      frame: { userIds: 'bob' },
      message: 'userIds: must be a list of user ids',
    },
    { name: 'a missing list', frame: { userIds: undefined }, message: 'userIds: is required' },
    {
      name: 'a list holding something that is not a user id',
      frame: { userIds: ['bob', 'bo b'] },
      message: `userIds.1: ${ID_RULE_MESSAGE}`,
    },
    { name: 'an unknown field', frame: { users: ['bob'] }, message: 'users: is not a field of this action' },
  ])('refuses $name with bad_request and touches nothing', async ({ frame: overrides, message }) => {
    const { ports, calls } = await tables();

    const { result } = await subscribe(ports, overrides);

    expect(errorOf(result)).toEqual({ type: 'error', requestId: 'r5', code: 'bad_request', message });
    expectUntouched(calls);
  });
});

describe('the presence notifier', () => {
  const byConnection = (ports: InMemoryPorts) =>
    Object.fromEntries(
      ports.pusher.posts.map(({ connectionId, frame }) => [connectionId, JSON.parse(frame)]),
    );

  /** bob online and carol offline; alice's phone watches both, dave's tablet watches bob. */
  function watchedBobAndCarol() {
    return tables({
      presence: [record('bob'), record('carol', { online: false, lastSeen: NOW - 2000, expiresAt: 0 })],
      subscriptions: {
        bob: [
          { connectionId: 'conn-alice-phone', subscriberUserId: 'alice' },
          { connectionId: 'conn-dave-tablet', subscriberUserId: 'dave' },
        ],
        carol: [{ connectionId: 'conn-alice-phone', subscriberUserId: 'alice' }],
      },
    });
  }

  async function notify(ports: InMemoryPorts, batch = presenceStreamEvent()) {
    const { provider, metrics } = createInMemoryTestDeps({ ports });
    const outcome = createPresenceNotifierHandler(provider)(batch, lambdaContext);
    return { outcome, metrics };
  }

  /** Posts to `connectionId` fail with a throttle; the others go through. */
  function throttle(ports: InMemoryPorts, calls: Calls, connectionId: string) {
    // The pusher's own post: `ports.pusher.post` is the spy itself.
    const post = InMemoryConnectionPusher.prototype.post.bind(ports.pusher);
    calls.post.mockImplementation(async (id, frame) => {
      if (id === connectionId) throw new Error('LimitExceededException');
      return post(id, frame);
    });
  }

  it('sends each subscribed connection one frame holding every changed user it watches', async () => {
    const { ports } = await watchedBobAndCarol();

    await (await notify(ports)).outcome;

    expect(ports.pusher.posts).toHaveLength(2);
    expect(byConnection(ports)).toEqual({
      'conn-alice-phone': {
        type: 'presence',
        users: [
          { userId: 'bob', online: true, lastSeen: null },
          { userId: 'carol', online: false, lastSeen: NOW - 2000 },
        ],
      },
      'conn-dave-tablet': { type: 'presence', users: [{ userId: 'bob', online: true, lastSeen: null }] },
    });
  });

  it('reads each changed user’s presence once and its live subscribers once', async () => {
    const { ports, calls } = await watchedBobAndCarol();

    await (await notify(ports)).outcome;

    expect(calls.getMany.mock.calls).toEqual([[['bob', 'carol']]]);
    expect(calls.listSubscribers.mock.calls).toEqual([['bob'], ['carol']]);
  });

  it('sends the state at the time of sending: an expired online record as offline', async () => {
    const { ports } = await tables({
      presence: [record('bob', { expiresAt: NOW_SECONDS - 1 })],
      subscriptions: { bob: [{ connectionId: 'conn-alice-phone', subscriberUserId: 'alice' }] },
    });

    await (await notify(ports, kinesisEventOf([{ type: 'presence-changed', userId: 'bob' }]))).outcome;

    expect(byConnection(ports)).toEqual({
      'conn-alice-phone': {
        type: 'presence',
        users: [{ userId: 'bob', online: false, lastSeen: NOW - 60_000 }],
      },
    });
  });

  it('unsubscribes a connection that answers 410 Gone from every user it watched', async () => {
    const { ports, calls } = await watchedBobAndCarol();
    ports.pusher.close('conn-alice-phone');

    await (await notify(ports)).outcome;

    expect(calls.unsubscribe.mock.calls).toEqual([
      ['bob', 'conn-alice-phone'],
      ['carol', 'conn-alice-phone'],
    ]);
    expect(ports.presenceSubscriptions.stored('bob').map((s) => s.connectionId)).toEqual([
      'conn-dave-tablet',
    ]);
    expect(ports.presenceSubscriptions.stored('carol')).toEqual([]);
    expect(ports.pusher.posts.map((post) => post.connectionId)).toContain('conn-dave-tablet');
  });

  it('counts a connection that answered 410 Gone', async () => {
    const { ports } = await watchedBobAndCarol();
    ports.pusher.close('conn-alice-phone');

    const { outcome, metrics } = await notify(ports);
    await outcome;

    expect(metrics.values('GoneConnections')).toEqual([1]);
  });

  it('publishes the metrics of a batch that fails', async () => {
    const { ports, calls } = await watchedBobAndCarol();
    ports.pusher.close('conn-alice-phone');
    throttle(ports, calls, 'conn-dave-tablet');
    const { provider, metrics } = createInMemoryTestDeps({ ports });
    const flush = vi.spyOn(metrics, 'flush');

    await expect(
      createPresenceNotifierHandler(provider)(presenceStreamEvent(), lambdaContext),
    ).rejects.toThrow('presence posts failed');

    expect(flush).toHaveBeenCalledTimes(1);
    expect(metrics.values('GoneConnections')).toEqual([1]);
  });

  it('fails the batch when a post fails, after trying every connection', async () => {
    const { ports, calls } = await watchedBobAndCarol();
    throttle(ports, calls, 'conn-alice-phone');

    await expect((await notify(ports)).outcome).rejects.toThrow('presence posts failed');
    expect(calls.post).toHaveBeenCalledTimes(2);
  });

  it('fails the batch when unsubscribing a gone connection fails', async () => {
    const { ports, calls } = await watchedBobAndCarol();
    ports.pusher.close('conn-alice-phone', 'conn-dave-tablet');
    calls.unsubscribe.mockRejectedValue(new Error('InternalServerError'));

    await expect((await notify(ports)).outcome).rejects.toThrow('presence posts failed');
  });

  it('posts nothing for users nobody watches', async () => {
    const { ports, calls } = await tables({ presence: [record('bob')] });

    await (await notify(ports)).outcome;

    expect(calls.post).not.toHaveBeenCalled();
  });

  it('ignores records that are not presence changes', async () => {
    const { ports, calls } = await tables();

    await (await notify(ports, kinesisEvent())).outcome;

    expectUntouched(calls);
  });

  it('handles the presence changes of a mixed batch and skips the rest', async () => {
    const { ports } = await watchedBobAndCarol();
    const batch = kinesisEventOf([
      { data: Buffer.from('{"type":"presence-changed",').toString('base64'), partitionKey: 'presence:x' },
      {
        data: Buffer.from('{"type":"presence-changed","userId":7}').toString('base64'),
        partitionKey: 'presence:x',
      },
      { data: Buffer.from('null').toString('base64'), partitionKey: 'presence:x' },
      {
        type: 'receipt',
        conversationId: 'dm:alice:bob',
        userId: 'bob',
        kind: 'read',
        seq: 1,
      },
      { type: 'presence-changed', userId: 'carol' },
    ]);

    await (await notify(ports, batch)).outcome;

    expect(byConnection(ports)).toEqual({
      'conn-alice-phone': {
        type: 'presence',
        users: [{ userId: 'carol', online: false, lastSeen: NOW - 2000 }],
      },
    });
  });
});
