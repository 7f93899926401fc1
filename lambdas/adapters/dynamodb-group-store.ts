/**
 * Groups in their conversation's partition of the conversations table
 * (docs/adr/0007-groups.md): a `group` item (title, creator, the `everyone` watermarks with
 * their holders and version, the seqs of the creation and of the last change), the roster in 16 buckets `roster#00` …
 * `roster#15` by a hash of the user id (each a map of members and a map of former members),
 * and the events as messages under the keys `DynamoDbMessageStore` reads. A change and its
 * events are one transaction.
 */
import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type QueryCommandOutput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Everyone, ReceiptKind } from '@parley/protocol';
import type {
  EveryoneState,
  FormerMemberRecord,
  GroupChange,
  GroupChangeOutcome,
  GroupMemberRecord,
  GroupRecord,
  GroupStore,
  HolderDecrement,
  Membership,
} from '../domain/ports.js';
import { messageKey } from './dynamodb-message-store.js';

const GROUP_KEY = 'group';
const ROSTER_PREFIX = 'roster#';
const BUCKETS = 16;
const EVERYONE_FIELD: Record<ReceiptKind, string> = {
  delivered: 'everyoneDeliveredSeq',
  read: 'everyoneReadSeq',
};
const HOLDERS_FIELD: Record<ReceiptKind, string> = {
  delivered: 'holdersDelivered',
  read: 'holdersRead',
};
const VERSION_FIELD = 'everyoneVersion';

/**
 * The condition that the `everyone` version is still `version`: a group stored before the
 * version was kept has none, which counts as 0.
 */
function versionIs(version: number): string {
  return version === 0 ? '(attribute_not_exists(#version) OR #version = :version)' : '#version = :version';
}

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];
type StoredMember = Omit<GroupMemberRecord, 'userId'>;
type StoredFormer = Omit<FormerMemberRecord, 'userId'>;

/** One bucket of the roster as stored: who is in it now, and who was. */
interface RosterBucket {
  members: Record<string, StoredMember>;
  former: Record<string, StoredFormer>;
}

/** The bucket of a user: a hash of its id, so that the same user always lands in the same one. */
export function rosterKeyOf(userId: string): string {
  const bucket = createHash('sha256').update(userId).digest().readUInt8(0) % BUCKETS;
  return `${ROSTER_PREFIX}${String(bucket).padStart(2, '0')}`;
}

/** The roster of a group, bucket by bucket, with empty buckets left out. */
function bucketsOf(group: GroupRecord | undefined): Map<string, RosterBucket> {
  const buckets = new Map<string, RosterBucket>();
  const bucketOf = (userId: string) => {
    const key = rosterKeyOf(userId);
    let bucket = buckets.get(key);
    if (!bucket) {
      bucket = { members: {}, former: {} };
      buckets.set(key, bucket);
    }
    return bucket;
  };
  for (const { userId, ...member } of group?.members ?? []) bucketOf(userId).members[userId] = member;
  for (const { userId, ...former } of group?.former ?? []) bucketOf(userId).former[userId] = former;
  return buckets;
}

/** A bucket in a form that compares equal whatever order its users were listed in. */
function canonical(bucket: RosterBucket | undefined): string {
  const sorted = (record: Record<string, object>) =>
    Object.entries(record)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([userId, value]) => [userId, Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1))]);
  return JSON.stringify(bucket ? [sorted(bucket.members), sorted(bucket.former)] : [[], []]);
}

