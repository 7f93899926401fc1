/**
 * The fast path of `send` (`lambdas/domain/fast-path.ts`, docs/adr/0008-fast-path.md) on the
 * in-memory ports: which connections `send` posts to itself, what the stream's record says
 * it reached, what it leaves to the stream, and the fanout posting to the rest only.
 */
import type { MessageEventFrame } from '@parley/protocol';
import { describe, expect, it, vi } from 'vitest';
import { MetricName } from '../../definitions/metrics.js';
import { createBatchFanout } from '../../lambdas/domain/fanout-batch.js';
import { postFirst } from '../../lambdas/domain/fast-path.js';
import type { ConnectionPusher, MessageRecord } from '../../lambdas/domain/ports.js';
import { sendMessage } from '../../lambdas/domain/sequencing.js';
import { fanoutDeps, fastPathDeps } from '../../lambdas/runtime.js';
import { connect, device, GROUP, groupMessage, recordsOf, storeGroup } from './support/group-fixtures.js';
import { createInMemoryTestDeps, testConfig } from './support/harness.js';

const DM = 'dm:alice:bob';

function setUp(fastPathMaxConnections = 16) {
  const test = createInMemoryTestDeps({ config: testConfig({ fastPathMaxConnections }) });
  const send = (conversationId = DM, clientMessageId = 'cm-1') =>
    sendMessage(test.deps.sequencing, {
      conversationId,
      senderId: 'alice',
      // A device of alice's with no connection: the sending device gets no fast post (below).
      senderDeviceId: 'tablet',
      clientMessageId,
      body: 'hello',
    });
  const records = () => test.ports.publisher.events as MessageRecord[];
  const postedTo = () => test.ports.pusher.posts.map((post) => post.connectionId).sort();
  const fanout = createBatchFanout(() => fanoutDeps(test.deps));
  return { ...test, send, records, postedTo, fanout: () => fanout(recordsOf(records())) };
}

async function openDirectDevices(test: ReturnType<typeof setUp>) {
  for (const connection of [device('alice', 'phone'), device('alice', 'laptop'), device('bob', 'phone')]) {
    await test.ports.connections.putConnection(connection);
  }
}

/** A pusher that fails or holds the posts to the connections named, and posts the rest. */
function pusherThat(
  inner: ConnectionPusher,
  { fails = [], holds = [] }: { fails?: string[]; holds?: string[] },
): ConnectionPusher & { release: () => void } {
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  return {
    release: () => release(),
    post: async (connectionId, frame) => {
      if (fails.includes(connectionId)) throw new Error('injected: the post failed');
      if (holds.includes(connectionId)) await held;
      return inner.post(connectionId, frame);
    },
    disconnect: (connectionId) => inner.disconnect(connectionId),
  };
}

