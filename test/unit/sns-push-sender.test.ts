import {
  CreatePlatformEndpointCommand,
  DeleteEndpointCommand,
  EndpointDisabledException,
  GetEndpointAttributesCommand,
  InternalErrorException,
  InvalidParameterException,
  KMSThrottlingException,
  NotFoundException,
  PlatformApplicationDisabledException,
  PublishCommand,
  SetEndpointAttributesCommand,
  SNSClient,
  ThrottledException,
} from '@aws-sdk/client-sns';
import type { PushPayload } from '@parley/protocol';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { SnsPushSender } from '../../lambdas/adapters/sns-push-sender.js';
import type { PushRegistration } from '../../lambdas/domain/ports.js';

const sns = mockClient(SNSClient);
// The unit files share one module graph per worker: the next file gets the real client.
afterAll(() => sns.restore());
afterEach(() => {
  sns.reset();
});

const APNS_APP = 'arn:aws:sns:eu-west-1:123456789012:app/APNS/parley-ios';
const SANDBOX_APP = 'arn:aws:sns:eu-west-1:123456789012:app/APNS_SANDBOX/parley-ios';
const FCM_APP = 'arn:aws:sns:eu-west-1:123456789012:app/GCM/parley-android';
const ENDPOINT =
  'arn:aws:sns:eu-west-1:123456789012:endpoint/APNS/parley-ios/0b5c2e4e-1111-2222-3333-444455556666';
const FCM_ENDPOINT = 'arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/parley-android/9d1e-aaaa';
const PAYLOAD: PushPayload = {
  type: 'message',
  conversationId: 'dm:alice:bob',
  seq: 7,
  senderId: 'alice',
  unread: 3,
  text: 'New message',
};
const OPTIONS = { collapseKey: 'c-3f2a', ttlSeconds: 3600 };

const apns = (overrides: Partial<PushRegistration> = {}): PushRegistration => ({
  userId: 'bob',
  deviceId: 'phone',
  address: { kind: 'apns', token: 'a1b2c3' },
  registeredAt: 1_000,
  ...overrides,
});
const fcm = (overrides: Partial<PushRegistration> = {}): PushRegistration => ({
  ...apns(),
  address: { kind: 'fcm', token: 'fcm-token:1' },
  ...overrides,
});

function senderOf(options: { apns?: string; fcm?: string } = { apns: APNS_APP, fcm: FCM_APP }) {
  const kept: Array<[string, string]> = [];
  const sleep = vi.fn(async (_ms: number) => {});
  const sender = new SnsPushSender({
    sns: new SNSClient({ region: 'eu-west-1' }),
    ...(options.apns ? { apnsPlatformApplicationArn: options.apns } : {}),
    ...(options.fcm ? { fcmPlatformApplicationArn: options.fcm } : {}),
    keepEndpoint: async (registration, endpointArn) => {
      kept.push([registration.deviceId, endpointArn]);
    },
    backoff: { sleep, random: () => 1 },
  });
  return { sender, kept, sleep };
}

const published = () => sns.commandCalls(PublishCommand).map((call) => call.args[0].input);
const snsError = (Type: new (options: { message: string; $metadata: object }) => Error, message = 'x') =>
  new Type({ message, $metadata: {} });

