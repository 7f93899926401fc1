/**
 * Connections and presence subscriptions in memory, with the contracts of their DynamoDB
 * adapters: a put replaces the item of the same key, items are listed in sort key order
 * (connection id), and an item past its `expiresAt` is left out of a listing though it is
 * still stored, as DynamoDB deletes expired items only eventually.
 */
import type {
  Connection,
  ConnectionStore,
  OpenConnectionOutcome,
  PresenceSubscription,
  PresenceSubscriptionStore,
} from '../../../lambdas/domain/ports.js';

/** Items keyed by a partition and a sort key, listed in sort key order. */
class PartitionedItems<Item> {
  readonly #partitions = new Map<string, Map<string, Item>>();

  put(partition: string, sortKey: string, item: Item): void {
    const items = this.#partitions.get(partition) ?? new Map<string, Item>();
    this.#partitions.set(partition, items);
    items.set(sortKey, structuredClone(item));
  }

  delete(partition: string, sortKey: string): void {
    this.#partitions.get(partition)?.delete(sortKey);
  }

  list(partition: string): Item[] {
    return [...(this.#partitions.get(partition) ?? new Map<string, Item>())]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, item]) => structuredClone(item));
  }
}

const secondsOf = (now: () => number) => Math.floor(now() / 1000);

export class InMemoryConnectionStore implements ConnectionStore {
  readonly #items = new PartitionedItems<Connection>();
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  async putConnection(connection: Connection): Promise<void> {
    this.#items.put(connection.userId, connection.connectionId, connection);
  }

  /** Counts and writes with no await between them: atomic, as the DynamoDB adapter's transaction is. */
  async openConnection(connection: Connection, maxPerUser: number): Promise<OpenConnectionOutcome> {
    // No await before the write: another handshake cannot count in between.
    const now = secondsOf(this.#now);
    const live = this.#items.list(connection.userId).filter((other) => other.expiresAt > now);
    const replaced = live.filter(
      (other) => other.deviceId === connection.deviceId && other.connectionId !== connection.connectionId,
    );
    const open = live.filter(
      (other) => !replaced.includes(other) && other.connectionId !== connection.connectionId,
    );
    if (open.length >= maxPerUser) return { status: 'full', open: open.length };
    for (const older of replaced) this.#items.delete(older.userId, older.connectionId);
    this.#items.put(connection.userId, connection.connectionId, connection);
    return { status: 'opened', replaced };
  }

  async deleteConnection(userId: string, connectionId: string): Promise<void> {
    this.#items.delete(userId, connectionId);
  }

  async listConnections(userId: string): Promise<Connection[]> {
    const now = secondsOf(this.#now);
    return this.#items.list(userId).filter((connection) => connection.expiresAt > now);
  }

  /** Every item of the user, expired ones included: what the table holds. */
  stored(userId: string): Connection[] {
    return this.#items.list(userId);
  }
}

export class InMemoryPresenceSubscriptionStore implements PresenceSubscriptionStore {
  readonly #items = new PartitionedItems<PresenceSubscription>();
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  async subscribe(subscriptions: PresenceSubscription[]): Promise<void> {
    for (const subscription of subscriptions) {
      this.#items.put(subscription.watchedUserId, subscription.connectionId, subscription);
    }
  }

  async listSubscribers(watchedUserId: string): Promise<PresenceSubscription[]> {
    const now = secondsOf(this.#now);
    return this.#items.list(watchedUserId).filter((subscription) => subscription.expiresAt > now);
  }

  async unsubscribe(watchedUserId: string, connectionId: string): Promise<void> {
    this.#items.delete(watchedUserId, connectionId);
  }

  async unsubscribeUser(watchedUserId: string, subscriberUserId: string): Promise<void> {
    for (const subscription of this.#items.list(watchedUserId)) {
      if (subscription.subscriberUserId === subscriberUserId) {
        this.#items.delete(watchedUserId, subscription.connectionId);
      }
    }
  }

  /** Every subscription to the user, expired ones included: what the table holds. */
  stored(watchedUserId: string): PresenceSubscription[] {
    return this.#items.list(watchedUserId);
  }
}
