import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import {
  connectionsTable,
  conversationsTable,
  eventsStream,
  type KeyAttribute,
  TABLES,
  type TableDefinition,
  type TableId,
} from '../../definitions/tables.js';
import { pascalCase } from '../../lib/constructs/data.js';
import { DEV_CONTEXT, synthesize } from './support/synthesize.js';

const TABLE = 'AWS::DynamoDB::GlobalTable';
const STREAM = 'AWS::Kinesis::Stream';

const dev = synthesize(DEV_CONTEXT);
const prod = synthesize({ stage: 'prod' });

// The expectations below are derived from `definitions/tables.ts`, never restated.

function keySchema(partitionKey: KeyAttribute, sortKey?: KeyAttribute) {
  return [
    { AttributeName: partitionKey.name, KeyType: 'HASH' },
    ...(sortKey ? [{ AttributeName: sortKey.name, KeyType: 'RANGE' }] : []),
  ];
}

/** Every key attribute of the table and its indexes, once each, sorted by name. */
function attributeDefinitions(definition: TableDefinition) {
  const keys = [
    definition.partitionKey,
    definition.sortKey,
    ...(definition.globalSecondaryIndexes ?? []).flatMap((index) => [index.partitionKey, index.sortKey]),
    ...(definition.localSecondaryIndexes ?? []).map((index) => index.sortKey),
  ].filter((key): key is KeyAttribute => key !== undefined);
  const types = new Map(keys.map((key) => [key.name, key.type]));
  return [...types]
    .map(([name, type]) => ({ AttributeName: name, AttributeType: type }))
    .sort((a, b) => a.AttributeName.localeCompare(b.AttributeName));
}

function tableProperties(id: TableId): Record<string, unknown> {
  return dev.template.toJSON().Resources[dev.logicalId(dev.stack.data.tables[id])].Properties;
}

