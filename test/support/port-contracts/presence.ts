/** The contracts of the connection store, the presence store and the presence subscription store. */

import { expect, it } from 'vitest';
import type { Connection, PresenceSubscription } from '../../../lambdas/domain/ports.js';
import { NOW, NOW_SECONDS, type PortFactories, uniqueId } from './common.js';

export const connection = (userId: string, connectionId: string, expiresAt: number): Connection => ({
  userId,
  connectionId,
  deviceId: `device-${connectionId}`,
  connectedAt: NOW - 60_000,
  expiresAt,
});

export function describeConnectionStore(factories: PortFactories): void {
  it('lists a user’s live connections in connection id order, leaving out those expired but not yet deleted', async () => {
    const connections = factories.connections(() => NOW);
    const [userId, otherUser] = [uniqueId('u'), uniqueId('u')];
    await connections.putConnection(connection(userId, 'c-live', NOW_SECONDS + 600));
    await connections.putConnection(connection(userId, 'b-expiring-now', NOW_SECONDS));
    await connections.putConnection(connection(userId, 'a-live', NOW_SECONDS + 1));
    await connections.putConnection(connection(userId, 'd-dead', NOW_SECONDS - 1));
    await connections.putConnection(connection(otherUser, 'e-other', NOW_SECONDS + 600));

    expect(await connections.listConnections(userId)).toEqual([
      connection(userId, 'a-live', NOW_SECONDS + 1),
      connection(userId, 'c-live', NOW_SECONDS + 600),
    ]);
    expect(await connections.listConnections(uniqueId('u'))).toEqual([]);
  });

  it('replaces a connection put again, and forgets a deleted one', async () => {
    const connections = factories.connections(() => NOW);
    const userId = uniqueId('u');
    await connections.putConnection(connection(userId, 'a', NOW_SECONDS + 10));
    await connections.putConnection(connection(userId, 'b', NOW_SECONDS + 10));

    await connections.putConnection({ ...connection(userId, 'a', NOW_SECONDS + 20), deviceId: 'laptop' });
    await connections.deleteConnection(userId, 'b');
    await connections.deleteConnection(userId, 'never-there');

    expect(await connections.listConnections(userId)).toEqual([
      { ...connection(userId, 'a', NOW_SECONDS + 20), deviceId: 'laptop' },
    ]);
  });
}

