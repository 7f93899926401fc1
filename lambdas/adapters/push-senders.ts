/**
 * The push sender of each kind of address that is on (protocol 1.4), as the push-notifier
 * function's deps hold them: the notifier picks one by `registration.address.kind`.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { SNSClient } from '@aws-sdk/client-sns';
import type { PushKind } from '@parley/protocol';
import type { ParleyConfig, PushSettings } from '../config.js';
import type { PushRegistrationStore, PushSender } from '../domain/ports.js';
import { createSecretsManagerClient, secretStringLoader } from './secrets-manager-key.js';
import { regionOfEndpoint } from './sns-platform-endpoints.js';
import { SnsPushSender } from './sns-push-sender.js';
import { WebPushSender } from './web-push-sender.js';

export type PushSenders = Partial<Record<PushKind, PushSender>>;

/**
 * The push senders of the kinds that are on, for the function that pushes: Web Push with
 * the VAPID private key given directly, or read from its secret at the first push; APNs and
 * FCM through SNS, each with a client in its platform application's region, keeping the
 * endpoint it makes on the registration.
 */
export function createPushSenders(
  config: ParleyConfig,
  logger: Logger,
  registrations: PushRegistrationStore,
): PushSenders {
  const push = config.push;
  if (!push) return {};
  const senders: PushSenders = {};
  const webpush = webPushSenderOf(push, config.endpoints.region, logger);
  if (webpush) senders.webpush = webpush;
  const snsSender = (
    arn: string,
    application: { apnsPlatformApplicationArn: string } | { fcmPlatformApplicationArn: string },
  ) =>
    new SnsPushSender({
      // The sender retries throttles itself, within its own bound.
      sns: new SNSClient({ region: regionOfEndpoint(arn) ?? config.endpoints.region, maxAttempts: 1 }),
      ...application,
      keepEndpoint: (registration, endpointArn) =>
        registrations.setPlatformEndpoint(
          registration.userId,
          registration.deviceId,
          registration.registeredAt,
          endpointArn,
        ),
    });
  const { apnsPlatformApplicationArn: apns, fcmPlatformApplicationArn: fcm } = push;
  if (apns) senders.apns = snsSender(apns, { apnsPlatformApplicationArn: apns });
  if (fcm) senders.fcm = snsSender(fcm, { fcmPlatformApplicationArn: fcm });
  return senders;
}

function webPushSenderOf(push: PushSettings, region: string, logger: Logger): WebPushSender | undefined {
  const vapid = push.vapid;
  if (!vapid) return undefined;
  const { privateKey, privateKeySecretArn } = vapid;
  let loadPrivateKey: () => Promise<string>;
  if (privateKey) loadPrivateKey = async () => privateKey;
  else if (privateKeySecretArn) {
    const client = createSecretsManagerClient(privateKeySecretArn, region);
    loadPrivateKey = secretStringLoader(client, privateKeySecretArn);
  } else return undefined;
  return new WebPushSender({
    vapid: { publicKey: vapid.publicKey, subject: vapid.subject, privateKey: loadPrivateKey },
    endpointHosts: push.endpointHosts,
    logger,
  });
}
