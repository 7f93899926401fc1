/**
 * The in-memory ports the domain's unit tests run on, held to the contracts of the DynamoDB
 * adapters; `test/integration/port-contracts.test.ts` runs the same suite against the
 * adapters on DynamoDB Local.
 */
import { describe, expect, it } from 'vitest';
import {
  createInMemoryPorts,
  InMemoryConnectionPusher,
  InMemoryConnectionStore,
  InMemoryConversationListStore,
  InMemoryEventPublisher,
  InMemoryGroupConnectionStore,
  InMemoryGroupStore,
  InMemoryMessageStore,
  InMemoryPresenceStore,
  InMemoryPresenceSubscriptionStore,
  InMemoryPushRegistrationStore,
  InMemoryReceiptStore,
  InMemoryTypingGate,
} from '../support/in-memory/index.js';
import { describePortContracts } from '../support/port-contracts/index.js';

describePortContracts('in memory', {
  messages: () => new InMemoryMessageStore(),
  // Receipts share the conversations table in DynamoDB; here they are a store of their own.
  receipts: () => new InMemoryReceiptStore(),
  conversationList: (now) => new InMemoryConversationListStore({ now }),
  connections: (now) => new InMemoryConnectionStore({ now }),
  presence: () => new InMemoryPresenceStore(),
  groups: () => {
    const messages = new InMemoryMessageStore();
    return { groups: new InMemoryGroupStore(messages), messages };
  },
  presenceSubscriptions: (now) => new InMemoryPresenceSubscriptionStore({ now }),
  typingGate: () => new InMemoryTypingGate(),
  groupConnections: (now) => new InMemoryGroupConnectionStore({ now }),
  pushRegistrations: () => new InMemoryPushRegistrationStore(),
  publisher: () => {
    const publisher = new InMemoryEventPublisher();
    return { publisher, published: async () => publisher.records };
  },
});

describe('the in-memory event publisher', () => {
  it('keeps each event published, in order, with the partition key the stream would get', async () => {
    const publisher = new InMemoryEventPublisher();
    const receipt = {
      type: 'receipt',
      conversationId: 'dm:alice:bob',
      userId: 'bob',
      kind: 'read',
      seq: 3,
    } as const;

    await publisher.publish(receipt);
    await publisher.publish({ type: 'presence-changed', userId: 'carol' });

    expect(publisher.records).toEqual([
      { partitionKey: 'dm:alice:bob', event: receipt },
      { partitionKey: 'presence:carol', event: { type: 'presence-changed', userId: 'carol' } },
    ]);
    expect(publisher.events[0]).not.toBe(receipt);
  });
});

describe('the in-memory connection pusher', () => {
  it('keeps what it posted, and answers gone for a connection closed, as API Gateway answers 410', async () => {
    const pusher = new InMemoryConnectionPusher();
    pusher.close('c2');

    const outcomes = [await pusher.post('c1', '{"type":"pong"}'), await pusher.post('c2', '{"type":"pong"}')];

    expect(outcomes).toEqual(['delivered', 'gone']);
    expect(pusher.framesTo('c1')).toEqual([{ type: 'pong' }]);
    expect(pusher.framesTo('c2')).toEqual([]);
  });
});

describe('createInMemoryPorts', () => {
  it('gives the stores that read a clock the clock it is given', async () => {
    const ports = createInMemoryPorts({ now: () => 5_000 });
    await ports.connections.putConnection({
      userId: 'alice',
      connectionId: 'c1',
      deviceId: 'phone',
      connectedAt: 0,
      expiresAt: 5,
    });
    await ports.conversationList.update('alice', 'dm:alice:bob', () => ({
      conversationId: 'dm:alice:bob',
      members: ['alice', 'bob'],
      lastSeq: 1,
      lastMessage: null,
      receipts: [],
    }));

    expect(await ports.connections.listConnections('alice')).toEqual([]);
    expect(ports.connections.stored('alice')).toHaveLength(1);
    expect(ports.conversationList.clock('alice')).toBe(5_000);
  });
});