describe('the fast path of a one-to-one message', () => {
  it('posts to every connection of both members, and the record names each one reached', async () => {
    const test = setUp();
    await openDirectDevices(test);

    await test.send();

    expect(test.postedTo()).toEqual(['conn-alice-laptop', 'conn-alice-phone', 'conn-bob-phone']);
    expect(test.records()).toHaveLength(1);
    expect(test.records()[0]?.reached?.sort()).toEqual([
      'conn-alice-laptop',
      'conn-alice-phone',
      'conn-bob-phone',
    ]);
    expect(test.metrics.sum(MetricName.FastPathPosts)).toBe(3);
  });

  it('leaves the sending device to the stream, so that only the published record confirms its send', async () => {
    const test = setUp();
    await openDirectDevices(test);

    await sendMessage(test.deps.sequencing, {
      conversationId: DM,
      senderId: 'alice',
      senderDeviceId: 'phone',
      clientMessageId: 'cm-from-phone',
      body: 'hello',
    });

    expect(test.postedTo()).toEqual(['conn-alice-laptop', 'conn-bob-phone']);
    expect(test.records()[0]?.reached?.sort()).toEqual(['conn-alice-laptop', 'conn-bob-phone']);
  });

  it('posts the message frame as the fanout posts it, without the list of connections reached', async () => {
    const test = setUp();
    await openDirectDevices(test);

    await test.send();

    const frame = test.ports.pusher.framesTo('conn-bob-phone')[0] as MessageEventFrame;
    expect(frame).toMatchObject({ type: 'message', conversationId: DM, seq: 1, body: 'hello' });
    expect(frame).not.toHaveProperty('reached');
  });

  it('lets the fanout post only to connections the record does not name, counting those it skipped', async () => {
    const test = setUp();
    await openDirectDevices(test);
    await test.send();
    // A device that connected after the send's posts.
    await test.ports.connections.putConnection(device('bob', 'laptop'));

    const retried = await test.fanout();

    expect(retried).toEqual([]);
    const posts = test.ports.pusher.posts.map((post) => post.connectionId);
    expect(posts.filter((id) => id === 'conn-bob-laptop')).toHaveLength(1);
    for (const id of ['conn-alice-laptop', 'conn-alice-phone', 'conn-bob-phone']) {
      expect(posts.filter((posted) => posted === id)).toHaveLength(1);
    }
    expect(test.ports.pusher.framesTo('conn-bob-laptop')[0]).not.toHaveProperty('reached');
    expect(test.metrics.sum(MetricName.FastPathSkips)).toBe(3);
    expect((await test.ports.conversationList.listChangedSince('bob', 0, 10)).entries).toHaveLength(1);
  });

  it('leaves a post that fails to the stream, which posts it', async () => {
    const test = setUp();
    await openDirectDevices(test);
    test.deps.pusher = pusherThat(test.ports.pusher, { fails: ['conn-bob-phone'] });

    await test.send();

    expect(test.records()[0]?.reached?.sort()).toEqual(['conn-alice-laptop', 'conn-alice-phone']);
    test.deps.pusher = test.ports.pusher;
    await test.fanout();
    expect(test.ports.pusher.framesTo('conn-bob-phone')).toHaveLength(1);
  });

  it('leaves a throttled post to the stream at once, without a retry or a drop, and the stream posts it', async () => {
    const test = setUp();
    await openDirectDevices(test);
    test.ports.pusher.throttle('conn-bob-phone', 1);

    await test.send();

    expect(test.records()[0]?.reached?.sort()).toEqual(['conn-alice-laptop', 'conn-alice-phone']);
    expect(test.sleep).not.toHaveBeenCalled();
    expect(test.metrics.values(MetricName.PostsDropped)).toEqual([]);
    await test.fanout();
    expect(test.ports.pusher.framesTo('conn-bob-phone')).toHaveLength(1);
  });

  it('leaves a post that hangs to the stream: the record goes out once the bound is up, without it', async () => {
    const test = setUp();
    await openDirectDevices(test);
    const pusher = pusherThat(test.ports.pusher, { holds: ['conn-bob-phone'] });
    const message = (await test.send()).message;
    test.ports.pusher.posts.length = 0;

    const reached = await postFirst({ ...fastPathDeps(test.deps), pusher, budgetMs: 5 }, message);

    expect(reached.sort()).toEqual(['conn-alice-laptop', 'conn-alice-phone']);
    pusher.release();
  });

  it('deletes a connection that answers 410, as the fanout does, and does not name it', async () => {
    const test = setUp();
    await openDirectDevices(test);
    test.ports.pusher.close('conn-bob-phone');

    await test.send();

    expect(test.records()[0]?.reached).not.toContain('conn-bob-phone');
    expect(await test.ports.connections.listConnections('bob')).toEqual([]);
    expect(test.metrics.sum(MetricName.GoneConnections)).toBe(1);
  });

  it('leaves the whole message to the stream when the connections cannot be read', async () => {
    const test = setUp();
    await openDirectDevices(test);
    const store = test.ports.connections;
    test.deps.connections = {
      putConnection: (connection) => store.putConnection(connection),
      openConnection: (connection, maxPerUser) => store.openConnection(connection, maxPerUser),
      deleteConnection: (userId, connectionId) => store.deleteConnection(userId, connectionId),
      listConnections: async () => {
        throw new Error('injected: the read failed');
      },
    };

    const { message } = await test.send();

    expect(message.seq).toBe(1);
    expect(test.ports.pusher.posts).toEqual([]);
    expect(test.records()[0]).not.toHaveProperty('reached');
  });

  it('reads the connections while the seq is claimed, not after the commit', async () => {
    const test = setUp();
    await openDirectDevices(test);
    const order: string[] = [];
    const listConnections = test.ports.connections.listConnections.bind(test.ports.connections);
    vi.spyOn(test.ports.connections, 'listConnections').mockImplementation(async (userId) => {
      order.push(`read ${userId}`);
      return listConnections(userId);
    });
    const storeMessage = test.ports.messages.storeMessage.bind(test.ports.messages);
    vi.spyOn(test.ports.messages, 'storeMessage').mockImplementation(async (message) => {
      order.push('commit');
      return storeMessage(message);
    });

    await test.send();

    expect(order).toEqual(['read alice', 'read bob', 'commit']);
    expect(test.records()[0]?.reached?.sort()).toEqual([
      'conn-alice-laptop',
      'conn-alice-phone',
      'conn-bob-phone',
    ]);
  });

  it('leaves no rejection unhandled when the send is refused before its commit and the read failed', async () => {
    const test = setUp();
    vi.spyOn(test.ports.connections, 'listConnections').mockRejectedValue(
      new Error('injected: the read failed'),
    );
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const refused = sendMessage(test.deps.sequencing, {
        conversationId: DM,
        senderId: 'alice',
        senderDeviceId: 'tablet',
        clientMessageId: 'cm-refused',
        body: 'hello',
        checks: Promise.reject(new Error('refused')),
      });
      await expect(refused).rejects.toThrow('refused');
      // An unhandled rejection is reported after the microtasks of its turn: give it one.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }

    expect(unhandled).toEqual([]);
    expect(test.ports.messages.messages(DM)).toEqual([]);
  });

  it('posts nothing itself for a duplicate send, whose record names no connection', async () => {
    const test = setUp();
    await openDirectDevices(test);
    await test.send();
    const postsOfFirst = test.ports.pusher.posts.length;

    const again = await test.send();

    expect(again.duplicate).toBe(true);
    expect(test.ports.pusher.posts).toHaveLength(postsOfFirst);
    expect(test.records()).toHaveLength(2);
    expect(test.records()[1]).not.toHaveProperty('reached');
  });

  it('is off with FAST_PATH_MAX_CONNECTIONS=0: no post, and a record as before', async () => {
    const test = setUp(0);
    await openDirectDevices(test);

    await test.send();

    expect(test.ports.pusher.posts).toEqual([]);
    expect(test.records()[0]).not.toHaveProperty('reached');
    expect(test.metrics.count(MetricName.FastPathPosts)).toBe(0);
  });
});