export function describePresenceStore(factories: PortFactories): void {
  it('knows nothing of a user who never connected, and will not mark one offline', async () => {
    const presence = factories.presence();
    const userId = uniqueId('u');

    expect(await presence.get(userId)).toBeUndefined();
    expect(await presence.getMany([userId])).toEqual([]);
    expect(await presence.markOffline(userId, 0, NOW)).toBe(false);
    expect(await presence.get(userId)).toBeUndefined();
  });

  it('marks a user online with a version each connect bumps, and says whether it was online', async () => {
    const presence = factories.presence();
    const userId = uniqueId('u');

    const first = await presence.markOnline(userId, NOW, NOW_SECONDS + 600);
    const second = await presence.markOnline(userId, NOW + 5, NOW_SECONDS + 700);

    expect(first).toEqual({ wasOnline: false, version: 1 });
    expect(second).toEqual({ wasOnline: true, version: 2 });
    expect(await presence.get(userId)).toEqual({
      userId,
      online: true,
      lastSeen: null,
      lastActiveAt: NOW + 5,
      expiresAt: NOW_SECONDS + 700,
      version: 2,
    });
  });

  it('marks a user offline only at the version read, and keeps its lastSeen when it connects again', async () => {
    const presence = factories.presence();
    const userId = uniqueId('u');
    await presence.markOnline(userId, NOW, NOW_SECONDS + 600);
    await presence.markOnline(userId, NOW + 1, NOW_SECONDS + 600);

    const stale = await presence.markOffline(userId, 1, NOW + 2);
    const current = await presence.markOffline(userId, 2, NOW + 3);
    const again = await presence.markOffline(userId, 2, NOW + 4);
    const offline = await presence.get(userId);
    const back = await presence.markOnline(userId, NOW + 5, NOW_SECONDS + 900);

    expect([stale, current, again]).toEqual([false, true, false]);
    expect(offline).toEqual({
      userId,
      online: false,
      lastSeen: NOW + 3,
      lastActiveAt: NOW + 1,
      expiresAt: 0,
      version: 2,
    });
    expect(back).toEqual({ wasOnline: false, version: 3 });
    expect(await presence.get(userId)).toEqual({
      userId,
      online: true,
      lastSeen: NOW + 3,
      lastActiveAt: NOW + 5,
      expiresAt: NOW_SECONDS + 900,
      version: 3,
    });
  });

  it('does not count a record online past its expiry as online when the user connects again', async () => {
    const presence = factories.presence();
    const userId = uniqueId('u');
    await presence.markOnline(userId, NOW, NOW_SECONDS + 10);

    const atExpiry = await presence.markOnline(userId, (NOW_SECONDS + 10) * 1000, NOW_SECONDS + 700);

    expect(atExpiry).toEqual({ wasOnline: false, version: 2 });
  });

  it('refuses to read the same user twice in one call, as BatchGetItem refuses duplicate keys', async () => {
    const presence = factories.presence();
    const userId = uniqueId('u');
    await presence.markOnline(userId, NOW, NOW_SECONDS + 600);

    await expect(presence.getMany([userId, userId])).rejects.toThrow();
  });

  it('reads many users at once, past the hundred keys of one batch, leaving out those it does not know', async () => {
    const presence = factories.presence();
    const known = Array.from({ length: 101 }, (_, index) => uniqueId(`u${index}-`));
    for (const userId of known) await presence.markOnline(userId, NOW, NOW_SECONDS + 600);

    const records = await presence.getMany([...known, uniqueId('stranger')]);

    expect(records.map((record) => record.userId).sort()).toEqual([...known].sort());
    expect(records.every((record) => record.online && record.version === 1)).toBe(true);
  });
}

const subscription = (
  watchedUserId: string,
  connectionId: string,
  expiresAt: number,
): PresenceSubscription => ({
  watchedUserId,
  connectionId,
  subscriberUserId: `subscriber-${connectionId}`,
  expiresAt,
});

export function describePresenceSubscriptionStore(factories: PortFactories): void {
  it('lists the live subscriptions to a user in connection id order, past the 25 writes of one batch', async () => {
    const subscriptions = factories.presenceSubscriptions(() => NOW);
    const [watched, other] = [uniqueId('u'), uniqueId('u')];
    const live = Array.from({ length: 30 }, (_, index) =>
      subscription(watched, `c${String(index).padStart(2, '0')}`, NOW_SECONDS + 1),
    );

    await subscriptions.subscribe([
      ...[...live].reverse(),
      subscription(watched, 'x-expiring-now', NOW_SECONDS),
      subscription(other, 'y', NOW_SECONDS + 600),
    ]);

    expect(await subscriptions.listSubscribers(watched)).toEqual(live);
    expect(await subscriptions.listSubscribers(uniqueId('u'))).toEqual([]);
  });

  it('replaces a subscription made again, and forgets one unsubscribed', async () => {
    const subscriptions = factories.presenceSubscriptions(() => NOW);
    const watched = uniqueId('u');
    await subscriptions.subscribe([
      subscription(watched, 'a', NOW_SECONDS + 10),
      subscription(watched, 'b', NOW_SECONDS + 10),
    ]);
    await subscriptions.subscribe([]);

    await subscriptions.subscribe([subscription(watched, 'a', NOW_SECONDS + 99)]);
    await subscriptions.unsubscribe(watched, 'b');
    await subscriptions.unsubscribe(watched, 'never-there');

    expect(await subscriptions.listSubscribers(watched)).toEqual([
      subscription(watched, 'a', NOW_SECONDS + 99),
    ]);
  });
}
