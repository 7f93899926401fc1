/**
 * Groups in memory, with the contract of their DynamoDB adapter: a change and its events
 * commit together or not at all (the events go into the conversation's messages, beside
 * the text messages), a creation refuses a group that exists, reads are consistent, and
 * `everyone` only grows, guarded by a version that every write of it and every change bumps.
 * Every call completes before another starts, so a transaction never
 * conflicts here: a test that needs `conflict` makes `commitChange` answer it.
 */
import type { Everyone, ReceiptKind } from '@parley/protocol';
import type {
  Connection,
  EveryoneState,
  GroupChange,
  GroupChangeOutcome,
  GroupConnectionStore,
  GroupRecord,
  GroupStore,
  HolderDecrement,
  Membership,
} from '../../../lambdas/domain/ports.js';
import type { InMemoryMessageStore } from './message-store.js';

export class InMemoryGroupStore implements GroupStore {
  readonly #groups = new Map<string, GroupRecord>();
  /** The holders and the version beside each group's `everyone`, as in its `group` item. */
  readonly #counts = new Map<string, Pick<EveryoneState, 'holders' | 'version'>>();
  readonly #messages: InMemoryMessageStore;

  /** `messages`: the store the groups' events are written to, as in one DynamoDB partition. */
  constructor(messages: InMemoryMessageStore) {
    this.#messages = messages;
  }

  async getGroup(conversationId: string): Promise<GroupRecord | undefined> {
    return structuredClone(this.#groups.get(conversationId));
  }

  async getMembership(conversationId: string, userId: string): Promise<Membership> {
    const group = this.#groups.get(conversationId);
    const member = group?.members.find((candidate) => candidate.userId === userId);
    if (member) return { status: 'member', member: structuredClone(member) };
    const former = group?.former.find((candidate) => candidate.userId === userId);
    if (former) return { status: 'former', former: structuredClone(former) };
    return { status: 'none' };
  }

  async commitChange(change: GroupChange): Promise<GroupChangeOutcome> {
    const { conversationId } = change.after;
    if (change.before === undefined && this.#groups.has(conversationId)) return { status: 'exists' };
    if (this.#messages.storeEvents(change.events) === 'seq_taken') return { status: 'seq_taken' };
    // `everyone` is raised by acks on their own: a change never lowers what they raised.
    const stored = this.#groups.get(conversationId)?.everyone;
    const after = structuredClone(change.after);
    if (stored) {
      after.everyone = {
        deliveredSeq: Math.max(stored.deliveredSeq, after.everyone.deliveredSeq),
        readSeq: Math.max(stored.readSeq, after.everyone.readSeq),
      };
    }
    this.#groups.set(conversationId, after);
    // A change makes the holders unknown until `everyone` is recomputed over the new roster.
    this.#counts.set(conversationId, { version: (this.#counts.get(conversationId)?.version ?? 0) + 1 });
    return { status: 'stored' };
  }

  async getEveryone(conversationId: string): Promise<Everyone | undefined> {
    return structuredClone(this.#groups.get(conversationId)?.everyone);
  }

  async getEveryoneState(conversationId: string): Promise<EveryoneState | undefined> {
    const group = this.#groups.get(conversationId);
    const counts = this.#counts.get(conversationId);
    if (!group || !counts) return undefined;
    return structuredClone({ everyone: group.everyone, ...counts });
  }

  async decrementHolder(...args: Parameters<GroupStore['decrementHolder']>): Promise<HolderDecrement> {
    const [conversationId, kind, expectedEveryone, expectedVersion] = args;
    const group = this.#groups.get(conversationId);
    const counts = this.#counts.get(conversationId);
    const holders = counts?.holders?.[kind];
    if (!group || !counts || counts.version !== expectedVersion || holders === undefined || holders <= 0)
      return { status: 'changed' };
    if (group.everyone[kind === 'read' ? 'readSeq' : 'deliveredSeq'] !== expectedEveryone)
      return { status: 'changed' };
    const next = {
      holders: { ...(counts.holders as Record<ReceiptKind, number>), [kind]: holders - 1 },
      version: expectedVersion + 1,
    };
    this.#counts.set(conversationId, next);
    return { status: 'ok', holders: holders - 1, version: next.version };
  }

  async setEveryone(
    conversationId: string,
    state: Pick<EveryoneState, 'everyone' | 'holders'>,
    expectedVersion: number,
  ): Promise<boolean> {
    const group = this.#groups.get(conversationId);
    if (!group || this.#counts.get(conversationId)?.version !== expectedVersion) return false;
    group.everyone = structuredClone(state.everyone);
    this.#counts.set(conversationId, {
      version: expectedVersion + 1,
      ...(state.holders ? { holders: structuredClone(state.holders) } : {}),
    });
    return true;
  }
}

/** The index of a group's connected devices in memory; expired connections are left out of a listing. */
export class InMemoryGroupConnectionStore implements GroupConnectionStore {
  readonly #groups = new Map<string, Map<string, Connection>>();
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  async listGroupConnections(
    conversationId: string,
    atMost = Number.POSITIVE_INFINITY,
  ): Promise<Connection[]> {
    const nowSeconds = Math.floor(this.#now() / 1000);
    return [...(this.#groups.get(conversationId)?.values() ?? [])]
      .filter((connection) => connection.expiresAt > nowSeconds)
      .sort((a, b) => (a.connectionId < b.connectionId ? -1 : a.connectionId > b.connectionId ? 1 : 0))
      .slice(0, atMost)
      .map((connection) => structuredClone(connection));
  }

  async addConnections(conversationId: string, connections: Connection[]): Promise<void> {
    const indexed = this.#groups.get(conversationId) ?? new Map<string, Connection>();
    this.#groups.set(conversationId, indexed);
    for (const connection of connections) indexed.set(connection.connectionId, structuredClone(connection));
  }

  async removeConnections(conversationId: string, connectionIds: string[]): Promise<void> {
    for (const connectionId of connectionIds) this.#groups.get(conversationId)?.delete(connectionId);
  }
}
