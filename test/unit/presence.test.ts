import {
  GoneException,
  LimitExceededException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutRecordCommand } from '@aws-sdk/client-kinesis';
import {
  BatchGetCommand,
  type BatchGetCommandInput,
  BatchWriteCommand,
  type BatchWriteCommandInput,
  DeleteCommand,
  GetCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ID_RULE_MESSAGE, type PresenceFrame } from '@parley/protocol';
import { describe, expect, it, vi } from 'vitest';
import { INTERNAL_ERROR_MESSAGE } from '../../lambdas/domain/errors.js';
import type { PresenceRecord } from '../../lambdas/domain/ports.js';
import { presenceView, recordConnect, recordDisconnect } from '../../lambdas/domain/presence.js';
import { createPresenceNotifierHandler } from '../../lambdas/handlers/presence-notifier.js';
import { createSubscribePresenceHandler } from '../../lambdas/handlers/subscribe-presence.js';
import { presenceDeps } from '../../lambdas/runtime.js';
import {
  answerOf,
  createTestDeps,
  errorOf,
  invoke,
  kinesisEvent,
  kinesisEventOf,
  lambdaContext,
  messageEvent,
  mockAwsClients,
  NOW,
  presenceStreamEvent,
  publishedRecords,
} from './support/harness.js';

const { ddb, kinesis, api } = mockAwsClients();

const NOW_SECONDS = Math.floor(NOW / 1000);
const CONNECTION_ID = 'Jyw1ZebpoAMCKZQ=';

const record = (userId: string, fields: Partial<PresenceRecord> = {}): PresenceRecord => ({
  userId,
  online: true,
  lastSeen: null,
  lastActiveAt: NOW - 60_000,
  expiresAt: NOW_SECONDS + 3600,
  version: 1,
  ...fields,
});
const presenceChanged = (userId: string) => ({
  StreamName: 'unit-events',
  PartitionKey: `presence:${userId}`,
  event: { type: 'presence-changed', userId },
});

describe('what a reader sees of a presence record', () => {
  it('shows a user without a record as offline and never seen', () => {
    expect(presenceView('bob', undefined, NOW)).toEqual({ userId: 'bob', online: false, lastSeen: null });
  });

  it('shows an online record before its expiry as online', () => {
    expect(presenceView('bob', record('bob'), NOW)).toEqual({ userId: 'bob', online: true, lastSeen: null });
  });

  it.each([
    ['at', NOW_SECONDS],
    ['past', NOW_SECONDS - 1],
  ])('shows an online record %s its expiry as offline since it last connected', (_case, expiresAt) => {
    expect(presenceView('bob', record('bob', { expiresAt }), NOW)).toEqual({
      userId: 'bob',
      online: false,
      lastSeen: NOW - 60_000,
    });
  });

  it('shows an offline record with its lastSeen', () => {
    const offline = record('bob', { online: false, lastSeen: NOW - 5000, expiresAt: 0 });

    expect(presenceView('bob', offline, NOW)).toEqual({ userId: 'bob', online: false, lastSeen: NOW - 5000 });
  });
});

