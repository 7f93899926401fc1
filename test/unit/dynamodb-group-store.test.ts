/**
 * What the DynamoDB group store asks of DynamoDB, and how it reads DynamoDB's refusals. Its
 * contract (what a store answers) is `test/support/port-contracts/groups.ts`, run on
 * DynamoDB Local.
 */
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoDbGroupStore, rosterKeyOf } from '../../lambdas/adapters/dynamodb-group-store.js';
import type { GroupChange, GroupRecord } from '../../lambdas/domain/ports.js';
import { mockAwsClients, NOW } from './support/harness.js';

const { ddb } = mockAwsClients();

const GROUP = 'grp:lunch';
const TABLE = 'unit-conversations';
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const store = () => new DynamoDbGroupStore({ client, tableName: TABLE });

type Reason = 'None' | 'ConditionalCheckFailed' | 'TransactionConflict' | 'ThrottlingError';

/** DynamoDB's refusal of a transaction, with one reason per item in the order they were sent. */
const canceled = (...codes: Reason[]) =>
  new TransactionCanceledException({
    message: `Transaction cancelled [${codes.join(', ')}]`,
    $metadata: { httpStatusCode: 400 },
    CancellationReasons: codes.map((Code) => ({ Code })),
  });

const GROUP_RECORD: GroupRecord = {
  conversationId: GROUP,
  title: 'Lunch',
  createdBy: 'alice',
  createdAt: NOW,
  members: [
    { userId: 'alice', admin: true, joinedSeq: 1, joinedAt: NOW },
    { userId: 'bob', admin: false, joinedSeq: 1, joinedAt: NOW },
  ],
  former: [],
  everyone: { deliveredSeq: 0, readSeq: 0 },
  creation: { fromSeq: 1, toSeq: 1 },
  lastChange: { fromSeq: 1, toSeq: 1 },
};

const eventAt = (seq: number) => ({
  conversationId: GROUP,
  seq,
  messageId: `e${seq}`,
  clientMessageId: `e${seq}`,
  senderId: 'alice',
  senderDeviceId: 'phone',
  kind: 'title-changed' as const,
  title: 'Dinner',
  serverTs: NOW,
});

const CREATION: GroupChange = {
  before: undefined,
  after: GROUP_RECORD,
  events: [
    {
      ...eventAt(1),
      kind: 'group-created',
      title: 'Lunch',
      members: ['alice', 'bob'],
    },
  ],
};

/** Two events (seqs 2 and 3) and a new title: the group item, and no bucket, since nobody moved. */
const RETITLE: GroupChange = {
  before: GROUP_RECORD,
  after: { ...GROUP_RECORD, title: 'Dinner', lastChange: { fromSeq: 2, toSeq: 3 } },
  events: [eventAt(2), eventAt(3)],
};

