/**
 * What stands in locally for each resource of the template: a physical name, an ARN and
 * the attributes `Fn::GetAtt` reads, so that the template's references resolve to the
 * local tables, stream, secrets and functions; and the data resources themselves, made in
 * the engines from the template's properties.
 */
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamConsumerCommand,
  type KinesisClient,
  RegisterStreamConsumerCommand,
  waitUntilStreamExists,
} from '@aws-sdk/client-kinesis';
import { type FunctionId, functionOfHandlerFile } from '../../definitions/functions.js';
import { TemplateError } from '../errors.js';
import type { LocalSecret } from './secrets-manager.js';
import {
  type CloudFormationTemplate,
  type LocalResource,
  type ResolutionContext,
  resolveString,
  resourcesOfType,
  type TemplateResource,
} from './template.js';

export const REGION = 'us-east-1';
export const ACCOUNT_ID = '000000000000';
/** An on-demand stream starts with 4 shards' worth of write capacity in AWS. */
const ON_DEMAND_SHARDS = 4;

export interface FunctionResource {
  logicalId: string;
  functionId: FunctionId;
  functionName: string;
  resource: TemplateResource;
}

export interface StandIns {
  context: ResolutionContext;
  resources: Map<string, LocalResource>;
  physicalName: (logicalId: string) => string;
  stream: { resource: TemplateResource; name: string; arn: string };
  secrets: LocalSecret[];
  functions: FunctionResource[];
}

/** Names and ARNs for every resource of the template the local stack runs or references. */
export function standInsFor(
  template: CloudFormationTemplate,
  { stackName, prefix, secretValue }: { stackName: string; prefix: string; secretValue: string },
): StandIns {
  const resources = new Map<string, LocalResource>();
  const context: ResolutionContext = { region: REGION, accountId: ACCOUNT_ID, stackName, resources };
  const physicalName = (logicalId: string) => `${prefix}-${logicalId}`.slice(0, 255);
  const arn = (service: string, resource: string) => `arn:aws:${service}:${REGION}:${ACCOUNT_ID}:${resource}`;
  for (const [logicalId] of resourcesOfType(template, 'AWS::DynamoDB::GlobalTable')) {
    const name = physicalName(logicalId);
    resources.set(logicalId, { ref: name, attributes: { Arn: arn('dynamodb', `table/${name}`) } });
  }
  for (const [logicalId] of resourcesOfType(template, 'AWS::DynamoDB::Table')) {
    const name = physicalName(logicalId);
    resources.set(logicalId, { ref: name, attributes: { Arn: arn('dynamodb', `table/${name}`) } });
  }
  const streams = resourcesOfType(template, 'AWS::Kinesis::Stream');
  const [streamEntry, ...otherStreams] = streams;
  if (!streamEntry || otherStreams.length > 0) {
    throw new TemplateError(
      `the local stack runs a template with one Kinesis stream; this one has ${streams.length}`,
    );
  }
  const [streamLogicalId, streamResource] = streamEntry;
  const streamName = physicalName(streamLogicalId);
  const streamArn = arn('kinesis', `stream/${streamName}`);
  resources.set(streamLogicalId, { ref: streamName, attributes: { Arn: streamArn } });
  for (const [logicalId, consumer] of resourcesOfType(template, 'AWS::Kinesis::StreamConsumer')) {
    const consumerName = resolveString(
      consumer.Properties?.ConsumerName,
      context,
      `${logicalId}.ConsumerName`,
    );
    const consumerArn = `${streamArn}/consumer/${consumerName}:0`;
    resources.set(logicalId, {
      ref: consumerArn,
      attributes: { ConsumerARN: consumerArn, ConsumerName: consumerName, StreamARN: streamArn },
    });
  }
  const secrets = resourcesOfType(template, 'AWS::SecretsManager::Secret').map(([logicalId]) => {
    const secretArn = arn('secretsmanager', `secret:${logicalId}-local0`);
    resources.set(logicalId, { ref: secretArn, attributes: { Id: secretArn } });
    return { arn: secretArn, name: logicalId, value: secretValue };
  });
  for (const [logicalId] of resourcesOfType(template, 'AWS::SQS::Queue')) {
    const name = physicalName(logicalId).slice(0, 80);
    resources.set(logicalId, {
      ref: `http://127.0.0.1/${ACCOUNT_ID}/${name}`,
      attributes: { Arn: arn('sqs', name), QueueName: name },
    });
  }
  for (const [logicalId] of resourcesOfType(template, 'AWS::ApiGatewayV2::Api'))
    resources.set(logicalId, { ref: 'parleylocal' });
  for (const type of [
    'AWS::ApiGatewayV2::Route',
    'AWS::ApiGatewayV2::Integration',
    'AWS::ApiGatewayV2::Authorizer',
    'AWS::ApiGatewayV2::Stage',
  ]) {
    for (const [logicalId] of resourcesOfType(template, type)) resources.set(logicalId, { ref: logicalId });
  }
  const functions = functionResources(template, stackName);
  for (const fn of functions) {
    resources.set(fn.logicalId, {
      ref: fn.functionName,
      attributes: { Arn: arn('lambda', `function:${fn.functionName}`) },
    });
  }
  return {
    context,
    resources,
    physicalName,
    stream: { resource: streamResource, name: streamName, arn: streamArn },
    secrets,
    functions,
  };
}