describe('recording connects and disconnects', () => {
  const deps = () => presenceDeps(createTestDeps().deps);
  const aliceAt = (fields: Partial<PresenceRecord>) => ({ Item: record('alice', fields) });

  it.each([
    ['was offline', { Attributes: record('alice', { online: false, lastSeen: NOW - 9000, expiresAt: 0 }) }],
    ['was never seen', {}],
    [
      'was online on a record past its expiry',
      { Attributes: record('alice', { expiresAt: NOW_SECONDS - 1 }) },
    ],
  ])('publishes that a user who %s came online', async (_case, before) => {
    ddb.on(UpdateCommand).resolves(before);

    await recordConnect(deps(), 'alice');

    expect(publishedRecords(kinesis)).toEqual([presenceChanged('alice')]);
  });

  it('publishes nothing when another device of the user is already online', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: record('alice') });

    await recordConnect(deps(), 'alice');

    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(1);
    expect(kinesis.calls()).toHaveLength(0);
  });

  it('lets a failed publish through, so that $connect fails and the client reconnects', async () => {
    ddb.on(UpdateCommand).resolves({});
    kinesis.on(PutRecordCommand).rejects(new Error('ProvisionedThroughputExceededException'));

    await expect(recordConnect(deps(), 'alice')).rejects.toThrow('ProvisionedThroughputExceededException');
  });

  it('undoes the online mark when the publish failed, so the reconnect publishes again', async () => {
    ddb
      .on(UpdateCommand)
      .resolvesOnce({ Attributes: record('alice', { online: false, version: 6 }) })
      .resolves({});
    kinesis.on(PutRecordCommand).rejects(new Error('InternalFailure'));

    await expect(recordConnect(deps(), 'alice')).rejects.toThrow('InternalFailure');

    const [, undo] = ddb.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    expect(undo).toMatchObject({
      Key: { userId: 'alice' },
      ConditionExpression: '#version = :version AND #online = :true',
      ExpressionAttributeValues: { ':version': 7 },
    });
  });

  it('marks the user offline and publishes it when its last connection closed', async () => {
    ddb.on(GetCommand).resolves(aliceAt({ version: 3 }));
    ddb.on(QueryCommand).resolves({ Items: [] });
    ddb.on(UpdateCommand).resolves({});

    await recordDisconnect(deps(), 'alice');

    expect(ddb.commandCalls(UpdateCommand)[0]?.args[0].input).toMatchObject({
      ConditionExpression: '#version = :version AND #online = :true',
      ExpressionAttributeValues: { ':version': 3, ':now': NOW },
    });
    expect(publishedRecords(kinesis)).toEqual([presenceChanged('alice')]);
  });

  it('does nothing while another connection of the user is live', async () => {
    ddb.on(GetCommand).resolves(aliceAt({}));
    ddb.on(QueryCommand).resolves({
      Items: [
        {
          userId: 'alice',
          connectionId: 'other',
          deviceId: 'laptop',
          connectedAt: NOW,
          expiresAt: Math.floor(Date.now() / 1000) + 3600,
        },
      ],
    });

    await recordDisconnect(deps(), 'alice');

    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(0);
    expect(kinesis.calls()).toHaveLength(0);
  });

  it('publishes nothing when a connect came in between and the conditional update fails', async () => {
    ddb.on(GetCommand).resolves(aliceAt({ version: 3 }));
    ddb.on(QueryCommand).resolves({ Items: [] });
    ddb
      .on(UpdateCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
      );

    await recordDisconnect(deps(), 'alice');

    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(1);
    expect(kinesis.calls()).toHaveLength(0);
  });

  it.each([
    ['is already offline', aliceAt({ online: false, lastSeen: NOW - 5000 })],
    ['has no presence record', {}],
  ])('does nothing for a user who %s', async (_case, item) => {
    ddb.on(GetCommand).resolves(item);

    await recordDisconnect(deps(), 'alice');

    expect(ddb.calls()).toHaveLength(1);
    expect(kinesis.calls()).toHaveLength(0);
  });

  it('lets any other failure of the offline update through', async () => {
    ddb.on(GetCommand).resolves(aliceAt({}));
    ddb.on(QueryCommand).resolves({ Items: [] });
    ddb.on(UpdateCommand).rejects(new Error('InternalServerError'));

    await expect(recordDisconnect(deps(), 'alice')).rejects.toThrow('InternalServerError');
    expect(kinesis.calls()).toHaveLength(0);
  });
});

/**
 * The tables subscribePresence and the notifier read: the conversations' last seqs, the
 * presence records, the subscriptions; subscription writes are recorded.
 */