export class DynamoDbGroupStore implements GroupStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;

  constructor(options: { client: DynamoDBDocumentClient; tableName: string }) {
    this.#client = options.client;
    this.#tableName = options.tableName;
  }

  async getGroup(conversationId: string): Promise<GroupRecord | undefined> {
    // Not one snapshot: a change between the two reads is caught by its seq, which the
    // caller read before (docs/adr/0007-groups.md).
    const [group, roster] = await Promise.all([
      this.#client.send(
        new GetCommand({
          TableName: this.#tableName,
          Key: { conversationId, itemKey: GROUP_KEY },
          ConsistentRead: true,
        }),
      ),
      this.#readRoster(conversationId),
    ]);
    const item = group.Item;
    if (!item) return undefined;
    const record: GroupRecord = {
      conversationId,
      title: item.title as string,
      createdBy: item.createdBy as string,
      createdAt: item.createdAt as number,
      members: [],
      former: [],
      everyone: {
        deliveredSeq: (item.everyoneDeliveredSeq as number | undefined) ?? 0,
        readSeq: (item.everyoneReadSeq as number | undefined) ?? 0,
      },
      ...(item.creation ? { creation: item.creation as GroupRecord['creation'] } : {}),
      ...(item.lastChange ? { lastChange: item.lastChange as GroupRecord['lastChange'] } : {}),
    };
    for (const bucket of roster) {
      for (const [userId, member] of Object.entries(bucket.members))
        record.members.push({ userId, ...member });
      for (const [userId, former] of Object.entries(bucket.former)) record.former.push({ userId, ...former });
    }
    return record;
  }

  async getEveryone(conversationId: string): Promise<Everyone | undefined> {
    // The group item alone: every ack in a group reads it, so it must not read the roster.
    const { Item: item } = await this.#client.send(
      new GetCommand({
        TableName: this.#tableName,
        Key: { conversationId, itemKey: GROUP_KEY },
        ProjectionExpression: 'everyoneDeliveredSeq, everyoneReadSeq, itemKey',
        ConsistentRead: true,
      }),
    );
    if (!item) return undefined;
    return {
      deliveredSeq: (item.everyoneDeliveredSeq as number | undefined) ?? 0,
      readSeq: (item.everyoneReadSeq as number | undefined) ?? 0,
    };
  }

  async getEveryoneState(conversationId: string): Promise<EveryoneState | undefined> {
    const { Item: item } = await this.#client.send(
      new GetCommand({
        TableName: this.#tableName,
        Key: { conversationId, itemKey: GROUP_KEY },
        ProjectionExpression: `everyoneDeliveredSeq, everyoneReadSeq, ${HOLDERS_FIELD.delivered}, ${HOLDERS_FIELD.read}, ${VERSION_FIELD}, itemKey`,
        ConsistentRead: true,
      }),
    );
    if (!item) return undefined;
    const delivered = item[HOLDERS_FIELD.delivered] as number | undefined;
    const read = item[HOLDERS_FIELD.read] as number | undefined;
    return {
      everyone: {
        deliveredSeq: (item.everyoneDeliveredSeq as number | undefined) ?? 0,
        readSeq: (item.everyoneReadSeq as number | undefined) ?? 0,
      },
      ...(delivered !== undefined && read !== undefined ? { holders: { delivered, read } } : {}),
      version: (item[VERSION_FIELD] as number | undefined) ?? 0,
    };
  }

  async #readRoster(conversationId: string): Promise<RosterBucket[]> {
    const buckets: RosterBucket[] = [];
    let startKey: QueryCommandOutput['LastEvaluatedKey'];
    do {
      const page: QueryCommandOutput = await this.#client.send(
        new QueryCommand({
          TableName: this.#tableName,
          KeyConditionExpression: 'conversationId = :c AND begins_with(itemKey, :p)',
          ExpressionAttributeValues: { ':c': conversationId, ':p': ROSTER_PREFIX },
          ConsistentRead: true,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      for (const item of page.Items ?? []) {
        buckets.push({
          members: (item.members as RosterBucket['members'] | undefined) ?? {},
          former: (item.former as RosterBucket['former'] | undefined) ?? {},
        });
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return buckets;
  }

  async getMembership(conversationId: string, userId: string): Promise<Membership> {
    const result = await this.#client.send(
      new GetCommand({
        TableName: this.#tableName,
        Key: { conversationId, itemKey: rosterKeyOf(userId) },
        ProjectionExpression: '#members.#user, #former.#user',
        ExpressionAttributeNames: { '#members': 'members', '#former': 'former', '#user': userId },
        ConsistentRead: true,
      }),
    );
    const member = (result.Item?.members as RosterBucket['members'] | undefined)?.[userId];
    if (member) return { status: 'member', member: { userId, ...member } };
    const former = (result.Item?.former as RosterBucket['former'] | undefined)?.[userId];
    if (former) return { status: 'former', former: { userId, ...former } };
    return { status: 'none' };
  }

  async commitChange(change: GroupChange): Promise<GroupChangeOutcome> {
    const { conversationId } = change.after;
    const transactItems: TransactItem[] = [
      ...change.events.map(
        (event): TransactItem => ({
          Put: {
            TableName: this.#tableName,
            Item: { ...event, itemKey: messageKey(event.seq) },
            ConditionExpression: 'attribute_not_exists(itemKey)',
          },
        }),
      ),
      this.#groupWrite(change),
      ...this.#rosterWrites(change),
    ];
    try {
      await this.#client.send(new TransactWriteCommand({ TransactItems: transactItems }));
      return { status: 'stored' };
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const reasons = error.CancellationReasons ?? [];
      const groupReason = reasons[change.events.length]?.Code;
      if (change.before === undefined && groupReason === 'ConditionalCheckFailed')
        return { status: 'exists' };
      const eventReasons = reasons.slice(0, change.events.length);
      if (eventReasons.some((reason) => reason.Code === 'ConditionalCheckFailed'))
        return { status: 'seq_taken' };
      if (reasons.some((reason) => reason.Code === 'TransactionConflict')) return { status: 'conflict' };
      throw new Error(`group change in ${conversationId} cancelled`, { cause: error });
    }
  }

  /**
   * A creation puts the group item if there is none; a later change sets only what changes
   * own (the title and the seqs of the last change), never the `everyone` watermarks that
   * acks raise meanwhile.
   */
  #groupWrite({ before, after }: GroupChange): TransactItem {
    const key = { conversationId: after.conversationId, itemKey: GROUP_KEY };
    if (before === undefined) {
      return {
        Put: {
          TableName: this.#tableName,
          Item: {
            ...key,
            title: after.title,
            createdBy: after.createdBy,
            createdAt: after.createdAt,
            everyoneDeliveredSeq: after.everyone.deliveredSeq,
            everyoneReadSeq: after.everyone.readSeq,
            ...(after.creation ? { creation: after.creation } : {}),
            ...(after.lastChange ? { lastChange: after.lastChange } : {}),
          },
          ConditionExpression: 'attribute_not_exists(itemKey)',
        },
      };
    }
    return {
      Update: {
        TableName: this.#tableName,
        Key: key,
        // The roster may have changed: the holders of `everyone` are unknown until recomputed,
        // and the version moves so that a recompute begun before the change writes nothing.
        UpdateExpression: `${after.lastChange ? 'SET #title = :title, #last = :last' : 'SET #title = :title'} REMOVE #holdersDelivered, #holdersRead ADD #version :one`,
        ExpressionAttributeNames: {
          '#title': 'title',
          '#holdersDelivered': HOLDERS_FIELD.delivered,
          '#holdersRead': HOLDERS_FIELD.read,
          '#version': VERSION_FIELD,
          ...(after.lastChange ? { '#last': 'lastChange' } : {}),
        },
        ExpressionAttributeValues: {
          ':title': after.title,
          ':one': 1,
          ...(after.lastChange ? { ':last': after.lastChange } : {}),
        },
      },
    };
  }

  /** The buckets whose members or former members differ before and after, each written whole. */
  #rosterWrites({ before, after }: GroupChange): TransactItem[] {
    const old = bucketsOf(before);
    const next = bucketsOf(after);
    const keys = new Set([...old.keys(), ...next.keys()]);
    return [...keys]
      .filter((key) => canonical(old.get(key)) !== canonical(next.get(key)))
      .sort()
      .map((key) => ({
        Put: {
          TableName: this.#tableName,
          Item: {
            conversationId: after.conversationId,
            itemKey: key,
            members: next.get(key)?.members ?? {},
            former: next.get(key)?.former ?? {},
          },
        },
      }));
  }

  async decrementHolder(
    conversationId: string,
    kind: ReceiptKind,
    expectedEveryone: number,
    expectedVersion: number,
  ): Promise<HolderDecrement> {
    try {
      const { Attributes: attributes } = await this.#client.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: { conversationId, itemKey: GROUP_KEY },
          UpdateExpression: 'SET #holders = #holders - :one, #version = :next',
          ConditionExpression: `${versionIs(expectedVersion)} AND #everyone = :everyone AND #holders > :zero`,
          ExpressionAttributeNames: {
            '#holders': HOLDERS_FIELD[kind],
            '#everyone': EVERYONE_FIELD[kind],
            '#version': VERSION_FIELD,
          },
          ExpressionAttributeValues: {
            ':one': 1,
            ':zero': 0,
            ':version': expectedVersion,
            ':next': expectedVersion + 1,
            ':everyone': expectedEveryone,
          },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      return {
        status: 'ok',
        holders: attributes?.[HOLDERS_FIELD[kind]] as number,
        version: expectedVersion + 1,
      };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return { status: 'changed' };
      throw error;
    }
  }

  async setEveryone(
    conversationId: string,
    { everyone, holders }: Pick<EveryoneState, 'everyone' | 'holders'>,
    expectedVersion: number,
  ): Promise<boolean> {
    const set = 'SET #delivered = :delivered, #read = :read, #version = :next';
    try {
      await this.#client.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: { conversationId, itemKey: GROUP_KEY },
          UpdateExpression: holders
            ? `${set}, #holdersDelivered = :holdersDelivered, #holdersRead = :holdersRead`
            : `${set} REMOVE #holdersDelivered, #holdersRead`,
          ConditionExpression: `attribute_exists(itemKey) AND ${versionIs(expectedVersion)}`,
          ExpressionAttributeNames: {
            '#delivered': EVERYONE_FIELD.delivered,
            '#read': EVERYONE_FIELD.read,
            '#holdersDelivered': HOLDERS_FIELD.delivered,
            '#holdersRead': HOLDERS_FIELD.read,
            '#version': VERSION_FIELD,
          },
          ExpressionAttributeValues: {
            ':delivered': everyone.deliveredSeq,
            ':read': everyone.readSeq,
            ':version': expectedVersion,
            ':next': expectedVersion + 1,
            ...(holders ? { ':holdersDelivered': holders.delivered, ':holdersRead': holders.read } : {}),
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
