/**
 * The presence of other users: the subscriptions of this client, sent again on every
 * connection since the server keeps them per connection, and the last presence known of
 * each user.
 */
import { PRESENCE_MAX_USERS, type PresenceFrame } from '@parley/protocol';
import type { ReconnectingConnection } from './connection.js';
import { type PresenceView, unknownPresence } from './views.js';

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