function serveTables(
  tables: {
    lastSeqs?: Record<string, number>;
    presence?: PresenceRecord[];
    subscriptions?: Record<string, Array<{ connectionId: string; subscriberUserId: string }>>;
  } = {},
) {
  ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => {
    const values = input.ExpressionAttributeValues ?? {};
    if (input.TableName === 'unit-conversations') {
      const lastSeq = tables.lastSeqs?.[values[':c'] as string] ?? 0;
      return { Items: lastSeq > 0 ? [{ seq: lastSeq }] : [] };
    }
    if (input.TableName === 'unit-presence-subscriptions') {
      const watchedUserId = values[':w'] as string;
      return {
        Items: (tables.subscriptions?.[watchedUserId] ?? []).map((subscription) => ({
          watchedUserId,
          ...subscription,
          expiresAt: NOW_SECONDS + 600,
        })),
      };
    }
    throw new Error(`no table ${input.TableName}`);
  });
  ddb.on(BatchGetCommand).callsFake((input: BatchGetCommandInput) => {
    const keys = input.RequestItems?.['unit-presence']?.Keys ?? [];
    const wanted = new Set(keys.map((key) => key.userId));
    return {
      Responses: { 'unit-presence': (tables.presence ?? []).filter((item) => wanted.has(item.userId)) },
    };
  });
  ddb.on(BatchWriteCommand).resolves({});
}

const subscriptionsWritten = () =>
  ddb
    .commandCalls(BatchWriteCommand)
    .flatMap((call) => call.args[0].input.RequestItems?.['unit-presence-subscriptions'] ?? [])
    .map((request) => request.PutRequest?.Item);