describe('the DynamoDB group store', () => {
  it('creates a group in one transaction: its events on free seqs, the group item if absent, the buckets of its members', async () => {
    ddb.on(TransactWriteCommand).resolves({});

    expect(await store().commitChange(CREATION)).toEqual({ status: 'stored' });

    const [call] = ddb.commandCalls(TransactWriteCommand);
    const items = call?.args[0].input.TransactItems ?? [];
    expect(items[0]?.Put?.Item).toMatchObject({ itemKey: 'msg#000000000001', kind: 'group-created' });
    expect(items[0]?.Put?.ConditionExpression).toBe('attribute_not_exists(itemKey)');
    expect(items[1]?.Put?.Item).toMatchObject({ itemKey: 'group', createdBy: 'alice', everyoneReadSeq: 0 });
    expect(items[1]?.Put?.ConditionExpression).toBe('attribute_not_exists(itemKey)');
    const buckets = items.slice(2).map((item) => item.Put?.Item?.itemKey);
    expect(buckets.sort()).toEqual([...new Set([rosterKeyOf('alice'), rosterKeyOf('bob')])].sort());
  });

  it('changes the title and the last change of a group, and neither the everyone watermarks nor an unchanged bucket', async () => {
    ddb.on(TransactWriteCommand).resolves({});

    await store().commitChange(RETITLE);

    const items = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(items).toHaveLength(3);
    const update = items[2]?.Update;
    expect(update?.UpdateExpression).toBe(
      'SET #title = :title, #last = :last REMOVE #holdersDelivered, #holdersRead ADD #version :one',
    );
    expect(JSON.stringify(update)).not.toContain('everyoneDeliveredSeq');
    expect(JSON.stringify(update)).not.toContain('everyoneReadSeq');
  });

  it('answers exists when a creation finds the group item there, even when its seq is taken too', async () => {
    ddb
      .on(TransactWriteCommand)
      .rejects(canceled('ConditionalCheckFailed', 'ConditionalCheckFailed', 'None'));

    expect(await store().commitChange(CREATION)).toEqual({ status: 'exists' });
  });

  it('answers seq_taken when any of the events finds its seq taken', async () => {
    ddb.on(TransactWriteCommand).rejects(canceled('None', 'ConditionalCheckFailed', 'None'));

    expect(await store().commitChange(RETITLE)).toEqual({ status: 'seq_taken' });
  });

  it('answers conflict when DynamoDB cancelled for a concurrent transaction', async () => {
    ddb.on(TransactWriteCommand).rejects(canceled('None', 'None', 'TransactionConflict'));

    expect(await store().commitChange(RETITLE)).toEqual({ status: 'conflict' });
  });

  it('throws a cancellation for any other reason, keeping it as the cause', async () => {
    const throttled = canceled('None', 'ThrottlingError', 'None');
    ddb.on(TransactWriteCommand).rejects(throttled);

    await expect(store().commitChange(RETITLE)).rejects.toMatchObject({ cause: throttled });
  });

  it('throws an error that is not a cancellation as it came', async () => {
    ddb.on(TransactWriteCommand).rejects(new Error('network down'));

    await expect(store().commitChange(RETITLE)).rejects.toThrow('network down');
  });

  it("reads a membership from the user's one bucket, strongly consistent", async () => {
    ddb.on(GetCommand).resolves({ Item: { former: { bob: { joinedSeq: 1, removedSeq: 4 } } } });

    const membership = await store().getMembership(GROUP, 'bob');

    expect(membership).toEqual({ status: 'former', former: { userId: 'bob', joinedSeq: 1, removedSeq: 4 } });
    expect(ddb.commandCalls(GetCommand)[0]?.args[0].input).toMatchObject({
      Key: { conversationId: GROUP, itemKey: rosterKeyOf('bob') },
      ConsistentRead: true,
    });
  });

  it('reads everyone with its holders and version, a group stored before them as holders unknown at version 0', async () => {
    ddb
      .on(GetCommand)
      .resolvesOnce({
        Item: {
          itemKey: 'group',
          everyoneDeliveredSeq: 3,
          everyoneReadSeq: 2,
          holdersDelivered: 4,
          holdersRead: 1,
          everyoneVersion: 7,
        },
      })
      .resolvesOnce({ Item: { itemKey: 'group', everyoneDeliveredSeq: 3, everyoneReadSeq: 2 } })
      .resolvesOnce({});

    const states = [
      await store().getEveryoneState(GROUP),
      await store().getEveryoneState(GROUP),
      await store().getEveryoneState(GROUP),
    ];

    expect(states).toEqual([
      { everyone: { deliveredSeq: 3, readSeq: 2 }, holders: { delivered: 4, read: 1 }, version: 7 },
      { everyone: { deliveredSeq: 3, readSeq: 2 }, version: 0 },
      undefined,
    ]);
    expect(ddb.commandCalls(GetCommand)[0]?.args[0].input.ConsistentRead).toBe(true);
  });

  it('takes one from the holders on the condition of the version and everyone, and answers changed when it fails', async () => {
    ddb
      .on(UpdateCommand)
      .resolvesOnce({ Attributes: { holdersRead: 2 } })
      .rejectsOnce(new ConditionalCheckFailedException({ message: 'no', $metadata: {} }));

    const taken = await store().decrementHolder(GROUP, 'read', 5, 3);
    const changed = await store().decrementHolder(GROUP, 'read', 5, 0);

    expect([taken, changed]).toEqual([{ status: 'ok', holders: 2, version: 4 }, { status: 'changed' }]);
    const [first, second] = ddb.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    expect(first).toMatchObject({
      ConditionExpression: '#version = :version AND #everyone = :everyone AND #holders > :zero',
      ExpressionAttributeNames: { '#holders': 'holdersRead', '#everyone': 'everyoneReadSeq' },
      ExpressionAttributeValues: { ':version': 3, ':next': 4, ':everyone': 5 },
    });
    expect(second?.ConditionExpression).toContain('attribute_not_exists(#version)');
  });

  it('writes everyone on the condition of the version, removing the holders when they are unknown', async () => {
    ddb
      .on(UpdateCommand)
      .resolvesOnce({})
      .resolvesOnce({})
      .rejectsOnce(new ConditionalCheckFailedException({ message: 'no', $metadata: {} }));
    const everyone = { deliveredSeq: 4, readSeq: 3 };

    const written = [
      await store().setEveryone(GROUP, { everyone, holders: { delivered: 2, read: 5 } }, 6),
      await store().setEveryone(GROUP, { everyone }, 7),
      await store().setEveryone(GROUP, { everyone }, 7),
    ];

    expect(written).toEqual([true, true, false]);
    const [first, second] = ddb.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    expect(first).toMatchObject({
      ConditionExpression: 'attribute_exists(itemKey) AND #version = :version',
      ExpressionAttributeValues: {
        ':delivered': 4,
        ':read': 3,
        ':holdersDelivered': 2,
        ':holdersRead': 5,
        ':next': 7,
      },
    });
    expect(second?.UpdateExpression).toContain('REMOVE #holdersDelivered, #holdersRead');
  });

  it('throws a failure of writing everyone or its holders that is not its condition', async () => {
    ddb.on(UpdateCommand).rejects(new Error('throttled'));

    await expect(store().decrementHolder(GROUP, 'delivered', 5, 1)).rejects.toThrow('throttled');
    await expect(
      store().setEveryone(GROUP, { everyone: { deliveredSeq: 5, readSeq: 5 } }, 1),
    ).rejects.toThrow('throttled');
  });
});
