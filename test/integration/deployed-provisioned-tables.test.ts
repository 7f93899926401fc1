/**
 * The deployed mode (`local/deployed`) makes its tables from the synthesized template. A
 * template synthesized with `dynamodbCapacity=provisioned` carries `BillingMode: PROVISIONED`
 * and auto scaling settings on every table; the deployed mode must still make the tables in
 * DynamoDB Local, with the keys, indexes and time to live of the template.
 */
import {
  DeleteTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type KeySchemaElement,
} from '@aws-sdk/client-dynamodb';
import { DeleteStreamCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAwsClients } from '../../lambdas/adapters/aws-clients.js';
import { createData, type StandIns, standInsFor } from '../../local/deployed/stand-ins.js';
import { type CloudFormationTemplate, resourcesOfType } from '../../local/deployed/template.js';
import { buildApp } from '../infra/support/synthesize.js';
import { uniqueId } from '../support/stack.js';

const clients = createAwsClients({
  region: 'us-east-1',
  local: true,
  dynamodb: inject('dynamodbEndpoint'),
  kinesis: inject('kinesisEndpoint'),
});

let template: CloudFormationTemplate;
let standIns: StandIns;

/** The template's tables, by logical id, with the properties a table is made from. */
const tablesOf = () =>
  resourcesOfType(template, 'AWS::DynamoDB::GlobalTable').map(([logicalId, resource]) => ({
    logicalId,
    properties: resource.Properties as {
      BillingMode: string;
      KeySchema: KeySchemaElement[];
      LocalSecondaryIndexes?: Array<{ IndexName: string }>;
      TimeToLiveSpecification?: { AttributeName: string };
    },
  }));

beforeAll(async () => {
  const { app, stack } = buildApp({ stage: 'dev', dynamodbCapacity: 'provisioned' });
  template = app.synth().getStackByName(stack.stackName).template as CloudFormationTemplate;
  standIns = standInsFor(template, {
    stackName: stack.stackName,
    prefix: uniqueId('prov'),
    secretValue: 'local-signing-key',
  });
  await createData({ dynamodb: clients.dynamodb as never, kinesis: clients.kinesis }, template, standIns);
}, 120_000);

afterAll(async () => {
  await Promise.all([
    ...tablesOf().map(({ logicalId }) =>
      clients.dynamodb.send(new DeleteTableCommand({ TableName: standIns.physicalName(logicalId) })),
    ),
    clients.kinesis.send(
      new DeleteStreamCommand({ StreamName: standIns.stream.name, EnforceConsumerDeletion: true }),
    ),
  ]);
  clients.destroy();
});

describe('the deployed mode, given a template with provisioned DynamoDB capacity', () => {
  it('is given a template whose every table is provisioned', () => {
    expect(tablesOf()).not.toHaveLength(0);
    expect(tablesOf().map(({ properties }) => properties.BillingMode)).toEqual(
      tablesOf().map(() => 'PROVISIONED'),
    );
  });

  it('makes every table in DynamoDB Local with the keys, indexes and time to live of the template', async () => {
    for (const { logicalId, properties } of tablesOf()) {
      const tableName = standIns.physicalName(logicalId);

      const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
      const { TimeToLiveDescription } = await clients.dynamodb.send(
        new DescribeTimeToLiveCommand({ TableName: tableName }),
      );

      expect(Table?.TableStatus, tableName).toBe('ACTIVE');
      expect(Table?.KeySchema, tableName).toEqual(properties.KeySchema);
      expect(Table?.LocalSecondaryIndexes?.map((index) => index.IndexName)).toEqual(
        properties.LocalSecondaryIndexes?.map((index) => index.IndexName),
      );
      expect(TimeToLiveDescription?.AttributeName).toBe(properties.TimeToLiveSpecification?.AttributeName);
    }
  });
});
