/**
 * The conversation list in memory, with the contract of `DynamoDbConversationListStore`:
 * each user has a clock, and every write gives its entries distinct `updatedAt` values from
 * `max(now, clock + 1)` up, in the order of the changes, so that a user's values only grow;
 * a change that returns nothing writes nothing and leaves the clock; a listing is the
 * entries changed after a cursor, oldest change first. Every call completes before another
 * starts, so no write here is ever refused for a concurrent one.
 */
import type {
  ConversationEntry,
  ConversationEntryState,
  ConversationListPage,
  ConversationListStore,
} from '../../../lambdas/domain/ports.js';

type EntryChange = (current: ConversationEntryState | undefined) => ConversationEntryState | undefined;
type Outcome = 'updated' | 'unchanged';

interface UserList {
  /** The last `updatedAt` given to one of the user's entries. */
  clock: number;
  entries: Map<string, ConversationEntry>;
}

/** The fields an entry has only for one kind of conversation: stored when present. */
const OPTIONAL_FIELDS = ['kind', 'members', 'title', 'memberCount', 'member', 'everyone'] as const;

/** The fields an entry is stored with, whatever else the change returned. */
function toEntry(state: ConversationEntryState, updatedAt: number): ConversationEntry {
  const optional = Object.fromEntries(
    OPTIONAL_FIELDS.filter((field) => state[field] !== undefined).map((field) => [field, state[field]]),
  );
  return structuredClone({
    conversationId: state.conversationId,
    ...optional,
    lastSeq: state.lastSeq,
    lastMessage: state.lastMessage ?? null,
    receipts: state.receipts,
    updatedAt,
  });
}

function stateOf({ updatedAt: _updatedAt, ...state }: ConversationEntry): ConversationEntryState {
  return structuredClone(state);
}

export class InMemoryConversationListStore implements ConversationListStore {
  readonly #lists = new Map<string, UserList>();
  /** Each entry's `wroteAt`, stored but never listed, as the DynamoDB adapter keeps it. */
  readonly #wroteAt = new Map<string, number>();
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  async update(userId: string, conversationId: string, change: EntryChange): Promise<Outcome> {
    const [outcome] = await this.updateMany(userId, new Map([[conversationId, change]]));
    return outcome ?? 'unchanged';
  }

  async updateMany(userId: string, changes: Map<string, EntryChange>): Promise<Outcome[]> {
    const list = this.#lists.get(userId) ?? { clock: 0, entries: new Map() };
    const base = Math.max(this.#now(), list.clock + 1);
    let written = 0;
    const outcomes = [...changes].map(([conversationId, change]): Outcome => {
      const current = list.entries.get(conversationId);
      const wroteAt = this.wroteAt(userId, conversationId);
      const next = change(current && { ...stateOf(current), ...(wroteAt === undefined ? {} : { wroteAt }) });
      if (!next) return 'unchanged';
      if (next.wroteAt !== undefined) this.#wroteAt.set(`${userId}\u0000${conversationId}`, next.wroteAt);
      list.entries.set(conversationId, toEntry({ ...next, conversationId }, base + written));
      written += 1;
      return 'updated';
    });
    if (written > 0) {
      list.clock = base + written - 1;
      this.#lists.set(userId, list);
    }
    return outcomes;
  }

  /** When the user first wrote in the conversation, as its entry stores it. */
  wroteAt(userId: string, conversationId: string): number | undefined {
    return this.#wroteAt.get(`${userId}\u0000${conversationId}`);
  }

  async updateManyUsers(
    changes: Map<string, Map<string, EntryChange>>,
  ): Promise<Map<string, PromiseSettledResult<Outcome[]>>> {
    const settled = new Map<string, PromiseSettledResult<Outcome[]>>();
    for (const [userId, userChanges] of changes) {
      try {
        settled.set(userId, { status: 'fulfilled', value: await this.updateMany(userId, userChanges) });
      } catch (reason) {
        settled.set(userId, { status: 'rejected', reason });
      }
    }
    return settled;
  }

  async listChangedSince(
    userId: string,
    afterUpdatedAt: number,
    limit: number,
  ): Promise<ConversationListPage> {
    const changed = [...(this.#lists.get(userId)?.entries.values() ?? [])]
      .filter((entry) => entry.updatedAt > afterUpdatedAt)
      .sort((a, b) => a.updatedAt - b.updatedAt);
    return {
      entries: changed.slice(0, limit).map((entry) => structuredClone(entry)),
      hasMore: changed.length > limit,
    };
  }

  async listGroupIds(userId: string): Promise<string[]> {
    return [...(this.#lists.get(userId)?.entries.values() ?? [])]
      .filter((entry) => entry.kind === 'group' && entry.member === true)
      .map((entry) => entry.conversationId)
      .sort();
  }

  /** The user's entry of the conversation, as stored. */
  entry(userId: string, conversationId: string): ConversationEntry | undefined {
    return structuredClone(this.#lists.get(userId)?.entries.get(conversationId));
  }

  /** The user's clock: the last `updatedAt` given to one of its entries. */
  clock(userId: string): number | undefined {
    return this.#lists.get(userId)?.clock;
  }
}
