/**
 * What the fanout's tests share (the handler's and the batch policy's): the AWS client
 * mocks, the members' conversation lists behind them (a fresh table for each test), the
 * connections of alice, bob and carol, and readers of what was posted.
 */
import {
  ForbiddenException,
  GoneException,
  LimitExceededException,
  PostToConnectionCommand,
  type PostToConnectionCommandInput,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { Message } from '@parley/protocol';
import type { KinesisStreamEvent } from 'aws-lambda';
import { beforeEach } from 'vitest';
import { createBatchFanout, type StreamRecord } from '../../../lambdas/domain/fanout-batch.js';
import type { Connection } from '../../../lambdas/domain/ports.js';
import { type DepsProvider, fanoutDeps } from '../../../lambdas/runtime.js';
import { FakeUserConversationsTable } from './dynamodb-tables.js';
import { kinesisEvent, mockAwsClients, NOW } from './harness.js';

type AwsMocks = ReturnType<typeof mockAwsClients>;

/** The AWS client mocks of the running test file. */
export let ddb: AwsMocks['ddb'];
export let api: AwsMocks['api'];

/** The members' conversation lists, which fanout brings up to date after delivering. */
export let lists: FakeUserConversationsTable;

/**
 * Mocks the AWS clients for the calling test file and gives each of its tests fresh
 * conversation lists: call it once at the top of the file. A function rather than code at
 * this module's top, since the unit files of a worker share this module and its top runs
 * only for the first of them.
 */
export function useFanoutFixtures(): void {
  ({ ddb, api } = mockAwsClients());
  beforeEach(() => {
    lists = new FakeUserConversationsTable().install(ddb);
  });
}

export const EXPIRES_AT = Math.floor(Date.now() / 1000) + 3600;
export const connection = (userId: string, deviceId: string): Connection => ({
  userId,
  connectionId: `conn-${userId}-${deviceId}`,
  deviceId,
  connectedAt: NOW - 60 * 60 * 1000,
  expiresAt: EXPIRES_AT,
});
export const CONNECTIONS: Record<string, Connection[]> = {
  alice: [connection('alice', 'phone'), connection('alice', 'laptop')],
  bob: [connection('bob', 'phone')],
  carol: [connection('carol', 'tablet')],
};

/** The fixture's records, in shard order: alice-bob 1, bob-carol 1, alice-bob 2, alice-bob 3. */
export const [ALICE_BOB_1, BOB_CAROL_1, ALICE_BOB_2, ALICE_BOB_3] = [0, 1, 2, 3];

export function serveConnections(connections: Record<string, Connection[]> = CONNECTIONS) {
  ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => ({
    Items: connections[input.ExpressionAttributeValues?.[':u'] as string] ?? [],
  }));
}

export const textOf = (input: PostToConnectionCommandInput) =>
  Buffer.from(input.Data as Uint8Array).toString('utf8');
export const frameOf = (input: PostToConnectionCommandInput) => JSON.parse(textOf(input));
export const posts = () =>
  api.commandCalls(PostToConnectionCommand).map((call) => {
    const input = call.args[0].input;
    const frame = frameOf(input);
    return { connectionId: input.ConnectionId, conversationId: frame.conversationId, seq: frame.seq };
  });
/** The message a record of the batch carries, without its `type`, as an entry holds it. */
export const messageOf = (batch: KinesisStreamEvent, index: number): Message => {
  const { type: _type, ...message } = JSON.parse(
    Buffer.from(batch.Records[index]?.kinesis.data ?? '', 'base64').toString('utf8'),
  );
  return message;
};
/** The last seq of each member's entry of the conversation (undefined: no entry). */
export const lastSeqs = (conversationId: string) =>
  Object.fromEntries(
    (conversationId.split(':').slice(1) as string[]).map((userId) => [
      userId,
      lists.entry(userId, conversationId)?.lastSeq,
    ]),
  );
export const sequenceNumberOf = (batch: KinesisStreamEvent, index: number) =>
  batch.Records[index]?.kinesis.sequenceNumber as string;
export const failuresOf = (batch: KinesisStreamEvent, ...indexes: number[]) =>
  indexes.map((index) => ({ itemIdentifier: sequenceNumberOf(batch, index) }));
/** The post of `seq` of `conversationId` to `connectionId` throws `error`; every other post succeeds. */
export const failPost = (connectionId: string, conversationId: string, seq: number, error: Error) => {
  api.on(PostToConnectionCommand).callsFake((input: PostToConnectionCommandInput) => {
    const frame = frameOf(input);
    if (input.ConnectionId === connectionId && frame.conversationId === conversationId && frame.seq === seq) {
      throw error;
    }
    return {};
  });
};

/**
 * Bob's `late` connection appears after the first read of his connections (the one the
 * batch's posts use), so only the read after the list write finds it; the batch holds the
 * dm's records.
 */
export function givenBobConnectsDuringTheListWrite(late: Record<string, unknown>) {
  ddb
    .on(QueryCommand, { ExpressionAttributeValues: { ':u': 'alice' } })
    .resolves({ Items: CONNECTIONS.alice });
  ddb
    .on(QueryCommand, { ExpressionAttributeValues: { ':u': 'bob' } })
    .resolvesOnce({ Items: CONNECTIONS.bob })
    .resolves({ Items: [...(CONNECTIONS.bob ?? []), late] });
  const batch = kinesisEvent();
  batch.Records = batch.Records.filter((record) => record.kinesis.partitionKey === 'dm:alice:bob');
  return batch;
}

/** A batch of the one record of the fixture at `index`. */
export function batchOf(index: number) {
  const batch = kinesisEvent();
  batch.Records = batch.Records.slice(index, index + 1);
  return batch;
}

/** What API Gateway answers a post to a closed connection. */
export const goneError = () => new GoneException({ message: '410', $metadata: { httpStatusCode: 410 } });
/** What API Gateway answers a post it refuses for a reason that is neither the connection's nor load's. */
export const forbiddenError = () =>
  new ForbiddenException({ message: 'Forbidden', $metadata: { httpStatusCode: 403 } });
/** What API Gateway answers a post when it throttles. */
export const throttledError = () =>
  new LimitExceededException({ message: 'Limit exceeded', $metadata: { httpStatusCode: 429 } });

/** The batch's records as the handler decodes them. */
const recordsOf = (batch: KinesisStreamEvent): StreamRecord[] =>
  batch.Records.map((record) => ({
    id: record.kinesis.sequenceNumber,
    partitionKey: record.kinesis.partitionKey,
    data: Buffer.from(record.kinesis.data, 'base64').toString('utf8'),
  }));

/** The fanout of one instance over the test's deps; it answers the ids of the records to retry. */
export function createFanout(provider: DepsProvider) {
  const fanOut = createBatchFanout(() => fanoutDeps(provider()));
  return (batch: KinesisStreamEvent) => fanOut(recordsOf(batch));
}
