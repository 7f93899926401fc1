/**
 * The contracts of the stores and the event publisher of `lambdas/domain/ports.ts`, as one
 * suite that runs against any implementation: the in-memory ones
 * (`test/unit/in-memory-ports.test.ts`) and the AWS adapters on DynamoDB Local and
 * kinesis-mock (`test/integration/port-contracts.test.ts`). A fake that drifts from the real
 * store fails here, not in a domain test that trusted it. (The connection pusher has no
 * engine here to run against: its adapter's tests are `test/unit/connection-pusher.test.ts`.)
 *
 * The stores of one run may share their tables and stream, so every test works under ids
 * of its own.
 */
import { describe } from 'vitest';
import type { PortFactories } from './common.js';
import { describeConnectionCap } from './connection-cap.js';
import { describeConversationListStore } from './conversation-list.js';
import { describeGroupConnectionStore, describeGroupIds } from './group-connections.js';
import { describeGroupStore } from './groups.js';
import { describeEventPublisher, describeMessageStore, describeReceiptStore } from './messages.js';
import {
  describeConnectionStore,
  describePresenceStore,
  describePresenceSubscriptionStore,
} from './presence.js';
import { describePushRegistrationStore } from './push-registrations.js';
import { describeTypingGate } from './typing-gate.js';

export type { PortFactories } from './common.js';

export function describePortContracts(implementation: string, factories: PortFactories): void {
  describe(`the message store (${implementation})`, () => describeMessageStore(factories));
  describe(`the receipt store (${implementation})`, () => describeReceiptStore(factories));
  describe(`the conversation list store (${implementation})`, () => describeConversationListStore(factories));
  describe(`the connection store (${implementation})`, () => describeConnectionStore(factories));
  describe(`the connection store's cap (${implementation})`, () => describeConnectionCap(factories));
  describe(`the presence store (${implementation})`, () => describePresenceStore(factories));
  describe(`the presence subscription store (${implementation})`, () =>
    describePresenceSubscriptionStore(factories));
  describe(`the event publisher (${implementation})`, () => describeEventPublisher(factories));
  describe(`the typing gate (${implementation})`, () => describeTypingGate(factories));
  describe(`the group store (${implementation})`, () => describeGroupStore(factories));
  describe(`the group connection index (${implementation})`, () => describeGroupConnectionStore(factories));
  describe(`the conversation list store's groups (${implementation})`, () => describeGroupIds(factories));
  describe(`the push registration store (${implementation})`, () => describePushRegistrationStore(factories));
}
