/**
 * The users this user blocks (protocol 1.3): blocking and unblocking, the list read from
 * the server, and the `blocked` and `unblocked` events another device of the same user
 * causes. Once the app has read the list, it is read again on every new connection, so a
 * device that was away when a block changed converges.
 */
import type { BlockedFrame, BlocksPageFrame, UnblockedFrame } from '@parley/protocol';
import type { ReconnectingConnection } from './connection.js';

/** A block made or taken back, on this device or another of the same user. */
export interface BlockChange {
  userId: string;
  blocked: boolean;
}

/** What the blocks need of the client. */
export interface BlocksOptions {
  connection: Pick<ReconnectingConnection, 'request'>;
  /** A user was blocked or unblocked (the list changed). */
  changed: (change: BlockChange) => void;
}

/**
 * The blocked users this device knows of.
 *
 * @example
 * await blocks.block('mallory');
 * blocks.has('mallory'); // true
 */
export class Blocks {
  readonly #options: BlocksOptions;
  readonly #blocked = new Set<string>();
  /** True once the list was read: from then on it is read again on every connection. */
  #tracking = false;

  constructor(options: BlocksOptions) {
    this.#options = options;
  }

  async block(userId: string): Promise<void> {
    const answer = await this.#options.connection.request<BlockedFrame>({ action: 'block', userId });
    this.apply(answer);
  }

  async unblock(userId: string): Promise<void> {
    const answer = await this.#options.connection.request<UnblockedFrame>({ action: 'unblock', userId });
    this.apply(answer);
  }

  /** Reads every page of the list from the server and keeps it. */
  async list(): Promise<string[]> {
    const userIds: string[] = [];
    let page: BlocksPageFrame | undefined;
    do {
      const after = userIds.at(-1);
      page = await this.#options.connection.request<BlocksPageFrame>({
        action: 'blocks',
        ...(after ? { after } : {}),
      });
      userIds.push(...page.userIds);
    } while (page.hasMore && page.userIds.length > 0);
    this.#tracking = true;
    const now = new Set(userIds);
    for (const userId of [...this.#blocked]) if (!now.has(userId)) this.apply({ type: 'unblocked', userId });
    for (const userId of userIds) if (!this.#blocked.has(userId)) this.apply({ type: 'blocked', userId });
    return userIds;
  }

  /** For a new connection: reads the list again if the app reads it at all. */
  async refresh(): Promise<void> {
    if (this.#tracking) await this.list();
  }

  /** Takes in a `blocked` or `unblocked` frame, an answer or another device's event. */
  apply(frame: BlockedFrame | UnblockedFrame): void {
    const blocked = frame.type === 'blocked';
    if (blocked === this.#blocked.has(frame.userId)) return;
    if (blocked) this.#blocked.add(frame.userId);
    else this.#blocked.delete(frame.userId);
    this.#options.changed({ userId: frame.userId, blocked });
  }

  has(userId: string): boolean {
    return this.#blocked.has(userId);
  }
}