describe('the subscribePresence handler', () => {
  const frame = (overrides: Record<string, unknown> = {}) => ({
    action: 'subscribePresence',
    requestId: 'r5',
    userIds: ['bob'],
    ...overrides,
  });

  async function subscribe(overrides: Record<string, unknown> = {}) {
    const { provider, deps } = createTestDeps();
    const result = await invoke(createSubscribePresenceHandler(provider), messageEvent(frame(overrides)));
    return { result, deps };
  }

  it('answers the presence of users who share a conversation with the caller, and of the caller itself', async () => {
    serveTables({
      lastSeqs: { 'dm:alice:bob': 3, 'dm:alice:dave': 1 },
      presence: [
        record('alice'),
        record('bob'),
        record('dave', { online: false, lastSeen: NOW - 5000, expiresAt: 0 }),
      ],
    });

    const { result } = await subscribe({ userIds: ['bob', 'dave', 'alice'] });

    expect(result.statusCode).toBe(200);
    expect(answerOf<PresenceFrame>(result)).toEqual({
      type: 'presence',
      requestId: 'r5',
      users: [
        { userId: 'bob', online: true, lastSeen: null },
        { userId: 'dave', online: false, lastSeen: NOW - 5000 },
        { userId: 'alice', online: true, lastSeen: null },
      ],
    });
  });

  it('shows an online user whose record expired as offline since it last connected', async () => {
    serveTables({
      lastSeqs: { 'dm:alice:bob': 3 },
      presence: [record('bob', { expiresAt: NOW_SECONDS - 10 })],
    });

    const { result } = await subscribe();

    expect(answerOf<PresenceFrame>(result).users).toEqual([
      { userId: 'bob', online: false, lastSeen: NOW - 60_000 },
    ]);
  });

  it('shows a shared user never seen online as offline and never seen', async () => {
    serveTables({ lastSeqs: { 'dm:alice:bob': 3 } });

    const { result } = await subscribe();

    expect(answerOf<PresenceFrame>(result).users).toEqual([{ userId: 'bob', online: false, lastSeen: null }]);
  });

  it('shows strangers as offline and never seen, reads not their presence and subscribes to none of them', async () => {
    serveTables({
      lastSeqs: { 'dm:alice:bob': 3 },
      presence: [record('bob'), record('carol'), record('erin')],
    });

    const { result } = await subscribe({ userIds: ['carol', 'bob', 'erin'] });

    expect(answerOf<PresenceFrame>(result).users).toEqual([
      { userId: 'carol', online: false, lastSeen: null },
      { userId: 'bob', online: true, lastSeen: null },
      { userId: 'erin', online: false, lastSeen: null },
    ]);
    const read = ddb
      .commandCalls(BatchGetCommand)
      .flatMap((call) => call.args[0].input.RequestItems?.['unit-presence']?.Keys);
    expect(read).toEqual([{ userId: 'bob' }]);
    expect(subscriptionsWritten().map((item) => item?.watchedUserId)).toEqual(['bob']);
  });

  it('counts a conversation nobody has written in yet as not shared', async () => {
    serveTables({ lastSeqs: { 'dm:alice:carol': 0 }, presence: [record('carol')] });

    const { result } = await subscribe({ userIds: ['carol'] });

    expect(answerOf<PresenceFrame>(result).users).toEqual([
      { userId: 'carol', online: false, lastSeen: null },
    ]);
    expect(ddb.commandCalls(BatchGetCommand)).toHaveLength(0);
    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(0);
  });

  it('checks each other user’s conversation with the caller by its last seq, and never the caller’s own', async () => {
    serveTables({ lastSeqs: { 'dm:alice:bob': 3 } });

    await subscribe({ userIds: ['bob', 'alice', 'carol'] });

    const checked = ddb
      .commandCalls(QueryCommand)
      .map((call) => call.args[0].input)
      .filter((input) => input.TableName === 'unit-conversations');
    expect(checked.map((input) => input.ExpressionAttributeValues?.[':c']).sort()).toEqual([
      'dm:alice:bob',
      'dm:alice:carol',
    ]);
    expect(checked[0]).toMatchObject({ ConsistentRead: true, Limit: 1, ScanIndexForward: false });
  });

  it('subscribes the connection to each visible user until the connection expires', async () => {
    serveTables({ lastSeqs: { 'dm:alice:bob': 3 } });

    const { deps } = await subscribe({ userIds: ['bob', 'alice'] });

    const expiresAt = NOW_SECONDS + deps.config.connectionTtlSeconds;
    expect(ddb.commandCalls(BatchWriteCommand).map((call) => call.args[0].input)).toEqual([
      {
        RequestItems: {
          'unit-presence-subscriptions': [
            {
              PutRequest: {
                Item: {
                  watchedUserId: 'bob',
                  connectionId: CONNECTION_ID,
                  subscriberUserId: 'alice',
                  expiresAt,
                },
              },
            },
            {
              PutRequest: {
                Item: {
                  watchedUserId: 'alice',
                  connectionId: CONNECTION_ID,
                  subscriberUserId: 'alice',
                  expiresAt,
                },
              },
            },
          ],
        },
      } satisfies BatchWriteCommandInput,
    ]);
  });

  it('answers and subscribes once for a user named twice', async () => {
    serveTables({ lastSeqs: { 'dm:alice:bob': 3 }, presence: [record('bob')] });

    const { result } = await subscribe({ userIds: ['bob', 'carol', 'bob', 'carol'] });

    expect(answerOf<PresenceFrame>(result).users).toEqual([
      { userId: 'bob', online: true, lastSeen: null },
      { userId: 'carol', online: false, lastSeen: null },
    ]);
    expect(subscriptionsWritten().map((item) => item?.watchedUserId)).toEqual(['bob']);
    expect(
      ddb.commandCalls(QueryCommand).filter((call) => call.args[0].input.TableName === 'unit-conversations'),
    ).toHaveLength(2);
  });

  it('writes the subscriptions of 100 users 25 to a call and reads their presence in one call', async () => {
    const userIds = Array.from({ length: 100 }, (_, index) => `user${String(index).padStart(3, '0')}`);
    serveTables({ lastSeqs: Object.fromEntries(userIds.map((userId) => [`dm:alice:${userId}`, 1])) });

    const { result } = await subscribe({ userIds });

    expect(answerOf<PresenceFrame>(result).users).toHaveLength(100);
    const batches = ddb
      .commandCalls(BatchWriteCommand)
      .map((call) => call.args[0].input.RequestItems?.['unit-presence-subscriptions']?.length);
    expect(batches).toEqual([25, 25, 25, 25]);
    expect(ddb.commandCalls(BatchGetCommand)).toHaveLength(1);
  });

  it('writes again the subscriptions DynamoDB left unprocessed', async () => {
    serveTables({ lastSeqs: { 'dm:alice:bob': 3, 'dm:alice:carol': 1 } });
    const unprocessed = [
      {
        PutRequest: {
          Item: { watchedUserId: 'carol', connectionId: CONNECTION_ID, subscriberUserId: 'alice' },
        },
      },
    ];
    ddb
      .on(BatchWriteCommand)
      .resolvesOnce({ UnprocessedItems: { 'unit-presence-subscriptions': unprocessed } })
      .resolves({});

    const { result } = await subscribe({ userIds: ['bob', 'carol'] });

    expect(answerOf<PresenceFrame>(result).type).toBe('presence');
    const calls = ddb.commandCalls(BatchWriteCommand).map((call) => call.args[0].input.RequestItems);
    expect(calls).toHaveLength(2);
    expect(calls[1]).toEqual({ 'unit-presence-subscriptions': unprocessed });
  });

  it('answers internal when subscriptions stay unprocessed after 5 attempts', async () => {
    serveTables({ lastSeqs: { 'dm:alice:bob': 3 } });
    ddb
      .on(BatchWriteCommand)
      .callsFake((input: BatchWriteCommandInput) => ({ UnprocessedItems: input.RequestItems }));

    const { result } = await subscribe();

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'r5',
      code: 'internal',
      message: INTERNAL_ERROR_MESSAGE,
    });
    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(5);
  });

  it('reads again the presence DynamoDB left unprocessed', async () => {
    serveTables({ lastSeqs: { 'dm:alice:bob': 3, 'dm:alice:carol': 1 } });
    ddb
      .on(BatchGetCommand)
      .resolvesOnce({
        Responses: { 'unit-presence': [record('bob')] },
        UnprocessedKeys: { 'unit-presence': { Keys: [{ userId: 'carol' }] } },
      })
      .resolves({
        Responses: { 'unit-presence': [record('carol', { online: false, lastSeen: NOW - 1, expiresAt: 0 })] },
      });

    const { result } = await subscribe({ userIds: ['bob', 'carol'] });

    expect(answerOf<PresenceFrame>(result).users).toEqual([
      { userId: 'bob', online: true, lastSeen: null },
      { userId: 'carol', online: false, lastSeen: NOW - 1 },
    ]);
    expect(ddb.commandCalls(BatchGetCommand)[1]?.args[0].input.RequestItems).toEqual({
      'unit-presence': { Keys: [{ userId: 'carol' }] },
    });
  });

  it('answers internal when the presence read fails', async () => {
    serveTables({ lastSeqs: { 'dm:alice:bob': 3 } });
    ddb.on(BatchGetCommand).rejects(new Error('InternalServerError'));

    const { result } = await subscribe();

    expect(errorOf(result)).toMatchObject({ requestId: 'r5', code: 'internal' });
  });

  it.each([
    { name: 'an empty list', frame: { userIds: [] }, message: 'userIds: must hold 1 to 100 user ids' },
    {
      name: 'a list of 101 users',
      frame: { userIds: Array.from({ length: 101 }, (_, index) => `u${index}`) },
      message: 'userIds: must hold 1 to 100 user ids',
    },
    {
      name: 'a single id instead of a list',
      frame: { userIds: 'bob' },
      message: 'userIds: must be a list of user ids',
    },
    { name: 'a missing list', frame: { userIds: undefined }, message: 'userIds: is required' },
    {
      name: 'a list holding something that is not a user id',
      frame: { userIds: ['bob', 'bo b'] },
      message: `userIds.1: ${ID_RULE_MESSAGE}`,
    },
    { name: 'an unknown field', frame: { users: ['bob'] }, message: 'users: is not a field of this action' },
  ])('refuses $name with bad_request and touches nothing', async ({ frame: overrides, message }) => {
    const { result } = await subscribe(overrides);

    expect(errorOf(result)).toEqual({ type: 'error', requestId: 'r5', code: 'bad_request', message });
    expect(ddb.calls()).toHaveLength(0);
  });
});

