/**
 * What the DynamoDB typing gate asks of DynamoDB. Its contract is
 * `test/support/port-contracts/typing-gate.ts`, run on DynamoDB Local.
 */
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoDbTypingGate } from '../../lambdas/adapters/dynamodb-typing-gate.js';
import { mockAwsClients } from './support/harness.js';

const { ddb } = mockAwsClients();

const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const gate = () => new DynamoDbTypingGate({ client, tableName: 'unit-conversations' });

describe('the DynamoDB typing gate', () => {
  it('claims a start with one conditional update of the member’s typing item in the conversation', async () => {
    ddb.on(UpdateCommand).resolves({});

    const claimed = await gate().claimStart('grp:lunch', 'alice', 10_000, 3000);

    expect(claimed).toBe(true);
    expect(ddb.commandCalls(UpdateCommand).map((call) => call.args[0].input)).toEqual([
      {
        TableName: 'unit-conversations',
        Key: { conversationId: 'grp:lunch', itemKey: 'typing#alice' },
        UpdateExpression: 'SET startedAt = :now',
        ConditionExpression: 'attribute_not_exists(startedAt) OR startedAt <= :since',
        ExpressionAttributeValues: { ':now': 10_000, ':since': 7000 },
      },
    ]);
  });

  it('answers false when the condition fails: a start was let through within the interval', async () => {
    ddb
      .on(UpdateCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
      );

    await expect(gate().claimStart('grp:lunch', 'alice', 10_000, 3000)).resolves.toBe(false);
  });

  it('lets any other failure through', async () => {
    ddb.on(UpdateCommand).rejects(new Error('ProvisionedThroughputExceededException'));

    await expect(gate().claimStart('grp:lunch', 'alice', 10_000, 3000)).rejects.toThrow(
      'ProvisionedThroughputExceededException',
    );
  });
});
