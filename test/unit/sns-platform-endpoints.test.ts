import {
  DeleteEndpointCommand,
  InternalErrorException,
  NotFoundException,
  SNSClient,
} from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { regionOfEndpoint, SnsPlatformEndpoints } from '../../lambdas/adapters/sns-platform-endpoints.js';

const sns = mockClient(SNSClient);
// The unit files share one module graph per worker: the next file gets the real client.
afterAll(() => sns.restore());
afterEach(() => sns.reset());

const ARN = 'arn:aws:sns:eu-west-1:123456789012:endpoint/APNS/parley/5e3e9847-3183-3f18-a7e8-671c3a57d4b3';
const endpoints = () => new SnsPlatformEndpoints();

describe('the SNS platform endpoints', () => {
  it('deletes an endpoint with DeleteEndpoint, through a client of the region its ARN names', async () => {
    sns.on(DeleteEndpointCommand).resolves({});

    await endpoints().deleteEndpoint(ARN);

    const calls = sns.commandCalls(DeleteEndpointCommand);
    expect(calls.map((call) => call.args[0].input)).toEqual([{ EndpointArn: ARN }]);
    expect(await calls[0]?.thisValue.config.region()).toBe('eu-west-1');
  });

  it('takes an endpoint SNS does not find as deleted already', async () => {
    sns
      .on(DeleteEndpointCommand)
      .rejects(new NotFoundException({ message: 'Endpoint does not exist', $metadata: {} }));

    await expect(endpoints().deleteEndpoint(ARN)).resolves.toBeUndefined();
  });

  it('fails with any other error of SNS, for the caller to log or retry', async () => {
    const failure = new InternalErrorException({ message: 'internal', $metadata: {} });
    sns.on(DeleteEndpointCommand).rejects(failure);

    await expect(endpoints().deleteEndpoint(ARN)).rejects.toBe(failure);
  });

  it('reads the region of an endpoint ARN, and refuses to delete what names none, calling nothing', async () => {
    expect(regionOfEndpoint(ARN)).toBe('eu-west-1');
    expect(regionOfEndpoint('not-an-arn')).toBeUndefined();

    await expect(endpoints().deleteEndpoint('not-an-arn')).rejects.toThrow(
      'not-an-arn is not an SNS platform endpoint ARN',
    );
    expect(sns.calls()).toHaveLength(0);
  });
});
