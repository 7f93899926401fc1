import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createAwsClients } from '../../lambdas/adapters/aws-clients.js';

describe('the engines started by the global setup', () => {
  const clients = createAwsClients({
    region: 'us-east-1',
    local: true,
    dynamodb: inject('dynamodbEndpoint'),
    kinesis: inject('kinesisEndpoint'),
  });
  afterAll(() => clients.destroy());

  it('answers DynamoDB and Kinesis calls over their real wire protocols', async () => {
    const tables = await clients.dynamodb.send(new ListTablesCommand({}));
    const streams = await clients.kinesis.send(new ListStreamsCommand({}));
    expect(tables.TableNames).toBeInstanceOf(Array);
    expect(streams.StreamNames).toBeInstanceOf(Array);
  });
});
