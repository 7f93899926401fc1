/**
 * The presence of other users: the subscriptions of this client, sent again on every
 * connection since the server keeps them per connection, and the last presence known of
 * each user.
 */
import { PRESENCE_MAX_USERS, type PresenceFrame } from '@parley/protocol';
import type { ReconnectingConnection } from './connection.js';
import { type PresenceView, unknownPresence } from './views.js';

/**
 * How long after a first message its consent is recorded: the stream consumer's
 * usual delay is well under a second (docs/capacity.md §9).
 */
export const CONSENT_SETTLE_MS = 2_000;

/** What presence needs of the client. */
export interface PresenceOptions {
  connection: Pick<ReconnectingConnection, 'request' | 'isOpen'>;
  /** Presence changed for these users. */
  changed: (users: PresenceView[]) => void;
}

/**
 * The presence subscriptions and what they brought.
 *
 * @example
 * const [bob] = await presence.subscribe(['bob']);
 * connection.on('open', () => void presence.resubscribe());
 */
export class Presence {
  readonly #options: PresenceOptions;
  readonly #known = new Map<string, PresenceView>();
  readonly #subscriptions = new Set<string>();
  /** Users asked again after a message of theirs, so that a burst of messages asks once. */
  readonly #asking = new Set<string>();
  readonly #retries = new Set<ReturnType<typeof setTimeout>>();

  constructor(options: PresenceOptions) {
    this.#options = options;
  }

  /** Subscribes now if connected, else on the next open; resolves with what is known. */
  async subscribe(userIds: string[]): Promise<PresenceView[]> {
    for (const userId of userIds) this.#subscriptions.add(userId);
    const { connection } = this.#options;
    if (!connection.isOpen) return userIds.map((userId) => this.get(userId) ?? unknownPresence(userId));
    const answer = await connection.request<PresenceFrame>({ action: 'subscribePresence', userIds });
    this.apply(answer.users);
    return answer.users;
  }

  /** Sends every subscription again, a frame per `PRESENCE_MAX_USERS` users: for a new connection. */
  async resubscribe(): Promise<void> {
    const watched = [...this.#subscriptions];
    for (let start = 0; start < watched.length; start += PRESENCE_MAX_USERS) {
      const userIds = watched.slice(start, start + PRESENCE_MAX_USERS);
      const answer = await this.#options.connection.request<PresenceFrame>({
        action: 'subscribePresence',
        userIds,
      });
      this.apply(answer.users);
    }
  }

  /**
   * A message from `userId` in a one-to-one conversation. A user's presence shows only to
   * those it has written to (protocol 1.3), and no `presence` event says when that starts:
   * one that read as a stranger's is asked for again. The server records the consent when
   * the message reaches its stream consumer, which may be after the message reached this
   * device, so a still hidden answer is asked again once, `CONSENT_SETTLE_MS` later.
   */
  heardFrom(userId: string): void {
    if (this.#shown(userId) || !this.#subscriptions.has(userId) || this.#asking.has(userId)) return;
    if (!this.#options.connection.isOpen) return;
    this.#asking.add(userId);
    void this.#askAgain(userId, 1);
  }

  /** Stops a pending ask: the client is closing. */
  close(): void {
    for (const timer of this.#retries) clearTimeout(timer);
    this.#retries.clear();
  }

  async #askAgain(userId: string, retriesLeft: number): Promise<void> {
    try {
      const answer = await this.#options.connection.request<PresenceFrame>({
        action: 'subscribePresence',
        userIds: [userId],
      });
      this.apply(answer.users);
      if (!this.#shown(userId) && retriesLeft > 0) {
        const timer = setTimeout(() => {
          this.#retries.delete(timer);
          void this.#askAgain(userId, retriesLeft - 1);
        }, CONSENT_SETTLE_MS);
        this.#retries.add(timer);
        return;
      }
    } catch {
      // Offline again: the next open resubscribes every user anyway.
    }
    this.#asking.delete(userId);
  }

  #shown(userId: string): boolean {
    const known = this.#known.get(userId);
    return known !== undefined && (known.online || known.lastSeen !== null);
  }

  /** Takes in a `presence` frame. */
  apply(users: PresenceView[]): void {
    for (const user of users) this.#known.set(user.userId, user);
    this.#options.changed(users);
  }

  /** The last presence known of the user. */
  get(userId: string): PresenceView | undefined {
    return this.#known.get(userId);
  }
}