describe('the tables', () => {
  it('creates one table per definition of definitions/tables.ts, and no other', () => {
    dev.template.resourceCountIs(TABLE, TABLES.length);
  });

  describe.each(TABLES.map((definition): [TableId, TableDefinition] => [definition.id, definition]))(
    'the %s table',
    (id, definition) => {
      it('has the key schema of its definition', () => {
        expect(tableProperties(id).KeySchema).toEqual(keySchema(definition.partitionKey, definition.sortKey));
      });

      it('declares exactly the key attributes of the table and its indexes, with their types', () => {
        const declared = tableProperties(id).AttributeDefinitions as Array<{ AttributeName: string }>;
        expect([...declared].sort((a, b) => a.AttributeName.localeCompare(b.AttributeName))).toEqual(
          attributeDefinitions(definition),
        );
      });

      it('expires items by the TTL attribute of its definition, if it has one', () => {
        expect(tableProperties(id).TimeToLiveSpecification).toEqual(
          definition.timeToLiveAttribute
            ? { AttributeName: definition.timeToLiveAttribute, Enabled: true }
            : undefined,
        );
      });

      it('has the secondary indexes of its definition, projecting every attribute', () => {
        const properties = tableProperties(id);
        expect(properties.GlobalSecondaryIndexes).toEqual(
          definition.globalSecondaryIndexes?.map((index) => ({
            IndexName: index.indexName,
            KeySchema: keySchema(index.partitionKey, index.sortKey),
            Projection: { ProjectionType: 'ALL' },
          })),
        );
        expect(properties.LocalSecondaryIndexes).toEqual(
          definition.localSecondaryIndexes?.map((index) => ({
            IndexName: index.indexName,
            KeySchema: keySchema(definition.partitionKey, index.sortKey),
            Projection: { ProjectionType: 'ALL' },
          })),
        );
      });

      it('outputs its physical name', () => {
        dev.template.hasOutput(`${pascalCase(definition.id)}TableName`, {
          Value: { Ref: dev.logicalId(dev.stack.data.tables[id]) },
        });
      });
    },
  );

  it('expires connections by their expiresAt attribute', () => {
    expect(tableProperties(connectionsTable.id).TimeToLiveSpecification).toEqual({
      AttributeName: 'expiresAt',
      Enabled: true,
    });
  });

  it('expires the idempotency items of conversations by their expiresAt attribute', () => {
    expect(tableProperties(conversationsTable.id).TimeToLiveSpecification).toEqual({
      AttributeName: 'expiresAt',
      Enabled: true,
    });
  });

  it('bills every table on demand, encrypts it with KMS and keeps point-in-time recovery on', () => {
    dev.template.allResourcesProperties(TABLE, {
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
      Replicas: [
        Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }),
      ],
    });
  });

  it('gives no table provisioned capacity by default', () => {
    dev.template.allResourcesProperties(TABLE, {
      WriteProvisionedThroughputSettings: Match.absent(),
      Replicas: [Match.objectLike({ ReadProvisionedThroughputSettings: Match.absent() })],
    });
  });

  describe('with provisioned capacity', () => {
    const bounds = {
      dynamodbMinCapacity: '10',
      dynamodbMaxCapacity: '3000',
      dynamodbTargetUtilization: '60',
    };
    const provisioned = synthesize({ stage: 'dev', dynamodbCapacity: 'provisioned', ...bounds });
    const autoScaling = {
      MinCapacity: 10,
      MaxCapacity: 3000,
      // A table that was on demand runs on this until auto scaling is in place.
      SeedCapacity: 10,
      TargetTrackingScalingPolicyConfiguration: { TargetValue: 60 },
    };
    const propertiesOf = (id: TableId) =>
      provisioned.template.toJSON().Resources[provisioned.logicalId(provisioned.stack.data.tables[id])]
        .Properties;

    it.each(TABLES.map((definition) => definition.id))(
      'auto scales the reads and writes of the %s table and of each of its global secondary indexes',
      (id) => {
        const properties = propertiesOf(id);
        const [replica, ...otherReplicas] = properties.Replicas;

        expect(properties.BillingMode).toBe('PROVISIONED');
        expect(otherReplicas).toEqual([]);
        expect(properties.WriteProvisionedThroughputSettings).toEqual({
          WriteCapacityAutoScalingSettings: autoScaling,
        });
        expect(replica.ReadProvisionedThroughputSettings).toEqual({
          ReadCapacityAutoScalingSettings: autoScaling,
        });
        // No table has a global secondary index today (definitions/tables.ts); one added
        // later must get the same capacity settings as its table.
        const definition: TableDefinition | undefined = TABLES.find((candidate) => candidate.id === id);
        const indexes = definition?.globalSecondaryIndexes ?? [];
        for (const index of indexes) {
          expect(
            properties.GlobalSecondaryIndexes.find(
              (candidate: { IndexName: string }) => candidate.IndexName === index.indexName,
            ).WriteProvisionedThroughputSettings,
          ).toEqual({ WriteCapacityAutoScalingSettings: autoScaling });
          expect(
            replica.GlobalSecondaryIndexes.find(
              (candidate: { IndexName: string }) => candidate.IndexName === index.indexName,
            ).ReadProvisionedThroughputSettings,
          ).toEqual({ ReadCapacityAutoScalingSettings: autoScaling });
        }
      },
    );

    it('keeps every other property of the tables as on demand has them', () => {
      for (const { id } of TABLES) {
        const {
          BillingMode: _provisionedMode,
          WriteProvisionedThroughputSettings: _writes,
          Replicas: [{ ReadProvisionedThroughputSettings: _reads, ...replica }],
          ...table
        } = propertiesOf(id);
        const { BillingMode: _onDemandMode, Replicas: onDemandReplicas, ...onDemand } = tableProperties(id);
        expect(table).toEqual(onDemand);
        expect([replica]).toEqual(onDemandReplicas);
      }
    });

    it('adds no other resource: the tables scale themselves, and no permission changes', () => {
      const types = (template: typeof dev.template) =>
        Object.values(template.toJSON().Resources as Record<string, { Type: string }>)
          .map((resource) => resource.Type)
          .sort();
      expect(types(provisioned.template)).toEqual(types(dev.template));
      const policies = (template: typeof dev.template) => template.findResources('AWS::IAM::Policy');
      expect(JSON.stringify(policies(provisioned.template))).toEqual(JSON.stringify(policies(dev.template)));
    });
  });

  it('leaves the physical names to CloudFormation', () => {
    dev.template.allResourcesProperties(TABLE, { TableName: Match.absent() });
    dev.template.allResourcesProperties(STREAM, { Name: Match.absent() });
  });

  it('retains every table and protects it from deletion in prod', () => {
    prod.template.allResources(TABLE, {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: { Replicas: [Match.objectLike({ DeletionProtectionEnabled: true })] },
    });
  });

  it('lets a dev stack delete its tables', () => {
    dev.template.allResources(TABLE, {
      DeletionPolicy: 'Delete',
      UpdateReplacePolicy: 'Delete',
      Properties: { Replicas: [Match.objectLike({ DeletionProtectionEnabled: false })] },
    });
  });
});

describe('the events stream', () => {
  it('is one on-demand stream, encrypted with the AWS managed KMS key, keeping records 24 hours', () => {
    dev.template.resourceCountIs(STREAM, 1);
    dev.template.hasResourceProperties(STREAM, {
      StreamModeDetails: { StreamMode: 'ON_DEMAND' },
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
      RetentionPeriodHours: 24,
      ShardCount: Match.absent(),
    });
  });

  it('has the provisioned shards the settings ask for, still encrypted', () => {
    synthesize({ stage: 'dev', shards: '12' }).template.hasResourceProperties(STREAM, {
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
      ShardCount: 12,
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
    });
  });

  it('is deleted with the stack, in prod too', () => {
    for (const { template } of [dev, prod]) {
      template.hasResource(STREAM, { DeletionPolicy: 'Delete', UpdateReplacePolicy: 'Delete' });
    }
  });

  it('outputs its physical name', () => {
    dev.template.hasOutput(`${pascalCase(eventsStream.id)}StreamName`, {
      Value: { Ref: dev.logicalId(dev.stack.data.stream) },
    });
  });
});
