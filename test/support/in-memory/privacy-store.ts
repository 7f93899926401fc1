/**
 * Blocks and presence consent in memory, with the contract of `DynamoDbPrivacyStore`: a
 * block is kept per blocker and listed in user id order; consent is the `wroteAt` of the
 * watched user's entry of its one-to-one conversation, read from the conversation list.
 */
import { directConversationId } from '@parley/protocol';
import type { BlockPair, PrivacyStore } from '../../../lambdas/domain/ports.js';
import type { InMemoryConversationListStore } from './conversation-list-store.js';

export class InMemoryPrivacyStore implements PrivacyStore {
  readonly #blocks = new Map<string, Map<string, number>>();
  readonly #lists: InMemoryConversationListStore;

  constructor(lists: InMemoryConversationListStore) {
    this.#lists = lists;
  }

  async block({ blockerId, blockedId }: BlockPair, at: number): Promise<boolean> {
    const blocked = this.#blocks.get(blockerId) ?? new Map<string, number>();
    this.#blocks.set(blockerId, blocked);
    const isNew = !blocked.has(blockedId);
    blocked.set(blockedId, at);
    return isNew;
  }

  async unblock({ blockerId, blockedId }: BlockPair): Promise<boolean> {
    return this.#blocks.get(blockerId)?.delete(blockedId) ?? false;
  }

  async listBlocked(
    blockerId: string,
    after: string | undefined,
    limit: number,
  ): Promise<{ userIds: string[]; hasMore: boolean }> {
    const all = [...(this.#blocks.get(blockerId)?.keys() ?? [])]
      .filter((userId) => after === undefined || userId > after)
      .sort();
    return { userIds: all.slice(0, limit), hasMore: all.length > limit };
  }

  async removeAllBlocks(blockerId: string): Promise<number> {
    const count = this.#blocks.get(blockerId)?.size ?? 0;
    this.#blocks.delete(blockerId);
    return count;
  }

  async findBlocks(pairs: readonly BlockPair[]): Promise<BlockPair[]> {
    return pairs.filter(({ blockerId, blockedId }) => this.#blocks.get(blockerId)?.has(blockedId));
  }

  async presenceVisibleTo(viewerId: string, userIds: readonly string[]): Promise<Set<string>> {
    return new Set(
      userIds.filter(
        (userId) =>
          userId === viewerId ||
          (this.#lists.wroteAt(userId, directConversationId(userId, viewerId)) !== undefined &&
            !this.#blocks.get(userId)?.has(viewerId)),
      ),
    );
  }
}