describe('the SNS push sender', () => {
  it('makes the endpoint of a new APNs token, keeps it through the callback, and publishes the alert to it', async () => {
    const { sender, kept } = senderOf();
    sns.on(CreatePlatformEndpointCommand).resolves({ EndpointArn: ENDPOINT });
    sns.on(PublishCommand).resolves({ MessageId: 'm1' });

    expect(await sender.send(apns(), PAYLOAD, OPTIONS)).toBe('sent');

    expect(sns.commandCalls(CreatePlatformEndpointCommand)[0]?.args[0].input).toEqual({
      PlatformApplicationArn: APNS_APP,
      Token: 'a1b2c3',
    });
    expect(kept).toEqual([['phone', ENDPOINT]]);
    const [input] = published();
    expect(input?.TargetArn).toBe(ENDPOINT);
    expect(input?.MessageStructure).toBe('json');
    const message = JSON.parse(input?.Message ?? '{}') as Record<string, string>;
    expect(Object.keys(message)).toEqual(['APNS']);
    expect(JSON.parse(message.APNS ?? '{}')).toEqual({
      aps: { alert: { title: 'Parley', body: 'New message' }, 'mutable-content': 1 },
      ...PAYLOAD,
    });
    expect(input?.MessageAttributes).toEqual({
      'AWS.SNS.MOBILE.APNS.COLLAPSE_ID': { DataType: 'String', StringValue: 'c-3f2a' },
      'AWS.SNS.MOBILE.APNS.PUSH_TYPE': { DataType: 'String', StringValue: 'alert' },
      'AWS.SNS.MOBILE.APNS.PRIORITY': { DataType: 'String', StringValue: '10' },
      'AWS.SNS.MOBILE.APNS.TTL': { DataType: 'Number', StringValue: '3600' },
    });
  });

  it('publishes to a kept endpoint without making one', async () => {
    const { sender, kept } = senderOf();
    sns.on(PublishCommand).resolves({ MessageId: 'm1' });
    expect(await sender.send(apns({ platformEndpointArn: ENDPOINT }), PAYLOAD, OPTIONS)).toBe('sent');
    expect(sns.commandCalls(CreatePlatformEndpointCommand)).toHaveLength(0);
    expect(kept).toEqual([]);
  });

  it('uses the APNS_SANDBOX key and TTL attribute for a sandbox platform application', async () => {
    const { sender } = senderOf({ apns: SANDBOX_APP });
    sns.on(PublishCommand).resolves({});
    await sender.send(apns({ platformEndpointArn: ENDPOINT }), PAYLOAD, OPTIONS);
    const [input] = published();
    expect(Object.keys(JSON.parse(input?.Message ?? '{}'))).toEqual(['APNS_SANDBOX']);
    expect(input?.MessageAttributes?.['AWS.SNS.MOBILE.APNS_SANDBOX.TTL']?.StringValue).toBe('3600');
  });

  it('publishes an FCM HTTP v1 message with the collapse key, the TTL, the notification and the data', async () => {
    const { sender } = senderOf();
    sns.on(PublishCommand).resolves({});
    expect(await sender.send(fcm({ platformEndpointArn: FCM_ENDPOINT }), PAYLOAD, OPTIONS)).toBe('sent');
    const [input] = published();
    const message = JSON.parse(input?.Message ?? '{}') as Record<string, string>;
    expect(Object.keys(message)).toEqual(['GCM']);
    expect(JSON.parse(message.GCM ?? '{}')).toEqual({
      fcmV1Message: {
        message: {
          notification: { title: 'Parley', body: 'New message' },
          data: {
            type: 'message',
            conversationId: 'dm:alice:bob',
            seq: '7',
            senderId: 'alice',
            unread: '3',
            text: 'New message',
          },
          android: { collapse_key: 'c-3f2a', ttl: '3600s', priority: 'high' },
        },
      },
    });
  });

  it('enables the existing endpoint SNS names when the token has one with other attributes', async () => {
    const { sender, kept } = senderOf();
    sns
      .on(CreatePlatformEndpointCommand)
      .rejects(
        snsError(
          InvalidParameterException,
          `Invalid parameter: Token Reason: Endpoint ${ENDPOINT} already exists with the same Token, but different attributes.`,
        ),
      );
    sns.on(GetEndpointAttributesCommand).resolves({ Attributes: { Token: 'a1b2c3', Enabled: 'false' } });
    sns.on(SetEndpointAttributesCommand).resolves({});
    sns.on(PublishCommand).resolves({});

    expect(await sender.send(apns(), PAYLOAD, OPTIONS)).toBe('sent');
    expect(sns.commandCalls(SetEndpointAttributesCommand)[0]?.args[0].input).toEqual({
      EndpointArn: ENDPOINT,
      Attributes: { Token: 'a1b2c3', Enabled: 'true' },
    });
    expect(kept).toEqual([['phone', ENDPOINT]]);
    expect(published()[0]?.TargetArn).toBe(ENDPOINT);
  });

  it('leaves an existing endpoint that is enabled with the token as it is', async () => {
    const { sender } = senderOf();
    sns
      .on(CreatePlatformEndpointCommand)
      .rejects(
        snsError(
          InvalidParameterException,
          `Endpoint ${ENDPOINT} already exists with the same token, but different attributes.`,
        ),
      );
    sns.on(GetEndpointAttributesCommand).resolves({ Attributes: { Token: 'a1b2c3', Enabled: 'true' } });
    sns.on(PublishCommand).resolves({});
    expect(await sender.send(apns(), PAYLOAD, OPTIONS)).toBe('sent');
    expect(sns.commandCalls(SetEndpointAttributesCommand)).toHaveLength(0);
  });

  it('creates the endpoint again when the one SNS named was deleted meanwhile', async () => {
    const { sender, kept } = senderOf();
    sns
      .on(CreatePlatformEndpointCommand)
      .rejectsOnce(
        snsError(
          InvalidParameterException,
          `Endpoint ${ENDPOINT} already exists with the same Token, but different attributes.`,
        ),
      )
      .resolves({ EndpointArn: `${ENDPOINT}-new` });
    sns.on(GetEndpointAttributesCommand).rejects(snsError(NotFoundException));
    sns.on(PublishCommand).resolves({});
    expect(await sender.send(apns(), PAYLOAD, OPTIONS)).toBe('sent');
    expect(sns.commandCalls(CreatePlatformEndpointCommand)).toHaveLength(2);
    expect(kept).toEqual([['phone', `${ENDPOINT}-new`]]);
  });

  it('answers gone for a token SNS refuses, and failed for another bad parameter', async () => {
    const { sender } = senderOf();
    sns
      .on(CreatePlatformEndpointCommand)
      .rejects(snsError(InvalidParameterException, 'Invalid parameter: Token Reason: malformed'));
    expect(await sender.send(apns(), PAYLOAD, OPTIONS)).toBe('gone');
    sns
      .on(CreatePlatformEndpointCommand)
      .rejects(snsError(InvalidParameterException, 'Invalid parameter: PlatformApplicationArn'));
    expect(await sender.send(apns(), PAYLOAD, OPTIONS)).toBe('failed');
    expect(published()).toEqual([]);
  });

  it.each([
    ['the platform disabled the endpoint', () => snsError(EndpointDisabledException)],
    ['the endpoint was deleted', () => snsError(NotFoundException)],
  ])('answers gone and deletes the endpoint when %s', async (_case, error) => {
    const { sender } = senderOf();
    sns.on(PublishCommand).rejects(error());
    sns.on(DeleteEndpointCommand).resolves({});
    expect(await sender.send(apns({ platformEndpointArn: ENDPOINT }), PAYLOAD, OPTIONS)).toBe('gone');
    expect(sns.commandCalls(DeleteEndpointCommand)[0]?.args[0].input).toEqual({ EndpointArn: ENDPOINT });
  });

  it.each([
    ['a throttle', () => snsError(ThrottledException)],
    ['a KMS throttle', () => snsError(KMSThrottlingException)],
    ['an internal error', () => snsError(InternalErrorException)],
    [
      'a 503',
      () =>
        Object.assign(new Error('unavailable'), {
          name: 'ServiceUnavailable',
          $metadata: { httpStatusCode: 503 },
        }),
    ],
  ])('retries %s with growing waits, then answers throttled', async (_case, error) => {
    const { sender, sleep } = senderOf();
    sns.on(PublishCommand).rejects(error());
    expect(await sender.send(apns({ platformEndpointArn: ENDPOINT }), PAYLOAD, OPTIONS)).toBe('throttled');
    expect(sns.commandCalls(PublishCommand)).toHaveLength(3);
    expect(sleep.mock.calls.map(([ms]) => ms)).toEqual([100, 200]);
  });

  it('sends after a throttle that passes within the bound', async () => {
    const { sender } = senderOf();
    sns.on(PublishCommand).rejectsOnce(snsError(ThrottledException)).resolves({});
    expect(await sender.send(apns({ platformEndpointArn: ENDPOINT }), PAYLOAD, OPTIONS)).toBe('sent');
    expect(sns.commandCalls(PublishCommand)).toHaveLength(2);
  });

  it('answers failed without retrying a refusal of another kind', async () => {
    const { sender, sleep } = senderOf();
    sns.on(PublishCommand).rejects(snsError(PlatformApplicationDisabledException));
    expect(await sender.send(apns({ platformEndpointArn: ENDPOINT }), PAYLOAD, OPTIONS)).toBe('failed');
    expect(sns.commandCalls(PublishCommand)).toHaveLength(1);
    expect(sleep).not.toHaveBeenCalled();
  });

  it('answers failed for a kind it has no platform application for, and for Web Push, calling nothing', async () => {
    const { sender } = senderOf({ apns: APNS_APP });
    expect(await sender.send(fcm(), PAYLOAD, OPTIONS)).toBe('failed');
    const webpush: PushRegistration = {
      ...apns(),
      address: {
        kind: 'webpush',
        endpoint: 'https://fcm.googleapis.com/x',
        keys: { p256dh: 'p', auth: 'a' },
      },
    };
    expect(await sender.send(webpush, PAYLOAD, OPTIONS)).toBe('failed');
    expect(sns.calls()).toHaveLength(0);
  });

  it('still pushes when keeping the endpoint fails', async () => {
    const sender = new SnsPushSender({
      sns: new SNSClient({ region: 'eu-west-1' }),
      apnsPlatformApplicationArn: APNS_APP,
      keepEndpoint: async () => {
        throw new Error('DynamoDB unavailable');
      },
    });
    sns.on(CreatePlatformEndpointCommand).resolves({ EndpointArn: ENDPOINT });
    sns.on(PublishCommand).resolves({});
    expect(await sender.send(apns(), PAYLOAD, OPTIONS)).toBe('sent');
  });
});