describe('the presence notifier', () => {
  const posted = () =>
    api.commandCalls(PostToConnectionCommand).map((call) => ({
      connectionId: call.args[0].input.ConnectionId,
      frame: JSON.parse(Buffer.from(call.args[0].input.Data as Uint8Array).toString('utf8')) as PresenceFrame,
    }));
  const byConnection = () =>
    Object.fromEntries(posted().map(({ connectionId, frame }) => [connectionId, frame]));

  /** bob online and carol offline; alice's phone watches both, dave's tablet watches bob. */
  function watchedBobAndCarol() {
    serveTables({
      presence: [record('bob'), record('carol', { online: false, lastSeen: NOW - 2000, expiresAt: 0 })],
      subscriptions: {
        bob: [
          { connectionId: 'conn-alice-phone', subscriberUserId: 'alice' },
          { connectionId: 'conn-dave-tablet', subscriberUserId: 'dave' },
        ],
        carol: [{ connectionId: 'conn-alice-phone', subscriberUserId: 'alice' }],
      },
    });
  }

  async function notify(batch = presenceStreamEvent()) {
    const { provider } = createTestDeps();
    return createPresenceNotifierHandler(provider)(batch, lambdaContext);
  }

  it('sends each subscribed connection one frame holding every changed user it watches', async () => {
    watchedBobAndCarol();

    await notify();

    expect(posted()).toHaveLength(2);
    expect(byConnection()).toEqual({
      'conn-alice-phone': {
        type: 'presence',
        users: [
          { userId: 'bob', online: true, lastSeen: null },
          { userId: 'carol', online: false, lastSeen: NOW - 2000 },
        ],
      },
      'conn-dave-tablet': { type: 'presence', users: [{ userId: 'bob', online: true, lastSeen: null }] },
    });
  });

  it('reads each changed user’s presence once and its live subscribers once', async () => {
    watchedBobAndCarol();

    await notify();

    expect(ddb.commandCalls(BatchGetCommand).map((call) => call.args[0].input.RequestItems)).toEqual([
      { 'unit-presence': { Keys: [{ userId: 'bob' }, { userId: 'carol' }] } },
    ]);
    expect(ddb.commandCalls(QueryCommand).map((call) => call.args[0].input)).toEqual(
      ['bob', 'carol'].map((watchedUserId) => ({
        TableName: 'unit-presence-subscriptions',
        KeyConditionExpression: 'watchedUserId = :w',
        FilterExpression: 'expiresAt > :now',
        ExpressionAttributeValues: { ':w': watchedUserId, ':now': NOW_SECONDS },
        ExclusiveStartKey: undefined,
      })),
    );
  });

  it('sends the state at the time of sending: an expired online record as offline', async () => {
    serveTables({
      presence: [record('bob', { expiresAt: NOW_SECONDS - 1 })],
      subscriptions: { bob: [{ connectionId: 'conn-alice-phone', subscriberUserId: 'alice' }] },
    });

    await notify(kinesisEventOf([{ type: 'presence-changed', userId: 'bob' }]));

    expect(byConnection()).toEqual({
      'conn-alice-phone': {
        type: 'presence',
        users: [{ userId: 'bob', online: false, lastSeen: NOW - 60_000 }],
      },
    });
  });

  it('unsubscribes a connection that answers 410 Gone from every user it watched', async () => {
    watchedBobAndCarol();
    api
      .on(PostToConnectionCommand, { ConnectionId: 'conn-alice-phone' })
      .rejects(new GoneException({ message: 'Gone', $metadata: { httpStatusCode: 410 } }));

    await notify();

    expect(ddb.commandCalls(DeleteCommand).map((call) => call.args[0].input)).toEqual([
      {
        TableName: 'unit-presence-subscriptions',
        Key: { watchedUserId: 'bob', connectionId: 'conn-alice-phone' },
      },
      {
        TableName: 'unit-presence-subscriptions',
        Key: { watchedUserId: 'carol', connectionId: 'conn-alice-phone' },
      },
    ]);
    expect(posted().map((post) => post.connectionId)).toContain('conn-dave-tablet');
  });

  it('counts a connection that answered 410 Gone', async () => {
    watchedBobAndCarol();
    api
      .on(PostToConnectionCommand, { ConnectionId: 'conn-alice-phone' })
      .rejects(new GoneException({ message: 'Gone', $metadata: { httpStatusCode: 410 } }));
    const { provider, metrics } = createTestDeps();

    await createPresenceNotifierHandler(provider)(presenceStreamEvent(), lambdaContext);

    expect(metrics.values('GoneConnections')).toEqual([1]);
  });

  it('publishes the metrics of a batch that fails', async () => {
    watchedBobAndCarol();
    api
      .on(PostToConnectionCommand, { ConnectionId: 'conn-alice-phone' })
      .rejects(new GoneException({ message: 'Gone', $metadata: { httpStatusCode: 410 } }));
    api
      .on(PostToConnectionCommand, { ConnectionId: 'conn-dave-tablet' })
      .rejects(new LimitExceededException({ message: 'Limit exceeded', $metadata: { httpStatusCode: 429 } }));
    const { provider, metrics } = createTestDeps();
    const flush = vi.spyOn(metrics, 'flush');

    await expect(
      createPresenceNotifierHandler(provider)(presenceStreamEvent(), lambdaContext),
    ).rejects.toThrow('presence posts failed');

    expect(flush).toHaveBeenCalledTimes(1);
    expect(metrics.values('GoneConnections')).toEqual([1]);
  });

  it('fails the batch when a post fails, after trying every connection', async () => {
    watchedBobAndCarol();
    api
      .on(PostToConnectionCommand, { ConnectionId: 'conn-alice-phone' })
      .rejects(new LimitExceededException({ message: 'Limit exceeded', $metadata: { httpStatusCode: 429 } }));

    await expect(notify()).rejects.toThrow('presence posts failed');
    expect(api.commandCalls(PostToConnectionCommand)).toHaveLength(2);
  });

  it('fails the batch when unsubscribing a gone connection fails', async () => {
    watchedBobAndCarol();
    api.on(PostToConnectionCommand).rejects(new GoneException({ message: 'Gone', $metadata: {} }));
    ddb.on(DeleteCommand).rejects(new Error('InternalServerError'));

    await expect(notify()).rejects.toThrow('presence posts failed');
  });

  it('posts nothing for users nobody watches', async () => {
    serveTables({ presence: [record('bob')] });

    await notify();

    expect(api.calls()).toHaveLength(0);
  });

  it('ignores records that are not presence changes', async () => {
    await notify(kinesisEvent());

    expect(ddb.calls()).toHaveLength(0);
    expect(api.calls()).toHaveLength(0);
  });

  it('handles the presence changes of a mixed batch and skips the rest', async () => {
    watchedBobAndCarol();
    const batch = kinesisEventOf([
      { data: Buffer.from('{"type":"presence-changed",').toString('base64'), partitionKey: 'presence:x' },
      {
        data: Buffer.from('{"type":"presence-changed","userId":7}').toString('base64'),
        partitionKey: 'presence:x',
      },
      { data: Buffer.from('null').toString('base64'), partitionKey: 'presence:x' },
      {
        type: 'receipt',
        conversationId: 'dm:alice:bob',
        userId: 'bob',
        kind: 'read',
        seq: 1,
      },
      { type: 'presence-changed', userId: 'carol' },
    ]);

    await notify(batch);

    expect(byConnection()).toEqual({
      'conn-alice-phone': {
        type: 'presence',
        users: [{ userId: 'carol', online: false, lastSeen: NOW - 2000 }],
      },
    });
  });
});
