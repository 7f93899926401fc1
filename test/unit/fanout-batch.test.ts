/**
 * The fanout's batch policy (`lambdas/domain/fanout-batch.ts`), over real adapters and mocked
 * AWS clients: grouping and ordering, which connections it reads when, the conversation
 * lists, which records it gives back for retry, what it skips, and its metrics.
 */
import {
  GoneException,
  PostToConnectionCommand,
  type PostToConnectionCommandInput,
} from '@aws-sdk/client-apigatewaymanagementapi';
import {
  BatchGetCommand,
  type BatchGetCommandInput,
  DeleteCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { ReceiptEventFrame } from '@parley/protocol';
import type { KinesisStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { RECENT_CONNECTIONS_MS } from '../../lambdas/domain/fanout-batch.js';
import {
  ALICE_BOB_1,
  ALICE_BOB_2,
  ALICE_BOB_3,
  api,
  BOB_CAROL_1,
  batchOf,
  CONNECTIONS,
  connection,
  createFanout,
  ddb,
  failPost,
  forbiddenError,
  givenBobConnectsDuringTheListWrite,
  goneError,
  lastSeqs,
  lists,
  messageOf,
  posts,
  serveConnections,
  textOf,
  useFanoutFixtures,
} from './support/fanout-fixtures.js';
import { createTestDeps, kinesisEvent, kinesisEventOf, NOW, testConfig } from './support/harness.js';

useFanoutFixtures();

/** The ids of the fixture's records at `indexes`. */
const idsOf = (batch: KinesisStreamEvent, ...indexes: number[]) =>
  indexes.map((index) => batch.Records[index]?.kinesis.sequenceNumber);

describe('the fanout batch policy', () => {
  it('looks up the connections of each member once to deliver and once more after writing the list', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    const batch = kinesisEvent();
    batch.Records = batch.Records.slice(ALICE_BOB_1, ALICE_BOB_1 + 1);

    await createFanout(provider)(batch);

    const users = ddb
      .commandCalls(QueryCommand)
      .map((call) => call.args[0].input.ExpressionAttributeValues?.[':u']);
    expect(users.sort()).toEqual(['alice', 'alice', 'bob', 'bob']);
  });

  it('looks up each member’s connections once per batch, however many of its events the batch holds', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    // dm:alice:bob 1, 2, 3 and dm:bob:carol 1: bob is in both conversations.
    const batch = kinesisEvent();

    const retried = await createFanout(provider)(batch);

    expect(retried).toEqual([]);
    const users = ddb
      .commandCalls(QueryCommand)
      .map((call) => call.args[0].input.ExpressionAttributeValues?.[':u']);
    // Once for the posts, once more after the list write.
    expect(users.sort()).toEqual(['alice', 'alice', 'bob', 'bob', 'carol', 'carol']);
    expect(posts().filter((post) => post.connectionId === 'conn-bob-phone')).toHaveLength(4);
  });

  it('posts a later batch’s events to the connections the previous batch read, and reads them only after the list write', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    const fanout = createFanout(provider);
    const [first, second] = [ALICE_BOB_1, ALICE_BOB_2].map((index) => {
      const batch = kinesisEvent();
      batch.Records = batch.Records.slice(index, index + 1);
      return batch;
    }) as [KinesisStreamEvent, KinesisStreamEvent];
    await fanout(first);
    const readsBefore = ddb.commandCalls(QueryCommand).length;

    const retried = await fanout(second);

    expect(retried).toEqual([]);
    // Only the read after the list write went to the store again.
    expect(readsBefore).toBe(4);
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(6);
    expect(
      posts()
        .filter((post) => post.seq === 2)
        .map((post) => post.connectionId)
        .sort(),
    ).toEqual(['conn-alice-laptop', 'conn-alice-phone', 'conn-bob-phone']);
  });

  it('posts a later batch’s events, after the list write, to a connection that appeared since the previous batch read them', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    const fanout = createFanout(provider);
    await fanout(batchOf(ALICE_BOB_1));
    const tablet = connection('bob', 'tablet');
    serveConnections({ ...CONNECTIONS, bob: [...(CONNECTIONS.bob ?? []), tablet] });

    const retried = await fanout(batchOf(ALICE_BOB_2));

    expect(retried).toEqual([]);
    expect(posts().filter((post) => post.connectionId === tablet.connectionId)).toEqual([
      { connectionId: tablet.connectionId, conversationId: 'dm:alice:bob', seq: 2 },
    ]);
  });

  it('reads the connections before the posts again once the previous batch’s read is too old', async () => {
    const { deps } = createTestDeps();
    let now = NOW;
    serveConnections();
    const fanout = createFanout(() => ({ ...deps, now: () => now }));
    await fanout(batchOf(ALICE_BOB_1));
    now += RECENT_CONNECTIONS_MS + 1;

    await fanout(batchOf(ALICE_BOB_2));

    expect(ddb.commandCalls(QueryCommand)).toHaveLength(8);
  });

  it('writes the conversation lists while the posts are in flight', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    let listWriteStarted: () => void = () => {};
    const listWrite = new Promise<void>((resolve) => {
      listWriteStarted = resolve;
    });
    ddb.on(TransactWriteCommand).callsFake((input: TransactWriteCommandInput) => {
      listWriteStarted();
      return lists.transactWrite(input);
    });
    // No post ends before a list write has begun: the handler would never end if it waited for the posts.
    api.on(PostToConnectionCommand).callsFake(async () => {
      await listWrite;
      return {};
    });
    const batch = kinesisEvent();
    batch.Records = batch.Records.slice(ALICE_BOB_1, ALICE_BOB_1 + 1);

    const retried = await createFanout(provider)(batch);

    expect(retried).toEqual([]);
    expect(lastSeqs('dm:alice:bob')).toEqual({ alice: 1, bob: 1 });
    expect(posts()).toHaveLength(3);
  });

  it('posts nothing more to a gone connection for the rest of the batch, the posts after the list write included', async () => {
    const { provider, metrics } = createTestDeps();
    serveConnections();
    api.on(PostToConnectionCommand).callsFake((input: PostToConnectionCommandInput) => {
      if (input.ConnectionId === 'conn-bob-phone') {
        throw goneError();
      }
      return {};
    });
    const batch = kinesisEvent();

    const retried = await createFanout(provider)(batch);

    expect(retried).toEqual([]);
    // The first event of each of bob's two conversations, posted at the same time, found it gone.
    expect(
      posts()
        .filter((post) => post.connectionId === 'conn-bob-phone')
        .map((post) => `${post.conversationId} ${post.seq}`)
        .sort(),
    ).toEqual(['dm:alice:bob 1', 'dm:bob:carol 1']);
    expect(ddb.commandCalls(DeleteCommand)).toHaveLength(2);
    expect(metrics.values('GoneConnections')).toEqual([1, 1]);
    expect(
      posts()
        .filter((post) => post.connectionId === 'conn-alice-laptop')
        .map((post) => post.seq),
    ).toEqual([1, 2, 3]);
  });

  it('posts every delivered event, in order, to a connection that appeared while the list was written', async () => {
    const { provider } = createTestDeps();
    const late = {
      userId: 'bob',
      connectionId: 'conn-bob-late',
      deviceId: 'late',
      connectedAt: 1,
      expiresAt: 4_000_000_000,
    };
    const batch = givenBobConnectsDuringTheListWrite(late);

    const retried = await createFanout(provider)(batch);

    expect(retried).toEqual([]);
    const toLate = posts().filter((post) => post.connectionId === 'conn-bob-late');
    const toPhone = posts().filter((post) => post.connectionId === 'conn-bob-phone');
    expect(toPhone.map((post) => post.seq)).toEqual([1, 2, 3]);
    expect(toLate.map((post) => post.seq)).toEqual([1, 2, 3]);
  });

  it('leaves out expired connections, which DynamoDB deletes only eventually', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    const before = Math.floor(Date.now() / 1000);
    const batch = kinesisEvent();
    batch.Records = batch.Records.slice(ALICE_BOB_1, ALICE_BOB_1 + 1);

    await createFanout(provider)(batch);

    const [query] = ddb.commandCalls(QueryCommand).map((call) => call.args[0].input);
    expect(query).toMatchObject({
      TableName: 'unit-connections',
      KeyConditionExpression: 'userId = :u',
      FilterExpression: 'expiresAt > :now',
    });
    const now = query?.ExpressionAttributeValues?.[':now'] as number;
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
  });

  it('reads every page of a user’s connections', async () => {
    const { provider } = createTestDeps();
    const lastKey = { userId: 'alice', connectionId: 'conn-alice-phone' };
    ddb
      .on(QueryCommand, { ExpressionAttributeValues: { ':u': 'alice' } })
      .resolvesOnce({ Items: CONNECTIONS.alice?.slice(0, 1), LastEvaluatedKey: lastKey })
      .resolves({ Items: CONNECTIONS.alice?.slice(1) });
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':u': 'bob' } }).resolves({ Items: CONNECTIONS.bob });
    const batch = kinesisEvent();
    batch.Records = batch.Records.slice(ALICE_BOB_1, ALICE_BOB_1 + 1);

    await createFanout(provider)(batch);

    expect(
      posts()
        .map((post) => post.connectionId)
        .sort(),
    ).toEqual(['conn-alice-laptop', 'conn-alice-phone', 'conn-bob-phone']);
    const aliceQueries = ddb
      .commandCalls(QueryCommand)
      .map((call) => call.args[0].input)
      .filter((input) => input.ExpressionAttributeValues?.[':u'] === 'alice');
    // The second lookup, after the list write, starts from the first page again.
    expect(aliceQueries.map((input) => input.ExclusiveStartKey)).toEqual([undefined, lastKey, undefined]);
  });

  it('delivers the records of one conversation in stream order', async () => {
    const { provider } = createTestDeps();
    serveConnections();

    const retried = await createFanout(provider)(kinesisEvent());

    expect(retried).toEqual([]);
    const toBobsPhone = posts().filter((post) => post.connectionId === 'conn-bob-phone');
    expect(
      toBobsPhone.filter((post) => post.conversationId === 'dm:alice:bob').map((post) => post.seq),
    ).toEqual([1, 2, 3]);
    expect(toBobsPhone.filter((post) => post.conversationId === 'dm:bob:carol')).toHaveLength(1);
    expect(lastSeqs('dm:alice:bob')).toEqual({ alice: 3, bob: 3 });
    expect(lastSeqs('dm:bob:carol')).toEqual({ bob: 1, carol: 1 });
  });

  it('deletes a connection that answers 410 Gone and counts its record delivered', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    failPost('conn-bob-phone', 'dm:alice:bob', 1, goneError());
    const batch = kinesisEvent();
    batch.Records = batch.Records.slice(ALICE_BOB_1, ALICE_BOB_1 + 1);

    const retried = await createFanout(provider)(batch);

    expect(retried).toEqual([]);
    expect(ddb.commandCalls(DeleteCommand).map((call) => call.args[0].input)).toEqual([
      { TableName: 'unit-connections', Key: { userId: 'bob', connectionId: 'conn-bob-phone' } },
    ]);
  });

  it('reports every record of a conversation when its first record fails', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    failPost('conn-bob-phone', 'dm:alice:bob', 1, new Error('socket hang up'));
    const batch = kinesisEvent();

    const retried = await createFanout(provider)(batch);

    expect(retried).toEqual(idsOf(batch, ALICE_BOB_1, ALICE_BOB_2, ALICE_BOB_3));
    expect(posts().filter((post) => post.conversationId === 'dm:bob:carol')).toHaveLength(2);
    // Written beside the posts; the retry merges nothing new.
    expect(lastSeqs('dm:alice:bob')).toEqual({ alice: 3, bob: 3 });
    expect(lastSeqs('dm:bob:carol')).toEqual({ bob: 1, carol: 1 });
  });

  it('reports a record whose connection lookup failed', async () => {
    const { provider } = createTestDeps();
    ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => {
      if (input.ExpressionAttributeValues?.[':u'] === 'carol')
        throw new Error('ProvisionedThroughputExceeded');
      return { Items: CONNECTIONS[input.ExpressionAttributeValues?.[':u'] as string] };
    });
    const batch = kinesisEvent();

    const retried = await createFanout(provider)(batch);

    expect(retried).toEqual(idsOf(batch, BOB_CAROL_1));
    expect(lastSeqs('dm:bob:carol')).toEqual({ bob: 1, carol: 1 });
    expect(lastSeqs('dm:alice:bob')).toEqual({ alice: 3, bob: 3 });
  });

  it('keeps a connection still in its handshake that answers 410, and posts to it again after the list write', async () => {
    const { provider, metrics } = createTestDeps();
    // Registered by $connect a second ago: API Gateway answers 410 until the handshake ends.
    const opening = { ...connection('bob', 'opening'), connectedAt: NOW - 1_000 };
    serveConnections({ ...CONNECTIONS, bob: [...(CONNECTIONS.bob ?? []), opening] });
    let refused = 0;
    api.on(PostToConnectionCommand).callsFake((input: PostToConnectionCommandInput) => {
      if (input.ConnectionId === opening.connectionId && refused++ === 0) {
        throw goneError();
      }
      return {};
    });
    const batch = kinesisEvent();
    batch.Records = batch.Records.slice(ALICE_BOB_1, ALICE_BOB_1 + 1);

    const retried = await createFanout(provider)(batch);

    expect(retried).toEqual([]);
    expect(ddb.commandCalls(DeleteCommand)).toEqual([]);
    expect(metrics.values('GoneConnections')).toEqual([]);
    expect(posts().filter((post) => post.connectionId === opening.connectionId)).toEqual([
      { connectionId: opening.connectionId, conversationId: 'dm:alice:bob', seq: 1 },
      { connectionId: opening.connectionId, conversationId: 'dm:alice:bob', seq: 1 },
    ]);
  });

  it('reports a record when deleting a gone connection failed', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    failPost('conn-carol-tablet', 'dm:bob:carol', 1, new GoneException({ message: '410', $metadata: {} }));
    ddb.on(DeleteCommand).rejects(new Error('InternalServerError'));
    const batch = kinesisEvent();

    const retried = await createFanout(provider)(batch);

    expect(retried).toEqual(idsOf(batch, BOB_CAROL_1));
  });

  it.each([
    ['is not JSON', Buffer.from('{"type":"message",').toString('base64')],
    ['is not a message event', Buffer.from('{"type":"presence","users":[]}').toString('base64')],
    [
      'is a presence change, which has its own consumer',
      Buffer.from('{"type":"presence-changed","userId":"alice"}').toString('base64'),
    ],
    [
      'is a message without a seq',
      Buffer.from(JSON.stringify({ type: 'message', conversationId: 'dm:alice:bob' })).toString('base64'),
    ],
    ['is JSON null', Buffer.from('null').toString('base64')],
    [
      'names no conversation',
      Buffer.from(JSON.stringify({ type: 'message', conversationId: 'dm:alice', seq: 2 })).toString('base64'),
    ],
  ])('skips a record that %s without failing it or the records after it', async (_case, data) => {
    const { provider } = createTestDeps();
    serveConnections();
    const batch = kinesisEvent();
    const skipped = batch.Records[ALICE_BOB_2];
    if (skipped) skipped.kinesis.data = data;

    const retried = await createFanout(provider)(batch);

    expect(retried).toEqual([]);
    const aliceBob = posts().filter((post) => post.conversationId === 'dm:alice:bob');
    expect(aliceBob.map((post) => post.seq).sort()).toEqual([1, 1, 1, 3, 3, 3]);
    expect(lastSeqs('dm:alice:bob')).toEqual({ alice: 3, bob: 3 });
  });

  it('has at most postConcurrency posts in flight for one event', async () => {
    const { provider } = createTestDeps({ config: testConfig({ postConcurrency: 2 }) });
    const many = Array.from({ length: 6 }, (_, index) => connection('alice', `device${index}`));
    serveConnections({ alice: many, bob: [] });
    let inFlight = 0;
    let mostInFlight = 0;
    api.on(PostToConnectionCommand).callsFake(async () => {
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      return {};
    });
    const batch = kinesisEvent();
    batch.Records = batch.Records.slice(ALICE_BOB_1, ALICE_BOB_1 + 1);

    await createFanout(provider)(batch);

    expect(api.commandCalls(PostToConnectionCommand)).toHaveLength(6);
    expect(mostInFlight).toBe(2);
  });
});