/** Creates the template's tables, stream and stream consumers in the engines. */
export async function createData(
  clients: { dynamodb: { send(command: never): Promise<unknown> }; kinesis: KinesisClient },
  template: CloudFormationTemplate,
  { physicalName, stream, resources }: StandIns,
): Promise<void> {
  const streamName = stream.name;
  const streamArn = stream.arn;
  const streamResource = stream.resource;
  await Promise.all([
    ...[
      ...resourcesOfType(template, 'AWS::DynamoDB::GlobalTable'),
      ...resourcesOfType(template, 'AWS::DynamoDB::Table'),
    ].map(([logicalId, table]) => createTable(clients.dynamodb as never, physicalName(logicalId), table)),
    (async () => {
      const properties = streamResource.Properties ?? {};
      const shardCount = typeof properties.ShardCount === 'number' ? properties.ShardCount : ON_DEMAND_SHARDS;
      try {
        await clients.kinesis.send(
          new CreateStreamCommand({ StreamName: streamName, ShardCount: shardCount }),
        );
      } catch (error) {
        if ((error as Error).name !== 'ResourceInUseException') throw error;
      }
      await waitUntilStreamExists(
        { client: clients.kinesis, maxWaitTime: 30, minDelay: 1 },
        { StreamName: streamName },
      );
      await registerConsumers(clients.kinesis, template, resources, streamArn);
    })(),
  ]);
}

async function createTable(
  client: { send(command: CreateTableCommand | UpdateTimeToLiveCommand): Promise<unknown> },
  tableName: string,
  table: TemplateResource,
): Promise<void> {
  const properties = table.Properties ?? {};
  const indexes = (list: unknown) =>
    (list as Array<Record<string, unknown>> | undefined)?.map(({ IndexName, KeySchema, Projection }) => ({
      IndexName,
      KeySchema,
      Projection,
    }));
  const input = {
    TableName: tableName,
    // On demand even when the template provisions capacity (`dynamodbCapacity=provisioned`):
    // DynamoDB Local throttles neither way, and the template's auto scaling settings have
    // no place in CreateTable.
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: properties.AttributeDefinitions,
    KeySchema: properties.KeySchema,
    ...(properties.GlobalSecondaryIndexes
      ? { GlobalSecondaryIndexes: indexes(properties.GlobalSecondaryIndexes) }
      : {}),
    ...(properties.LocalSecondaryIndexes
      ? { LocalSecondaryIndexes: indexes(properties.LocalSecondaryIndexes) }
      : {}),
  } as CreateTableCommandInput;
  try {
    await client.send(new CreateTableCommand(input));
  } catch (error) {
    if ((error as Error).name === 'ResourceInUseException') return;
    throw error;
  }
  const ttl = properties.TimeToLiveSpecification as { AttributeName?: string; Enabled?: boolean } | undefined;
  if (ttl?.Enabled && ttl.AttributeName) {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { Enabled: true, AttributeName: ttl.AttributeName },
      }),
    );
  }
}

/**
 * Registers the template's enhanced fan-out consumers with kinesis-mock, as CloudFormation
 * does, and stands each one's ARN in for its logical id. (The local mapping still reads
 * with GetRecords, woken by every put: kinesis-mock's SubscribeToShard pushes only once a
 * second.)
 */
async function registerConsumers(
  kinesis: KinesisClient,
  template: CloudFormationTemplate,
  resources: Map<string, LocalResource>,
  streamArn: string,
): Promise<void> {
  for (const [logicalId] of resourcesOfType(template, 'AWS::Kinesis::StreamConsumer')) {
    const consumerName = resources.get(logicalId)?.attributes?.ConsumerName ?? logicalId;
    let consumerArn: string | undefined;
    try {
      const registered = await kinesis.send(
        new RegisterStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: consumerName }),
      );
      consumerArn = registered.Consumer?.ConsumerARN;
    } catch (error) {
      if ((error as Error).name !== 'ResourceInUseException') throw error;
      const described = await kinesis.send(
        new DescribeStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: consumerName }),
      );
      consumerArn = described.ConsumerDescription?.ConsumerARN;
    }
    if (!consumerArn)
      throw new TemplateError(`${logicalId}: kinesis-mock registered no consumer ${consumerName}`);
    resources.set(logicalId, {
      ref: consumerArn,
      attributes: { ConsumerARN: consumerArn, ConsumerName: consumerName, StreamARN: streamArn },
    });
  }
}

/**
 * Each function of the template, with the id of the function of `definitions/functions.ts`
 * whose handler file its description names.
 */
function functionResources(template: CloudFormationTemplate, stackName: string): FunctionResource[] {
  return resourcesOfType(template, 'AWS::Lambda::Function').map(([logicalId, resource]) => {
    const description = String(resource.Properties?.Description ?? '');
    const definition = functionOfHandlerFile(description);
    if (!definition)
      throw new TemplateError(`${logicalId}: its description names no handler: ${description}`);
    return {
      logicalId,
      functionId: definition.id,
      functionName: `${stackName}-${logicalId}`.slice(0, 64),
      resource,
    };
  });
}
