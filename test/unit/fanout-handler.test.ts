import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import type { SinonStub } from 'sinon';
import { describe, expect, it, vi } from 'vitest';
import { ApiGatewayConnectionPusher } from '../../lambdas/adapters/api-gateway-connection-pusher.js';
import { INDEX_WINDOW_MS } from '../../lambdas/adapters/dynamodb-conversation-list-store.js';
import { createFanoutHandler } from '../../lambdas/handlers/fanout.js';
import {
  ALICE_BOB_1,
  ALICE_BOB_2,
  ALICE_BOB_3,
  api,
  ddb,
  failPost,
  failuresOf,
  forbiddenError,
  frameOf,
  lastSeqs,
  lists,
  messageOf,
  posts,
  serveConnections,
  textOf,
  useFanoutFixtures,
} from './support/fanout-fixtures.js';
import { createTestDeps, kinesisEvent, lambdaContext, NOW } from './support/harness.js';

useFanoutFixtures();

describe('the fanout handler', () => {
  it('posts each event, as published, to every connection of both members', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    const batch = kinesisEvent();
    batch.Records = batch.Records.slice(ALICE_BOB_1, ALICE_BOB_1 + 1);

    const result = await createFanoutHandler(provider)(batch, lambdaContext);

    expect(result).toEqual({ batchItemFailures: [] });
    const calls = api.commandCalls(PostToConnectionCommand).map((call) => call.args[0].input);
    expect(calls.map((input) => input.ConnectionId).sort()).toEqual([
      'conn-alice-laptop',
      'conn-alice-phone',
      'conn-bob-phone',
    ]);
    const published = Buffer.from(batch.Records[0]?.kinesis.data ?? '', 'base64').toString('utf8');
    for (const input of calls) expect(textOf(input)).toBe(published);
    expect(calls.map(frameOf)[0]).toMatchObject({ type: 'message', conversationId: 'dm:alice:bob', seq: 1 });
    for (const userId of ['alice', 'bob']) {
      expect(lists.entry(userId, 'dm:alice:bob')).toEqual({
        userId,
        itemKey: 'conv#dm:alice:bob',
        conversationId: 'dm:alice:bob',
        kind: 'dm',
        members: ['alice', 'bob'],
        lastSeq: 1,
        lastMessage: messageOf(batch, 0),
        receipts: [
          { userId: 'alice', deliveredSeq: 0, readSeq: 0 },
          { userId: 'bob', deliveredSeq: 0, readSeq: 0 },
        ],
        // The sender's entry records that it wrote: its consent to show bob its presence.
        ...(userId === 'alice' ? { wroteAt: messageOf(batch, 0).serverTs } : {}),
        changedAt: NOW,
        updatedAt: NOW - (NOW % INDEX_WINDOW_MS),
      });
      expect(lists.clock(userId)).toBe(NOW);
    }
  });

  it('reports a record whose post failed and the later records of its conversation, and delivers the others', async () => {
    const { provider } = createTestDeps();
    serveConnections();
    failPost('conn-alice-laptop', 'dm:alice:bob', 2, forbiddenError());
    const batch = kinesisEvent();

    const result = await createFanoutHandler(provider)(batch, lambdaContext);

    expect(result).toEqual({ batchItemFailures: failuresOf(batch, ALICE_BOB_2, ALICE_BOB_3) });
    const delivered = posts();
    expect(
      delivered
        .filter((post) => post.conversationId === 'dm:bob:carol')
        .map((post) => post.connectionId)
        .sort(),
    ).toEqual(['conn-bob-phone', 'conn-carol-tablet']);
    expect(delivered.filter((post) => post.conversationId === 'dm:alice:bob' && post.seq === 1)).toHaveLength(
      3,
    );
    expect(delivered.filter((post) => post.seq === 3)).toHaveLength(0);
    expect(ddb.commandCalls(DeleteCommand)).toHaveLength(0);
    // seq 1 is checkpointed (not reported): its list update cannot wait for the retry. The
    // list is written beside the posts, from every event of the batch: all are committed.
    expect(lastSeqs('dm:alice:bob')).toEqual({ alice: 3, bob: 3 });
    expect(lists.entry('alice', 'dm:alice:bob')?.lastMessage).toEqual(messageOf(batch, ALICE_BOB_3));
    expect(lastSeqs('dm:bob:carol')).toEqual({ bob: 1, carol: 1 });
  });

  it('reports a record whose post hangs past its timeout, and delivers the others', async () => {
    const { deps } = createTestDeps();
    const pusher = new ApiGatewayConnectionPusher({ client: deps.clients.connections, timeoutMs: 5 });
    serveConnections();
    // Bob's phone takes the post of alice-bob 2 and never answers; the SDK ends a request
    // only when its abort signal fires.
    const send = api.send as unknown as SinonStub<
      [PostToConnectionCommand, { abortSignal?: AbortSignal }?],
      Promise<unknown>
    >;
    send.callsFake(async (command, options) => {
      const frame = frameOf(command.input);
      if (command.input.ConnectionId !== 'conn-bob-phone' || frame.seq !== 2) return {};
      return new Promise((_resolve, reject) => {
        options?.abortSignal?.addEventListener('abort', () =>
          reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' })),
        );
      });
    });
    const batch = kinesisEvent();

    const result = await createFanoutHandler(() => ({ ...deps, pusher }))(batch, lambdaContext);

    expect(result).toEqual({ batchItemFailures: failuresOf(batch, ALICE_BOB_2, ALICE_BOB_3) });
    expect(posts().filter((post) => post.conversationId === 'dm:bob:carol')).toHaveLength(2);
    expect(posts().filter((post) => post.seq === 3)).toHaveLength(0);
    expect(ddb.commandCalls(DeleteCommand)).toHaveLength(0);
  });

  it('publishes the metrics once per batch', async () => {
    const { provider, metrics } = createTestDeps();
    serveConnections();
    const flush = vi.spyOn(metrics, 'flush');

    await createFanoutHandler(provider)(kinesisEvent(), lambdaContext);

    expect(flush).toHaveBeenCalledTimes(1);
  });
});