describe('the fanout batch bringing the conversation lists up to date', () => {
  const receipt = (userId: string, kind: 'delivered' | 'read', seq: number): ReceiptEventFrame => ({
    type: 'receipt',
    conversationId: 'dm:alice:bob',
    userId,
    kind,
    seq,
  });
  const transactWrites = () =>
    ddb.commandCalls(TransactWriteCommand).map((call) => call.args[0].input as TransactWriteCommandInput);
  /** Each entry written, as `user conversation`: every item of a transaction after the clock. */
  const writtenEntries = () =>
    transactWrites().flatMap((input) =>
      (input.TransactItems ?? [])
        .slice(1)
        .map((item) => `${item.Put?.Item?.userId} ${item.Put?.Item?.conversationId}`),
    );

  it('writes all of a user’s changed entries of a batch in one transaction with its clock', async () => {
    const { provider } = createTestDeps();
    serveConnections();

    await createFanout(provider)(kinesisEvent());

    const bobsWrites = transactWrites().filter(
      (input) => input.TransactItems?.[0]?.Put?.Item?.userId === 'bob',
    );
    expect(bobsWrites).toHaveLength(1);
    const items = bobsWrites[0]?.TransactItems ?? [];
    expect(items.map((item) => item.Put?.Item?.itemKey)).toEqual(
      expect.arrayContaining(['clock', 'conv#dm:alice:bob', 'conv#dm:bob:carol']),
    );
    // Distinct, increasing times: a page boundary never falls between two equal ones.
    const times = items.slice(1).map((item) => item.Put?.Item?.changedAt as number);
    expect(new Set(times).size).toBe(times.length);
    expect(items[0]?.Put?.Item?.lastUpdatedAt).toBe(Math.max(...times));
  });

  it('writes both members’ entries in one transaction once the instance knows their lists', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    const fanout = createFanout(provider);
    await fanout(batchOf(ALICE_BOB_1));
    ddb.resetHistory();

    const retried = await fanout(batchOf(ALICE_BOB_2));

    expect(retried).toEqual([]);
    expect(transactWrites().map((input) => input.TransactItems?.length)).toEqual([4]);
    expect(ddb.commandCalls(BatchGetCommand)).toHaveLength(0);
    expect(lastSeqs('dm:alice:bob')).toEqual({ alice: 2, bob: 2 });
  });

  it('merges all the events of a conversation in a batch into one write per member', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    const batch = kinesisEvent();

    await createFanout(provider)(batch);

    expect(writtenEntries().sort()).toEqual([
      'alice dm:alice:bob',
      'bob dm:alice:bob',
      'bob dm:bob:carol',
      'carol dm:bob:carol',
    ]);
    expect(lists.entry('bob', 'dm:alice:bob')).toMatchObject({
      lastSeq: 3,
      lastMessage: messageOf(batch, ALICE_BOB_3),
    });
  });

  it('reads each entry and the user’s clock together, strongly consistent, before writing', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    const batch = kinesisEvent();
    batch.Records = batch.Records.slice(ALICE_BOB_1, ALICE_BOB_1 + 1);

    await createFanout(provider)(batch);

    const reads = ddb.commandCalls(BatchGetCommand).map((call) => call.args[0].input);
    expect(reads).toHaveLength(2);
    expect(reads).toContainEqual({
      RequestItems: {
        'unit-user-conversations': {
          Keys: [
            { userId: 'alice', itemKey: 'clock' },
            { userId: 'alice', itemKey: 'conv#dm:alice:bob' },
          ],
          ConsistentRead: true,
        },
      },
    });
  });

  it('gives a user’s entries strictly increasing updatedAt, even within one millisecond', async () => {
    const { provider } = createTestDeps();
    serveConnections();

    await createFanout(provider)(kinesisEvent());

    const bobs = [
      lists.entry('bob', 'dm:alice:bob')?.changedAt,
      lists.entry('bob', 'dm:bob:carol')?.changedAt,
    ];
    expect(bobs.sort()).toEqual([NOW, NOW + 1]);
    expect(lists.clock('bob')).toBe(NOW + 1);
    expect(lists.entry('alice', 'dm:alice:bob')?.changedAt).toBe(NOW);
  });

  it('delivers a receipt event as published to both members and merges it into their entries', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    await createFanout(provider)(kinesisEvent());
    api.reset();
    const batch = kinesisEventOf([receipt('bob', 'read', 2)]);

    const retried = await createFanout(provider)(batch);

    expect(retried).toEqual([]);
    const published = Buffer.from(batch.Records[0]?.kinesis.data ?? '', 'base64').toString('utf8');
    const calls = api.commandCalls(PostToConnectionCommand).map((call) => call.args[0].input);
    expect(calls.map((input) => input.ConnectionId).sort()).toEqual([
      'conn-alice-laptop',
      'conn-alice-phone',
      'conn-bob-phone',
    ]);
    for (const input of calls) expect(textOf(input)).toBe(published);
    for (const userId of ['alice', 'bob']) {
      expect(lists.entry(userId, 'dm:alice:bob')).toMatchObject({
        lastSeq: 3,
        receipts: [
          { userId: 'alice', deliveredSeq: 0, readSeq: 0 },
          { userId: 'bob', deliveredSeq: 2, readSeq: 2 },
        ],
      });
    }
  });

  it('creates no entry for a receipt alone', async () => {
    const { provider } = createTestDeps();
    serveConnections();

    const retried = await createFanout(provider)(kinesisEventOf([receipt('bob', 'delivered', 1)]));

    expect(retried).toEqual([]);
    expect(api.commandCalls(PostToConnectionCommand)).toHaveLength(3);
    expect(transactWrites()).toHaveLength(0);
    expect(lastSeqs('dm:alice:bob')).toEqual({ alice: undefined, bob: undefined });
  });

  it('writes nothing when a retried batch brings nothing new', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    await createFanout(provider)(kinesisEvent());
    const before = lists.entry('alice', 'dm:alice:bob');
    ddb.resetHistory();

    const retried = await createFanout(provider)(kinesisEvent());

    expect(retried).toEqual([]);
    expect(transactWrites()).toHaveLength(0);
    expect(lists.entry('alice', 'dm:alice:bob')).toEqual(before);
  });

  it('reports every record of the conversations of a user whose list update failed, and only those', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    ddb.on(TransactWriteCommand).callsFake((input: TransactWriteCommandInput) => {
      if (input.TransactItems?.[0]?.Put?.Item?.userId === 'alice') throw new Error('InternalServerError');
      return lists.transactWrite(input);
    });
    const batch = kinesisEvent();

    const retried = await createFanout(provider)(batch);

    // Alice is in dm:alice:bob only: its records are retried, dm:bob:carol is done.
    expect(retried).toEqual(idsOf(batch, ALICE_BOB_1, ALICE_BOB_2, ALICE_BOB_3));
    expect(posts().filter((post) => post.conversationId === 'dm:alice:bob')).toHaveLength(9);
    expect(lastSeqs('dm:bob:carol')).toEqual({ bob: 1, carol: 1 });
  });

  it('reports every record of the conversations whose list update failed with a delivered part', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    failPost('conn-bob-phone', 'dm:alice:bob', 3, new Error('socket hang up'));
    ddb.on(BatchGetCommand).callsFake((input: BatchGetCommandInput) => {
      const keys = input.RequestItems?.['unit-user-conversations']?.Keys ?? [];
      if (keys.some((key) => key.itemKey === 'conv#dm:alice:bob')) throw new Error('InternalServerError');
      return lists.batchGet(input);
    });
    const batch = kinesisEvent();

    const retried = await createFanout(provider)(batch);

    // Delivery failed at seq 3, but seq 1 and 2 could not be checkpointed without their list
    // update; bob's entries are written together, so dm:bob:carol is retried with them.
    expect(retried).toEqual(idsOf(batch, ALICE_BOB_1, ALICE_BOB_2, ALICE_BOB_3, BOB_CAROL_1));
    expect(lastSeqs('dm:bob:carol')).toEqual({ bob: undefined, carol: 1 });
  });

  it('reports the records of a conversation whose list read was throttled, rather than drop a receipt', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    lists.put({
      userId: 'alice',
      itemKey: 'conv#dm:alice:bob',
      conversationId: 'dm:alice:bob',
      members: ['alice', 'bob'],
      lastSeq: 3,
      lastMessage: null,
      receipts: [
        { userId: 'alice', deliveredSeq: 0, readSeq: 0 },
        { userId: 'bob', deliveredSeq: 0, readSeq: 0 },
      ],
      updatedAt: NOW - 10,
    });
    ddb.on(BatchGetCommand).callsFake(() => ({
      Responses: { 'unit-user-conversations': [] },
      UnprocessedKeys: {
        'unit-user-conversations': {
          Keys: [
            { userId: 'alice', itemKey: 'clock' },
            { userId: 'alice', itemKey: 'conv#dm:alice:bob' },
          ],
          ConsistentRead: true,
        },
      },
    }));
    const batch = kinesisEventOf([receipt('bob', 'read', 3)]);

    const retried = await createFanout(provider)(batch);

    expect(retried).toEqual(idsOf(batch, 0));
    expect(transactWrites()).toHaveLength(0);
  });
});

