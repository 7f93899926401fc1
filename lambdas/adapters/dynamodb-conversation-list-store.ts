/**
 * The conversation list, one partition per user: an entry per conversation
 * (`conv#{conversationId}`) and a clock item (`clock`). Each entry write moves the clock to
 * a later time in the same transaction, so a user's changes commit in strictly increasing
 * order of that time (the entry's `changedAt`, served as `updatedAt`) and a cursor on it
 * never skips a change.
 *
 * The `byUpdatedAt` local index is keyed by the stored `updatedAt`, which is only the start
 * of the hour of `changedAt`: an entry that changes again within the hour keeps its index
 * key, and DynamoDB then rewrites its index item once instead of deleting and putting it
 * (docs/adr/0010-cheaper-lists.md). A reader finds the candidates by hour and orders them by
 * `changedAt`. Entries written before this had the exact time in `updatedAt` and no
 * `changedAt`: they are read as they are, and take the new form with their next change.
 *
 * A warm instance remembers what it last read or wrote of each user's list, and writes
 * from that memory without reading first. The clock makes that safe: every write moves
 * it, and the transaction holds only if the clock is still the cached one, so a
 * transaction that commits proves that nothing of the user's list changed since. A
 * refused one is read again at once. A change that would write nothing is never decided
 * from memory (an entry cached as absent may have been created since): it reads first.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { GROUP_PREFIX } from '@parley/protocol';
import { LRUCache } from 'lru-cache';
import pLimit from 'p-limit';
import { type BackoffDeps, type BackoffPolicy, waitBeforeRetry } from '../domain/backoff.js';
import { ConversationListContentionError } from '../domain/errors.js';
import type {
  ConversationEntry,
  ConversationEntryState,
  ConversationListPage,
  ConversationListStore,
  EntryChange,
} from '../domain/ports.js';
import { queryAll } from './query-all.js';

const CLOCK_KEY = 'clock';
/** A transaction holds at most 100 items: the clock and up to 99 entries; fewer keeps it small. */
const ENTRIES_PER_TRANSACTION = 50;
/** Users' lists written at once by one call of `updateManyUsers`. */
const USERS_WRITTEN_AT_ONCE = 32;
/** Users whose lists an instance remembers, least recently used forgotten first. */
const USERS_CACHED = 10_000;
/**
 * The index key of an entry is the start of the window its change falls in: a longer
 * window rewrites the index key less often, a shorter one makes a reader skip fewer
 * entries that changed before its cursor in the same window.
 */
export const INDEX_WINDOW_MS = 3_600_000;
/** The wait before reading again after another write to the user's list came first. */
const RETRY_BACKOFF: BackoffPolicy = { baseDelayMs: 5, maxDelayMs: 200 };

/** What an instance last read or wrote of one user's list: the clock and some entries (null: absent). */
interface CachedList {
  clock?: Record<string, unknown>;
  entries: Map<string, Record<string, unknown> | null>;
}

const entryKey = (conversationId: string) => `conv#${conversationId}`;

/** The start of the index window of a change at `changedAt`. */
const DAY_MS = 24 * 60 * 60 * 1000;
const windowOf = (changedAt: number) => changedAt - (changedAt % INDEX_WINDOW_MS);

/** When the entry last changed: `changedAt`, or `updatedAt` for an entry stored before `changedAt` existed. */
const changedAtOf = (item: Record<string, unknown>) => (item.changedAt ?? item.updatedAt) as number;

/**
 * The entry as stored, its copy of the last message read as none once that message is past
 * the retention period (`keptSince`, ms: messages stored before it are gone): the copy must
 * not outlive the message, and the next write of the entry drops it.
 */
