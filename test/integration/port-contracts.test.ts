/**
 * The contracts of the ports, run against the DynamoDB adapters on DynamoDB Local and the
 * Kinesis publisher on kinesis-mock: the same suite the in-memory ports of the unit tests
 * pass (`test/unit/in-memory-ports.test.ts`).
 */
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, inject } from 'vitest';
import { resourceNames } from '../../definitions/tables.js';
import { createAwsClients } from '../../lambdas/adapters/aws-clients.js';
import { DynamoDbConnectionStore } from '../../lambdas/adapters/dynamodb-connection-store.js';
import { DynamoDbConversationListStore } from '../../lambdas/adapters/dynamodb-conversation-list-store.js';
import { DynamoDbGroupConnectionStore } from '../../lambdas/adapters/dynamodb-group-connection-store.js';
import { DynamoDbGroupStore } from '../../lambdas/adapters/dynamodb-group-store.js';
import { DynamoDbMessageStore } from '../../lambdas/adapters/dynamodb-message-store.js';
import { DynamoDbPresenceStore } from '../../lambdas/adapters/dynamodb-presence-store.js';
import { DynamoDbPresenceSubscriptionStore } from '../../lambdas/adapters/dynamodb-presence-subscription-store.js';
import { DynamoDbPushRegistrationStore } from '../../lambdas/adapters/dynamodb-push-registration-store.js';
import { DynamoDbReceiptStore } from '../../lambdas/adapters/dynamodb-receipt-store.js';
import { DynamoDbTypingGate } from '../../lambdas/adapters/dynamodb-typing-gate.js';
import { KinesisEventPublisher } from '../../lambdas/adapters/kinesis-event-publisher.js';
import type { StreamEvent } from '../../lambdas/domain/ports.js';
import { ensureResources } from '../../local/resources.js';
import { describePortContracts } from '../support/port-contracts/index.js';
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

/** Every record of the stream so far, shard by shard, as a consumer decodes it. */
async function readStream(kinesis: KinesisClient, streamName: string) {
  const { Shards } = await kinesis.send(new ListShardsCommand({ StreamName: streamName }));
  const records: Array<{ partitionKey: string; event: StreamEvent }> = [];
  for (const shard of Shards ?? []) {
    let iterator = (
      await kinesis.send(
        new GetShardIteratorCommand({
          StreamName: streamName,
          ShardId: shard.ShardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      )
    ).ShardIterator;
    while (iterator) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const record of page.Records ?? []) {
        records.push({
          partitionKey: record.PartitionKey as string,
          event: JSON.parse(Buffer.from(record.Data ?? []).toString('utf8')) as StreamEvent,
        });
      }
      if (!page.Records?.length) break;
      iterator = page.NextShardIterator;
    }
  }
  return records;
}

describePortContracts('DynamoDB', {
  messages: () => new DynamoDbMessageStore({ client, tableName: names.conversationsTable }),
  receipts: () => new DynamoDbReceiptStore({ client, tableName: names.conversationsTable }),
  conversationList: (now) =>
    new DynamoDbConversationListStore({ client, tableName: names.userConversationsTable, now }),
  connections: (now) => new DynamoDbConnectionStore({ client, tableName: names.connectionsTable, now }),
  presence: () => new DynamoDbPresenceStore({ client, tableName: names.presenceTable }),
  groups: () => ({
    groups: new DynamoDbGroupStore({ client, tableName: names.conversationsTable }),
    messages: new DynamoDbMessageStore({ client, tableName: names.conversationsTable }),
  }),
  presenceSubscriptions: (now) =>
    new DynamoDbPresenceSubscriptionStore({ client, tableName: names.presenceSubscriptionsTable, now }),
  typingGate: () => new DynamoDbTypingGate({ client, tableName: names.conversationsTable }),
  groupConnections: (now) =>
    new DynamoDbGroupConnectionStore({ client, tableName: names.groupConnectionsTable, now }),
  pushRegistrations: () => new DynamoDbPushRegistrationStore({ client, tableName: names.pushDevicesTable }),
  publisher: () => ({
    publisher: new KinesisEventPublisher({ client: clients.kinesis, streamName: names.eventsStream }),
    published: () => readStream(clients.kinesis, names.eventsStream),
  }),
});
