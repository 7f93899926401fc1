/**
 * The contracts of the storage ports, run against the DynamoDB adapters on DynamoDB Local:
 * the same suite the in-memory ports of the unit tests pass (`test/unit/in-memory-ports.test.ts`).
 */
import { afterAll, beforeAll, inject } from 'vitest';
import { resourceNames } from '../../definitions/tables.js';
import { createAwsClients } from '../../lambdas/adapters/aws-clients.js';
import { DynamoDbConnectionStore } from '../../lambdas/adapters/dynamodb-connection-store.js';
import { DynamoDbConversationListStore } from '../../lambdas/adapters/dynamodb-conversation-list-store.js';
import { DynamoDbMessageStore } from '../../lambdas/adapters/dynamodb-message-store.js';
import { DynamoDbPresenceStore } from '../../lambdas/adapters/dynamodb-presence-store.js';
import { DynamoDbPresenceSubscriptionStore } from '../../lambdas/adapters/dynamodb-presence-subscription-store.js';
import { DynamoDbReceiptStore } from '../../lambdas/adapters/dynamodb-receipt-store.js';
import { ensureResources } from '../../local/resources.js';
import { describePortContracts } from '../support/port-contracts.js';
import { uniqueId } from '../support/stack.js';

const clients = createAwsClients({
  region: 'us-east-1',
  local: true,
  dynamodb: inject('dynamodbEndpoint'),
  kinesis: inject('kinesisEndpoint'),
});
const names = resourceNames(uniqueId('p'));
const client = clients.dynamodb;

beforeAll(async () => {
  await ensureResources({ dynamodb: clients.dynamodb as never, kinesis: clients.kinesis }, names);
});
afterAll(() => clients.destroy());

describePortContracts('DynamoDB', {
  messages: () => new DynamoDbMessageStore({ client, tableName: names.conversationsTable }),
  receipts: () => new DynamoDbReceiptStore({ client, tableName: names.conversationsTable }),
  conversationList: (now) =>
    new DynamoDbConversationListStore({ client, tableName: names.userConversationsTable, now }),
  connections: (now) => new DynamoDbConnectionStore({ client, tableName: names.connectionsTable, now }),
  presence: () => new DynamoDbPresenceStore({ client, tableName: names.presenceTable }),
  presenceSubscriptions: (now) =>
    new DynamoDbPresenceSubscriptionStore({ client, tableName: names.presenceSubscriptionsTable, now }),
});