function toEntry(item: Record<string, unknown>, keptSince = 0): ConversationEntry {
  const lastMessage = (item.lastMessage as ConversationEntry['lastMessage']) ?? null;
  return {
    conversationId: item.conversationId as string,
    ...optionalFieldsOf(item),
    lastSeq: item.lastSeq as number,
    lastMessage: lastMessage && lastMessage.serverTs >= keptSince ? lastMessage : null,
    receipts: item.receipts as ConversationEntry['receipts'],
    updatedAt: changedAtOf(item),
  };
}

/** The fields an entry has only for one kind of conversation (`members` a dm's, the others a group's), as present. */
const OPTIONAL_FIELDS = ['kind', 'members', 'title', 'memberCount', 'member', 'everyone'] as const;

function optionalFieldsOf(source: object): Partial<ConversationEntryState> {
  const fields = source as Partial<ConversationEntryState>;
  return Object.fromEntries(
    OPTIONAL_FIELDS.filter((field) => fields[field] !== undefined).map((field) => [field, fields[field]]),
  );
}

function stateOf({ updatedAt: _updatedAt, ...state }: ConversationEntry): ConversationEntryState {
  return state;
}

export class DynamoDbConversationListStore implements ConversationListStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #now: () => number;
  readonly #retentionMs: number | undefined;
  readonly #maxAttempts: number;
  readonly #backoff: BackoffDeps;
  readonly #cachedLists = new LRUCache<string, CachedList>({ max: USERS_CACHED });

  constructor(options: {
    client: DynamoDBDocumentClient;
    tableName: string;
    now?: () => number;
    /** Days a message is kept; absent: forever. */
    retentionDays?: number;
    maxAttempts?: number;
    /** The randomness and the wait of the backoff between attempts; Math.random and a timer by default. */
    backoff?: BackoffDeps;
  }) {
    this.#client = options.client;
    this.#tableName = options.tableName;
    this.#now = options.now ?? Date.now;
    this.#retentionMs = options.retentionDays === undefined ? undefined : options.retentionDays * DAY_MS;
    this.#maxAttempts = options.maxAttempts ?? 20;
    this.#backoff = options.backoff ?? { random: () => Math.random(), sleep: (ms) => sleep(ms) };
  }

  /** Messages stored before this time (ms) are past the retention period; 0 without one. */
  #keptSince(): number {
    return this.#retentionMs === undefined ? 0 : this.#now() - this.#retentionMs;
  }

  /**
   * Applies changes to several of the user's entries with one read and one transaction
   * per chunk: one fanout batch often touches many conversations of one user, and
   * separate writes would only contend on the user's clock.
   */
  async #updateMany(
    userId: string,
    changes: Map<string, EntryChange>,
  ): Promise<Array<'updated' | 'unchanged'>> {
    const conversationIds = [...changes.keys()];
    const outcomes: Array<'updated' | 'unchanged'> = [];
    for (let start = 0; start < conversationIds.length; start += ENTRIES_PER_TRANSACTION) {
      const chunk = conversationIds.slice(start, start + ENTRIES_PER_TRANSACTION);
      outcomes.push(...(await this.#updateChunk(userId, chunk, changes)));
    }
    return outcomes;
  }

  /**
   * Applies changes to several users' lists. When every list is cached, every user has
   * something to write and all of it fits one transaction (100 items), it is one
   * TransactWriteItems: a refused one, as any other case, goes user by user (`#updateMany`).
   */
  async updateManyUsers(
    changes: Map<string, Map<string, EntryChange>>,
  ): Promise<Map<string, PromiseSettledResult<Array<'updated' | 'unchanged'>>>> {
    const together = await this.#writeTogether(changes);
    if (together) return together;
    // A group's event may change a thousand lists: a bounded number of writes at once.
    const limit = pLimit(USERS_WRITTEN_AT_ONCE);
    const settled = await Promise.allSettled(
      [...changes].map(([userId, userChanges]) => limit(() => this.#updateMany(userId, userChanges))),
    );
    return new Map(
      [...changes.keys()].map((userId, index) => [
        userId,
        settled[index] as PromiseSettledResult<Array<'updated' | 'unchanged'>>,
      ]),
    );
  }

  async #writeTogether(
    changes: Map<string, Map<string, EntryChange>>,
  ): Promise<Map<string, PromiseSettledResult<Array<'updated' | 'unchanged'>>> | undefined> {
    if (changes.size < 2) return undefined;
    const plans = [];
    for (const [userId, userChanges] of changes) {
      const conversationIds = [...userChanges.keys()];
      const items = this.#recall(userId, conversationIds);
      if (!items) return undefined;
      const plan = this.#plan(userId, conversationIds, userChanges, items);
      if (plan.transactItems.length === 0) return undefined;
      plans.push({ userId, plan });
    }
    const transactItems = plans.flatMap(({ plan }) => plan.transactItems);
    if (transactItems.length > 100) return undefined;
    try {
      await this.#client.send(new TransactWriteCommand({ TransactItems: transactItems }));
    } catch {
      // Refused (a list changed since it was cached) or failed: user by user, from reads.
      for (const { userId } of plans) this.#cachedLists.delete(userId);
      return undefined;
    }
    return new Map(
      plans.map(({ userId, plan }) => {
        plan.remember();
        return [userId, { status: 'fulfilled', value: plan.outcomes }];
      }),
    );
  }

  /** The clock and entries cached for `userId`, if every entry asked for is cached. */
  #recall(userId: string, conversationIds: string[]): Array<Record<string, unknown>> | undefined {
    const list = this.#cachedLists.get(userId);
    if (!list || !conversationIds.every((id) => list.entries.has(id))) return undefined;
    const items = conversationIds.map((id) => list.entries.get(id)).filter((item) => !!item);
    return list.clock ? [list.clock, ...items] : items;
  }

  /** Remembers the user's clock item and these entry items (those not in `items` are absent). */
  #remember(userId: string, conversationIds: string[], items: Array<Record<string, unknown>>): void {
    const list: CachedList = this.#cachedLists.get(userId) ?? { entries: new Map() };
    this.#cachedLists.set(userId, list);
    const clock = items.find((item) => item.itemKey === CLOCK_KEY);
    if (clock) list.clock = clock;
    else delete list.clock;
    for (const id of conversationIds) {
      list.entries.set(id, items.find((item) => item.itemKey === entryKey(id)) ?? null);
    }
  }

  async #updateChunk(
    userId: string,
    conversationIds: string[],
    changes: Map<string, EntryChange>,
  ): Promise<Array<'updated' | 'unchanged'>> {
    // Memory is worth a try once: after a refused transaction, read.
    let recalled = this.#recall(userId, conversationIds);
    for (let attempt = 0; attempt < this.#maxAttempts; attempt++) {
      const fromMemory = recalled;
      recalled = undefined;
      const items = fromMemory ?? (await this.#read(userId, conversationIds));
      const outcome = await this.#write(userId, conversationIds, changes, items, fromMemory !== undefined);
      if (outcome === 'read-first') continue;
      if (outcome !== 'refused') return outcome;
      this.#cachedLists.delete(userId);
      // Another write to this user's list came first: read again and reapply the changes. A
      // refused guess from memory lost to no one racing now: read at once.
      if (!fromMemory) await waitBeforeRetry(attempt, RETRY_BACKOFF, this.#backoff);
    }
    throw new ConversationListContentionError(
      `could not update ${userId}'s conversation entries after ${this.#maxAttempts} attempts`,
    );
  }

  /** Reads the user's clock and these entries, strongly consistent, and remembers them. */
  async #read(userId: string, conversationIds: string[]): Promise<Array<Record<string, unknown>>> {
    const items = await this.#readItems(userId, conversationIds);
    this.#remember(userId, conversationIds, items);
    return items;
  }

  /** The user's last change time, strongly consistent; 0 for a user with no entry. */
  async #readClock(userId: string): Promise<number> {
    const [clock] = await this.#readItems(userId, []);
    return (clock?.lastUpdatedAt as number | undefined) ?? 0;
  }

  async #readItems(userId: string, conversationIds: string[]): Promise<Array<Record<string, unknown>>> {
    const read = await this.#client.send(
      new BatchGetCommand({
        RequestItems: {
          [this.#tableName]: {
            Keys: [
              { userId, itemKey: CLOCK_KEY },
              ...conversationIds.map((conversationId) => ({ userId, itemKey: entryKey(conversationId) })),
            ],
            ConsistentRead: true,
          },
        },
      }),
    );
    if (read.UnprocessedKeys?.[this.#tableName]?.Keys?.length) {
      // Throttled: an entry left unread would look absent, and a change merged into
      // nothing (a receipt alone) would be dropped. Fail, so that the stream retries.
      throw new Error(`could not read ${userId}'s conversation entries: the read was throttled`);
    }
    return read.Responses?.[this.#tableName] ?? [];
  }

  /**
   * Applies the changes to the items read (or cached) and writes them with the clock in
   * one transaction on condition that none changed since. 'refused': another write came
   * first; 'read-first': the items came from memory and nothing would be written, which
   * memory alone cannot tell.
   */
  async #write(
    userId: string,
    conversationIds: string[],
    changes: Map<string, EntryChange>,
    items: Array<Record<string, unknown>>,
    fromMemory: boolean,
  ): Promise<Array<'updated' | 'unchanged'> | 'refused' | 'read-first'> {
    const plan = this.#plan(userId, conversationIds, changes, items);
    if (plan.transactItems.length === 0) return fromMemory ? 'read-first' : plan.outcomes;
    try {
      await this.#client.send(new TransactWriteCommand({ TransactItems: plan.transactItems }));
    } catch (error) {
      this.#cachedLists.delete(userId);
      if (!(error instanceof TransactionCanceledException)) throw error;
      return 'refused';
    }
    plan.remember();
    return plan.outcomes;
  }

  /**
   * What the changes make of the items: the outcomes, the clock and entry puts (none when
   * nothing changes), each on condition that it did not change since, and what to remember
   * once they are written.
   */
  #plan(
    userId: string,
    conversationIds: string[],
    changes: Map<string, EntryChange>,
    items: Array<Record<string, unknown>>,
  ): {
    outcomes: Array<'updated' | 'unchanged'>;
    transactItems: NonNullable<TransactWriteCommandInput['TransactItems']>;
    remember: () => void;
  } {
    const clock = items.find((item) => item.itemKey === CLOCK_KEY);
    const lastUpdatedAt = (clock?.lastUpdatedAt as number | undefined) ?? 0;
    const base = Math.max(this.#now(), lastUpdatedAt + 1);
    const writes: NonNullable<TransactWriteCommandInput['TransactItems']> = [];
    const outcomes = conversationIds.map((conversationId) => {
      const entryItem = items.find((item) => item.itemKey === entryKey(conversationId));
      const current = entryItem ? toEntry(entryItem, this.#keptSince()) : undefined;
      // `wroteAt` is stored only: the entry a client reads (`toEntry`) leaves it out.
      const wroteAt = typeof entryItem?.wroteAt === 'number' ? { wroteAt: entryItem.wroteAt } : {};
      const next = changes.get(conversationId)?.(current && { ...stateOf(current), ...wroteAt });
      if (!next) return 'unchanged' as const;
      // Distinct times, so that a page boundary never falls between two equal ones.
      const changedAt = base + writes.length;
      writes.push({
        Put: {
          TableName: this.#tableName,
          Item: {
            userId,
            itemKey: entryKey(conversationId),
            conversationId,
            ...optionalFieldsOf(next),
            lastSeq: next.lastSeq,
            lastMessage: next.lastMessage,
            receipts: next.receipts,
            ...(next.wroteAt === undefined ? {} : { wroteAt: next.wroteAt }),
            changedAt,
            updatedAt: windowOf(changedAt),
          },
          ConditionExpression: !entryItem
            ? 'attribute_not_exists(itemKey)'
            : entryItem.changedAt === undefined
              ? 'updatedAt = :previous'
              : 'changedAt = :previous',
          ...(current ? { ExpressionAttributeValues: { ':previous': current.updatedAt } } : {}),
        },
      });
      return 'updated' as const;
    });
    if (writes.length === 0) return { outcomes, transactItems: [], remember: () => {} };
    const clockItem = { userId, itemKey: CLOCK_KEY, lastUpdatedAt: base + writes.length - 1 };
    const written = writes.map((write) => write.Put?.Item as Record<string, unknown>);
    const unchanged = items.filter(
      (item) => item.itemKey !== CLOCK_KEY && !written.some((entry) => entry.itemKey === item.itemKey),
    );
    return {
      outcomes,
      transactItems: [
        {
          Put: {
            TableName: this.#tableName,
            Item: clockItem,
            ConditionExpression: clock ? 'lastUpdatedAt = :previous' : 'attribute_not_exists(itemKey)',
            ...(clock ? { ExpressionAttributeValues: { ':previous': lastUpdatedAt } } : {}),
          },
        },
        ...writes,
      ],
      remember: () => this.#remember(userId, conversationIds, [clockItem, ...written, ...unchanged]),
    };
  }

  /** Reads the group entries only (their keys begin `conv#grp:`), keeping those of a member. */
  async listGroupIds(userId: string): Promise<string[]> {
    const items = await queryAll(this.#client, {
      TableName: this.#tableName,
      KeyConditionExpression: 'userId = :u AND begins_with(itemKey, :groups)',
      FilterExpression: '#member = :true',
      ProjectionExpression: 'conversationId',
      ExpressionAttributeNames: { '#member': 'member' },
      ExpressionAttributeValues: { ':u': userId, ':groups': entryKey(`${GROUP_PREFIX}:`), ':true': true },
      ConsistentRead: true,
    });
    return items.map((item) => item.conversationId as string);
  }

  /**
   * The entries that changed after `afterUpdatedAt`, oldest change first. The clock is read
   * before the index: every change committed by then is in the index when it is queried,
   * and one committed later has a time past the clock. Entries past the clock are left for
   * the next page, since the index is not read at one instant: a later change of an entry
   * read early could otherwise be passed over by a cursor taken from an entry read late.
   */
  async listChangedSince(
    userId: string,
    afterUpdatedAt: number,
    limit: number,
  ): Promise<ConversationListPage> {
    const through = await this.#readClock(userId);
    const found: Array<Record<string, unknown>> = [];
    // Within a window the index does not order entries by change: read to the end of the
    // window in which the page fills, then sort.
    let lastWindow: number | undefined;
    let startKey: Record<string, unknown> | undefined;
    read: do {
      const result = await this.#client.send(
        new QueryCommand({
          TableName: this.#tableName,
          IndexName: 'byUpdatedAt',
          KeyConditionExpression: 'userId = :u AND updatedAt >= :from',
          ExpressionAttributeValues: { ':u': userId, ':from': windowOf(afterUpdatedAt + 1) },
          ConsistentRead: true,
          Limit: limit + 1,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      for (const item of result.Items ?? []) {
        const window = windowOf(item.updatedAt as number);
        if (lastWindow !== undefined && window > lastWindow) break read;
        const changedAt = changedAtOf(item);
        if (changedAt > afterUpdatedAt && changedAt <= through) found.push(item);
        if (found.length > limit) lastWindow = window;
      }
      startKey = result.LastEvaluatedKey;
    } while (startKey);
    found.sort((a, b) => changedAtOf(a) - changedAtOf(b));
    return {
      entries: found.slice(0, limit).map((item) => toEntry(item, this.#keptSince())),
      hasMore: found.length > limit,
    };
  }
}
