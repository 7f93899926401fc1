/**
 * Creates the tables and the stream of `definitions/tables.ts` in the local engines, the way the
 * CDK stack creates them in AWS.
 */
import {
  type AttributeDefinition,
  CreateTableCommand,
  type CreateTableCommandInput,
  type DynamoDBClient,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  type KinesisClient,
  ResourceInUseException as StreamInUseException,
  waitUntilStreamExists,
} from '@aws-sdk/client-kinesis';
import {
  eventsStream,
  type KeyAttribute,
  type ResourceNames,
  TABLE_NAME_FIELDS,
  TABLES,
  type TableDefinition,
  type TableId,
} from '../definitions/tables.js';

function createTableInput(definition: TableDefinition, tableName: string): CreateTableCommandInput {
  const attributes = new Map<string, AttributeDefinition>();
  const add = (key: KeyAttribute | undefined) => {
    if (key) attributes.set(key.name, { AttributeName: key.name, AttributeType: key.type });
  };
  add(definition.partitionKey);
  add(definition.sortKey);
  for (const index of definition.globalSecondaryIndexes ?? []) {
    add(index.partitionKey);
    add(index.sortKey);
  }
  for (const index of definition.localSecondaryIndexes ?? []) add(index.sortKey);
  const keySchema = (partitionKey: KeyAttribute, sortKey?: KeyAttribute) => [
    { AttributeName: partitionKey.name, KeyType: 'HASH' as const },
    ...(sortKey ? [{ AttributeName: sortKey.name, KeyType: 'RANGE' as const }] : []),
  ];
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...attributes.values()],
    KeySchema: keySchema(definition.partitionKey, definition.sortKey),
    ...(definition.globalSecondaryIndexes?.length
      ? {
          GlobalSecondaryIndexes: definition.globalSecondaryIndexes.map((index) => ({
            IndexName: index.indexName,
            KeySchema: keySchema(index.partitionKey, index.sortKey),
            Projection: { ProjectionType: 'ALL' },
          })),
        }
      : {}),
    ...(definition.localSecondaryIndexes?.length
      ? {
          LocalSecondaryIndexes: definition.localSecondaryIndexes.map((index) => ({
            IndexName: index.indexName,
            KeySchema: keySchema(definition.partitionKey, index.sortKey),
            Projection: { ProjectionType: 'ALL' },
          })),
        }
      : {}),
  };
}

/** Creates what is missing; what exists (a persisted DynamoDB Local folder) is kept as is. */
export async function ensureResources(
  clients: { dynamodb: DynamoDBClient; kinesis: KinesisClient },
  names: ResourceNames,
  options: { shardCount?: number } = {},
): Promise<void> {
  await Promise.all([
    ...TABLES.map(async (definition: TableDefinition) => {
      const tableName = names[TABLE_NAME_FIELDS[definition.id as TableId]];
      try {
        await clients.dynamodb.send(new CreateTableCommand(createTableInput(definition, tableName)));
      } catch (error) {
        if (!(error instanceof ResourceInUseException)) throw error;
        return;
      }
      await waitUntilTableExists(
        { client: clients.dynamodb, maxWaitTime: 30, minDelay: 1 },
        { TableName: tableName },
      );
      if (definition.timeToLiveAttribute) {
        await clients.dynamodb.send(
          new UpdateTimeToLiveCommand({
            TableName: tableName,
            TimeToLiveSpecification: { Enabled: true, AttributeName: definition.timeToLiveAttribute },
          }),
        );
      }
    }),
    (async () => {
      try {
        await clients.kinesis.send(
          new CreateStreamCommand({
            StreamName: names.eventsStream,
            ShardCount: options.shardCount ?? eventsStream.localShardCount,
          }),
        );
      } catch (error) {
        if (!(error instanceof StreamInUseException)) throw error;
      }
      await waitUntilStreamExists(
        { client: clients.kinesis, maxWaitTime: 30, minDelay: 1 },
        { StreamName: names.eventsStream },
      );
    })(),
  ]);
}
