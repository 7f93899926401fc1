import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createAwsClients } from '../../lambdas/adapters/aws-clients.js';
import { exposureNotice, exposureOf, listeningAddresses } from '../../local/exposure.js';

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

describe('the engines’ exposure to other machines', () => {
  const portOf = (endpoint: string) => Number(new URL(endpoint).port);

  it('has kinesis-mock listen on the loopback interface only', async () => {
    const port = portOf(inject('kinesisEndpoint'));

    const addresses = await listeningAddresses(port);

    expect(addresses).not.toHaveLength(0);
    expect(
      addresses?.every((address) => address === '127.0.0.1'),
      String(addresses),
    ).toBe(true);
    expect(await exposureOf(port)).toBe('loopback');
  });

  it('tells that DynamoDB Local listens on every interface, which it has no setting to change', async () => {
    // What `npm start` prints rests on this: if a release of DynamoDB Local binds loopback
    // only, this fails, and the notice in bin/local-stack.ts and the README can go.
    expect(await exposureOf(portOf(inject('dynamodbEndpoint')))).toBe('network');
  });

  it('has npm start name DynamoDB Local, and only it, as reachable from other machines', async () => {
    const notice = await exposureNotice([
      { name: 'DynamoDB Local', endpoint: inject('dynamodbEndpoint') },
      { name: 'kinesis-mock', endpoint: inject('kinesisEndpoint') },
    ]);

    expect(notice).toBe(
      '  ! DynamoDB Local listens on every network interface, not only on this machine: other machines can reach it unless a firewall stops them.',
    );
  });
});
