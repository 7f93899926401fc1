import { describe, expect, it } from 'vitest';
import { platformEndpointsOf } from '../../lib/push-settings.js';
import { parseSettings, SettingsError } from '../../lib/settings.js';

const PUBLIC_KEY = `B${'A'.repeat(86)}`;
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:parley/vapid-AbC123';
const APNS_ARN = 'arn:aws:sns:eu-west-1:123456789012:app/APNS_SANDBOX/parley-ios';
const FCM_ARN = 'arn:aws:sns:eu-west-1:123456789012:app/GCM/parley-android';
const WEB_PUSH = {
  vapidPublicKey: PUBLIC_KEY,
  vapidPrivateKeySecretArn: SECRET_ARN,
  vapidSubject: 'mailto:ops@example.com',
};

const settingsOf = (context: Record<string, unknown>) =>
  parseSettings((key) => (key in context ? context[key] : key === 'stage' ? 'dev' : undefined));
const errorOf = (context: Record<string, unknown>): string => {
  try {
    settingsOf(context);
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError);
    return (error as Error).message;
  }
  throw new Error('the settings were accepted');
};

describe('the push settings', () => {
  it('leave push off when none is given', () => {
    expect(settingsOf({}).push).toBeUndefined();
  });

  it('take Web Push, APNs, FCM and how pushes go', () => {
    expect(
      settingsOf({
        ...WEB_PUSH,
        apnsPlatformApplicationArn: APNS_ARN,
        fcmPlatformApplicationArn: FCM_ARN,
        pushPreview: 'true',
        pushCoalesceSeconds: '8',
        pushTtlSeconds: 600,
        pushEndpointHosts: 'fcm.googleapis.com, http://127.0.0.1:8093',
      }).push,
    ).toEqual({
      vapid: { publicKey: PUBLIC_KEY, privateKeySecretArn: SECRET_ARN, subject: 'mailto:ops@example.com' },
      apnsPlatformApplicationArn: APNS_ARN,
      fcmPlatformApplicationArn: FCM_ARN,
      preview: true,
      coalesceSeconds: 8,
      ttlSeconds: 600,
      endpointHosts: ['fcm.googleapis.com', 'http://127.0.0.1:8093'],
    });
  });

  it('need the private key’s secret and a subject with the public key', () => {
    expect(errorOf({ vapidPublicKey: PUBLIC_KEY, vapidSubject: 'mailto:ops@example.com' })).toMatch(
      /^Invalid context vapidPrivateKeySecretArn: is required with vapidPublicKey/,
    );
    expect(errorOf({ vapidPublicKey: PUBLIC_KEY, vapidPrivateKeySecretArn: SECRET_ARN })).toMatch(
      /^Invalid context vapidSubject: is required with vapidPublicKey/,
    );
    expect(errorOf({ vapidPrivateKeySecretArn: SECRET_ARN, vapidSubject: 'mailto:ops@example.com' })).toMatch(
      /^Invalid context vapidPrivateKeySecretArn: needs vapidPublicKey/,
    );
  });

  it('refuse the private key itself, without repeating it', () => {
    const privateKey = 'c2VjcmV0LXByaXZhdGUta2V5LW5ldmVyLWluLXRoZS10ZW1wbGF0ZQ';
    const message = errorOf({ ...WEB_PUSH, vapidPrivateKey: privateKey });
    expect(message).toMatch(/^Invalid context vapidPrivateKey: must not be given/);
    expect(message).not.toContain(privateKey);
  });

  it('refuse a key, a secret or a subject of the wrong shape', () => {
    expect(errorOf({ ...WEB_PUSH, vapidPublicKey: 'too-short' })).toMatch(
      /^Invalid context vapidPublicKey: must be a P-256/,
    );
    expect(
      errorOf({
        ...WEB_PUSH,
        vapidPrivateKeySecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:vapid',
      }),
    ).toMatch(/^Invalid context vapidPrivateKeySecretArn: must be the complete ARN/);
    expect(errorOf({ ...WEB_PUSH, vapidSubject: 'ops@example.com' })).toMatch(
      /^Invalid context vapidSubject: must be a mailto:/,
    );
  });

  it('refuse a platform application of the other platform', () => {
    expect(errorOf({ apnsPlatformApplicationArn: FCM_ARN })).toMatch(
      /^Invalid context apnsPlatformApplicationArn: must be the ARN of an SNS platform application of APNS/,
    );
    expect(errorOf({ fcmPlatformApplicationArn: APNS_ARN })).toMatch(
      /^Invalid context fcmPlatformApplicationArn: must be the ARN of an SNS platform application of GCM/,
    );
  });

  it('refuse endpoint hosts that are neither host names nor origins, and out-of-range numbers', () => {
    expect(errorOf({ pushEndpointHosts: 'https://push.example.com/path' })).toMatch(
      /^Invalid context pushEndpointHosts/,
    );
    expect(errorOf({ pushCoalesceSeconds: '0' })).toMatch(/^Invalid context pushCoalesceSeconds/);
    expect(errorOf({ pushTtlSeconds: 3_000_000 })).toMatch(/^Invalid context pushTtlSeconds/);
  });

  it('name the endpoints of a platform application by one pattern', () => {
    expect(platformEndpointsOf(APNS_ARN)).toBe(
      'arn:aws:sns:eu-west-1:123456789012:endpoint/APNS_SANDBOX/parley-ios/*',
    );
  });
});