describe('the fanout batch’s metrics', () => {
  it('records, for each post of a message to a device, the time since its commit', async () => {
    const { provider, metrics } = createTestDeps();
    serveConnections();

    await createFanout(provider)(kinesisEvent());

    // dm:alice:bob seq 1, 2, 3 (serverTs NOW - 122, - 121, - 120) to alice's phone and
    // laptop and bob's phone; dm:bob:carol seq 1 (NOW - 122) to bob's phone and carol's tablet.
    expect(metrics.values('DeliveryLatency').sort((a, b) => a - b)).toEqual([
      120, 120, 120, 121, 121, 121, 122, 122, 122, 122, 122,
    ]);
  });

  it('counts every successful post of an event as delivered, a receipt’s too', async () => {
    const { provider, metrics } = createTestDeps();
    serveConnections();
    const receipt: ReceiptEventFrame = {
      type: 'receipt',
      conversationId: 'dm:alice:bob',
      userId: 'bob',
      kind: 'read',
      seq: 1,
    };
    const batch = kinesisEvent();
    batch.Records = [
      ...batch.Records.slice(ALICE_BOB_1, ALICE_BOB_1 + 1),
      ...kinesisEventOf([receipt]).Records,
    ];

    await createFanout(provider)(batch);

    expect(metrics.values('EventsDelivered')).toEqual([1, 1, 1, 1, 1, 1]);
    expect(metrics.values('DeliveryLatency')).toEqual([122, 122, 122]);
  });

  it('counts a connection that answers 410 Gone, and no delivery to it', async () => {
    const { provider, metrics } = createTestDeps();
    serveConnections();
    failPost('conn-bob-phone', 'dm:alice:bob', 1, goneError());
    const batch = kinesisEvent();
    batch.Records = batch.Records.slice(ALICE_BOB_1, ALICE_BOB_1 + 1);

    await createFanout(provider)(batch);

    expect(metrics.values('GoneConnections')).toEqual([1]);
    expect(metrics.sum('EventsDelivered')).toBe(2);
    expect(metrics.values('DeliveryLatency')).toHaveLength(2);
  });

  it('records nothing for a post that failed otherwise', async () => {
    const { provider, metrics } = createTestDeps();
    serveConnections();
    failPost('conn-bob-phone', 'dm:alice:bob', 1, forbiddenError());
    const batch = kinesisEvent();
    batch.Records = batch.Records.slice(ALICE_BOB_1, ALICE_BOB_1 + 1);

    await createFanout(provider)(batch);

    expect(metrics.sum('EventsDelivered')).toBe(2);
    expect(metrics.values('GoneConnections')).toEqual([]);
  });

  it('records the posts to a connection that appeared while the list was written', async () => {
    const { provider, metrics } = createTestDeps();
    const late = { ...connection('bob', 'late'), connectedAt: 1 };
    const batch = givenBobConnectsDuringTheListWrite(late);

    await createFanout(provider)(batch);

    const toLate = posts().filter((post) => post.connectionId === late.connectionId);
    expect(toLate.map((post) => post.seq)).toEqual([1, 2, 3]);
    expect(metrics.sum('EventsDelivered')).toBe(posts().length);
    expect(metrics.values('DeliveryLatency')).toHaveLength(posts().length);
  });
});
