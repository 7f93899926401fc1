/**
 * In-memory implementations of every port of `lambdas/domain/ports.ts`, for the domain's
 * unit tests. `test/support/port-contracts/` holds them to the same contracts as the
 * DynamoDB adapters (the integration tests run it against DynamoDB Local), so a unit test
 * on these learns what it would learn on the real tables.
 */
import { InMemoryConnectionStore, InMemoryPresenceSubscriptionStore } from './connection-store.js';
import { InMemoryConversationListStore } from './conversation-list-store.js';
import { InMemoryConnectionPusher, InMemoryEventPublisher } from './delivery.js';
import { InMemoryGroupConnectionStore, InMemoryGroupStore } from './group-store.js';
import { InMemoryMessageStore } from './message-store.js';
import { InMemoryPresenceStore } from './presence-store.js';
import { InMemoryPrivacyStore } from './privacy-store.js';
import { InMemoryPushRegistrationStore } from './push-registration-store.js';
import { InMemoryReceiptStore } from './receipt-store.js';
import { InMemoryTypingGate } from './typing-gate.js';

export { InMemoryConnectionStore, InMemoryPresenceSubscriptionStore } from './connection-store.js';
export { InMemoryConversationListStore } from './conversation-list-store.js';
export {
  InMemoryConnectionPusher,
  InMemoryEventPublisher,
  type Post,
  type PublishedRecord,
} from './delivery.js';
export { InMemoryGroupConnectionStore, InMemoryGroupStore } from './group-store.js';
export { InMemoryMessageStore } from './message-store.js';
export { InMemoryPresenceStore } from './presence-store.js';
export { InMemoryPrivacyStore } from './privacy-store.js';
export { InMemoryPushRegistrationStore } from './push-registration-store.js';
export { InMemoryReceiptStore } from './receipt-store.js';
export { InMemoryTypingGate } from './typing-gate.js';

/** One of each port, named as in `ParleyDeps`; the stores that read a clock read `now`. */
export interface InMemoryPorts {
  messages: InMemoryMessageStore;
  groups: InMemoryGroupStore;
  groupConnections: InMemoryGroupConnectionStore;
  receipts: InMemoryReceiptStore;
  conversationList: InMemoryConversationListStore;
  connections: InMemoryConnectionStore;
  presence: InMemoryPresenceStore;
  presenceSubscriptions: InMemoryPresenceSubscriptionStore;
  privacy: InMemoryPrivacyStore;
  pushRegistrations: InMemoryPushRegistrationStore;
  publisher: InMemoryEventPublisher;
  pusher: InMemoryConnectionPusher;
  typingGate: InMemoryTypingGate;
}

export function createInMemoryPorts(options: { now?: () => number } = {}): InMemoryPorts {
  const clock = options.now ? { now: options.now } : {};
  const messages = new InMemoryMessageStore();
  const conversationList = new InMemoryConversationListStore(clock);
  return {
    messages,
    groups: new InMemoryGroupStore(messages),
    groupConnections: new InMemoryGroupConnectionStore(clock),
    receipts: new InMemoryReceiptStore(),
    conversationList,
    connections: new InMemoryConnectionStore(clock),
    presence: new InMemoryPresenceStore(),
    presenceSubscriptions: new InMemoryPresenceSubscriptionStore(clock),
    privacy: new InMemoryPrivacyStore(conversationList),
    pushRegistrations: new InMemoryPushRegistrationStore(),
    publisher: new InMemoryEventPublisher(),
    pusher: new InMemoryConnectionPusher(),
    typingGate: new InMemoryTypingGate(),
  };
}
