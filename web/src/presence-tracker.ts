/**
 * Who is online among the peers. The server shows presence only between users who share a
 * conversation with a message in it: each such peer is subscribed once, and the client
 * subscribes them again after each reconnect.
 */
import { PRESENCE_MAX_USERS } from '@parley/protocol';
import { ConnectionState, type ParleyClient, type PresenceView } from '@parley/sdk';

export class PresenceTracker {
  private readonly presence = new Map<string, PresenceView>();
  private readonly subscribed = new Set<string>();

  /** `onChange` is called when presence arrives in answer to a subscription. */
  constructor(
    private readonly client: ParleyClient,
    private readonly me: string,
    private readonly onChange: () => void,
  ) {}

  presenceOf(userId: string): PresenceView | undefined {
    // Offline, what we knew may be stale: show nothing rather than a wrong "online".
    if (this.client.state !== ConnectionState.Open) return undefined;
    return this.client.presenceOf(userId) ?? this.presence.get(userId);
  }

  /** Keeps presence pushed by the server. */
  remember(users: readonly PresenceView[]): void {
    for (const user of users) this.presence.set(user.userId, user);
  }

  /** Subscribes the peers of conversations with a message that are not subscribed yet. */
  subscribePeers(): void {
    const { client } = this;
    if (client.state !== ConnectionState.Open) return;
    const peers = client
      .conversations()
      // Presence is not shared through groups: only one-to-one peers.
      .filter(
        (c) => c.kind !== 'group' && c.lastSeq > 0 && !this.subscribed.has(c.peerId) && c.peerId !== this.me,
      )
      .map((c) => c.peerId);
    for (let start = 0; start < peers.length; start += PRESENCE_MAX_USERS) {
      this.subscribeBatch(peers.slice(start, start + PRESENCE_MAX_USERS));
    }
  }

  private subscribeBatch(batch: string[]): void {
    for (const peer of batch) this.subscribed.add(peer);
    this.client.subscribePresence(batch).then(
      (users) => {
        this.remember(users);
        this.onChange();
      },
      () => {
        // Offline again, or refused: try again at the next open.
        for (const peer of batch) this.subscribed.delete(peer);
      },
    );
  }
}
