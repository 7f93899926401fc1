/**
 * The data layer of Parley: every table and the events stream of `definitions/tables.ts`, built
 * from those definitions (the local stack builds the same ones in `local/resources.ts`).
 * Physical names are left to CloudFormation; the functions get them through `environment`.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import { Construct } from 'constructs';
import {
  eventsStream,
  type KeyAttribute,
  type KeyType,
  TABLES,
  type TableDefinition,
  type TableId,
} from '../../definitions/tables.js';
import type { DynamoDbCapacityMode, ShardMode } from '../settings.js';

export interface ParleyDataProps {
  /**
   * Keep the tables when the stack is deleted or a change would replace them, and turn on
   * DynamoDB deletion protection. True for the production stage only, so that other stages
   * can be torn down with `cdk destroy`.
   */
  retainData: boolean;
  /** On-demand (the default) or a fixed number of provisioned shards. */
  shards?: ShardMode;
  /** On demand (the default) or provisioned with auto scaling, for every table. */
  dynamodbCapacity?: DynamoDbCapacityMode;
}

const ATTRIBUTE_TYPES = {
  S: dynamodb.AttributeType.STRING,
  N: dynamodb.AttributeType.NUMBER,
} as const satisfies Record<KeyType, dynamodb.AttributeType>;

function attribute(key: KeyAttribute): dynamodb.Attribute {
  return { name: key.name, type: ATTRIBUTE_TYPES[key.type] };
}

/** `user-conversations` → `UserConversations`: the construct id, hence the logical id. */
export function pascalCase(id: string): string {
  return id.replace(/(?:^|-)([a-z0-9])/g, (_match, letter: string) => letter.toUpperCase());
}

/**
 * On demand: pay per request, nothing idle. Provisioned: read and write capacity each auto
 * scaled between the bounds to keep the target share in use; a table's global secondary
 * indexes inherit the table's capacity settings (aws-cdk-lib `TableV2` renders them into
 * the `AWS::DynamoDB::GlobalTable`, which makes the scalable targets and policies itself).
 */
function billingOf(capacity: DynamoDbCapacityMode): dynamodb.Billing {
  if (capacity.kind === 'on-demand') return dynamodb.Billing.onDemand();
  const { minCapacity, maxCapacity, targetUtilizationPercent } = capacity;
  // The seed is the capacity a table that was on demand runs on until CloudFormation has made
  // its auto scaling; switching a deployed stage fails without one.
  const autoscaled = () =>
    dynamodb.Capacity.autoscaled({
      minCapacity,
      maxCapacity,
      targetUtilizationPercent,
      seedCapacity: minCapacity,
    });
  return dynamodb.Billing.provisioned({ readCapacity: autoscaled(), writeCapacity: autoscaled() });
}

export class ParleyData extends Construct {
  /** Every table of `TABLES`, by its id. */
  readonly tables: Readonly<Record<TableId, dynamodb.TableV2>>;
  /** The stream of `eventsStream`. */
  readonly stream: kinesis.Stream;

  constructor(scope: Construct, id: string, props: ParleyDataProps) {
    super(scope, id);
    const removalPolicy = props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    /* -------------------------------------------------------------------------- */
    /*                              DYNAMODB TABLES                               */
    /* -------------------------------------------------------------------------- */
    // Encryption: the AWS managed KMS key (`aws/dynamodb`) rather than the default DynamoDB
    // owned key, so that the key lives in our account and its use shows in CloudTrail.
    // Not a customer managed key: nothing here needs what only it gives (a key policy of
    // our own, cross-account access, disabling the key to make the data unreadable), and
    // without one no function needs a `kms:` grant and there is no key to pay for, rotate
    // or lose. Switching to a customer managed key later updates the table in place.
    const billing = billingOf(props.dynamodbCapacity ?? { kind: 'on-demand' });
    const buildTable = (definition: TableDefinition) =>
      new dynamodb.TableV2(this, `${pascalCase(definition.id)}Table`, {
        partitionKey: attribute(definition.partitionKey),
        ...(definition.sortKey ? { sortKey: attribute(definition.sortKey) } : {}),
        ...(definition.timeToLiveAttribute ? { timeToLiveAttribute: definition.timeToLiveAttribute } : {}),
        globalSecondaryIndexes: definition.globalSecondaryIndexes?.map((index) => ({
          indexName: index.indexName,
          partitionKey: attribute(index.partitionKey),
          ...(index.sortKey ? { sortKey: attribute(index.sortKey) } : {}),
          projectionType: dynamodb.ProjectionType.ALL,
        })),
        localSecondaryIndexes: definition.localSecondaryIndexes?.map((index) => ({
          indexName: index.indexName,
          sortKey: attribute(index.sortKey),
          projectionType: dynamodb.ProjectionType.ALL,
        })),
        billing,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
        deletionProtection: props.retainData,
        removalPolicy,
      });
    this.tables = Object.fromEntries(
      TABLES.map((definition) => [definition.id, buildTable(definition)]),
    ) as Record<TableId, dynamodb.TableV2>;

    /* -------------------------------------------------------------------------- */
    /*                               KINESIS STREAM                               */
    /* -------------------------------------------------------------------------- */
    // On demand by default: no shard count to size, it follows the traffic; provisioned
    // shards cost less for a steady load (see docs/capacity.md). Encrypted with the AWS
    // managed key (`aws/kinesis`), so producers and consumers need no `kms:` permission.
    // Always destroyed with the stack, also in production: it holds at most a day of events
    // whose messages and receipts are already in the tables, and clients catch up from the
    // tables with `sync`, so a retained stream would only be an orphan that still bills.
    this.stream = new kinesis.Stream(this, `${pascalCase(eventsStream.id)}Stream`, {
      ...(props.shards?.kind === 'provisioned'
        ? { streamMode: kinesis.StreamMode.PROVISIONED, shardCount: props.shards.shardCount }
        : { streamMode: kinesis.StreamMode.ON_DEMAND }),
      encryption: kinesis.StreamEncryption.MANAGED,
      retentionPeriod: Duration.hours(24),
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }
}