describe('the fast path of a group message', () => {
  it('posts to the indexed devices of the members, not to those of a removed member still in the index', async () => {
    const test = setUp();
    // Dave was removed at seq 2: the message takes seq 3.
    await storeGroup(test.ports, { members: { alice: 1, bob: 1 }, former: { dave: [1, 2] } }, [
      groupMessage(1),
      groupMessage(2),
    ]);
    await connect(test.ports, [device('alice'), device('bob'), device('dave')]);

    await test.send(GROUP);

    expect(test.postedTo()).toEqual(['conn-alice-phone', 'conn-bob-phone']);
    expect(test.records()[0]?.reached?.sort()).toEqual(['conn-alice-phone', 'conn-bob-phone']);
  });

  it('takes a connection that answers 410 out of the group index too', async () => {
    const test = setUp();
    await storeGroup(test.ports, { members: { alice: 1, bob: 1 } });
    await connect(test.ports, [device('alice'), device('bob')]);
    test.ports.pusher.close('conn-bob-phone');

    await test.send(GROUP);

    expect(
      (await test.ports.groupConnections.listGroupConnections(GROUP)).map((c) => c.connectionId),
    ).toEqual(['conn-alice-phone']);
    expect(test.records()[0]?.reached).toEqual(['conn-alice-phone']);
  });

  it('skips a group with more connected devices than the setting, leaving it to the stream', async () => {
    const test = setUp(2);
    await storeGroup(test.ports, { members: { alice: 1, bob: 1, carol: 1 } });
    await connect(test.ports, [device('alice'), device('bob'), device('carol')]);

    await test.send(GROUP);

    expect(test.ports.pusher.posts).toEqual([]);
    expect(test.records()[0]).not.toHaveProperty('reached');
    await test.fanout();
    expect(test.postedTo()).toEqual(['conn-alice-phone', 'conn-bob-phone', 'conn-carol-phone']);
  });

  it('lets the fanout post a group message only to the devices the record does not name', async () => {
    const test = setUp();
    await storeGroup(test.ports, { members: { alice: 1, bob: 1 } });
    await connect(test.ports, [device('alice'), device('bob')]);
    await test.send(GROUP);
    await connect(test.ports, [device('bob', 'laptop')]);

    expect(await test.fanout()).toEqual([]);

    expect(test.postedTo()).toEqual(['conn-alice-phone', 'conn-bob-laptop', 'conn-bob-phone']);
    expect(test.metrics.sum(MetricName.FastPathSkips)).toBe(2);
  });
});
