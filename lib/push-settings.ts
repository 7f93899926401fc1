/**
 * The push settings of a Parley stack (protocol 1.4): Web Push with the deployment's VAPID
 * key pair, APNs and FCM through SNS platform applications the operator made, and how
 * pushes look and how often they go. Read from CDK context with the other settings
 * (`lib/settings.ts`), checked at synthesis, and handed to the push functions as the
 * environment variables `lambdas/config.ts` (`pushSettingsFrom`) reads.
 */
import { z } from 'zod';

/** The complete ARN of a Secrets Manager secret, with the 6-character suffix AWS adds to its name. */
export const SECRET_COMPLETE_ARN =
  /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+-[A-Za-z0-9]{6}$/;

/** The push context keys, and what each takes. */
export const PUSH_SETTING_KEYS = {
  vapidPublicKey:
    'the VAPID public key that npm run vapid-keys prints (65 bytes in base64url, 87 characters)',
  vapidPrivateKeySecretArn:
    'the complete ARN of the Secrets Manager secret whose SecretString is the VAPID private key (npm run vapid-keys prints the command that makes it)',
  vapidSubject: 'a mailto: or https: contact for the push services (RFC 8292), e.g. mailto:ops@example.com',
  apnsPlatformApplicationArn: 'the ARN of an SNS platform application of APNS or APNS_SANDBOX',
  fcmPlatformApplicationArn: 'the ARN of an SNS platform application of GCM (Firebase Cloud Messaging)',
  pushPreview: 'true to show the start of a message in its push (default false: "New message")',
  pushCoalesceSeconds: 'seconds between two pushes of one conversation to one device (1 to 300, default 5)',
  pushTtlSeconds:
    'seconds a push service keeps a push for a device it cannot reach (0 to 2419200, default 86400)',
  pushEndpointHosts:
    'comma-separated host names (subdomains included) or exact origins Web Push endpoints may have; default the browsers’ push services',
  vapidPrivateKey:
    'nothing: the private key never goes in context or the template; store it in Secrets Manager and give vapidPrivateKeySecretArn',
} as const;

export type PushSettingKey = keyof typeof PUSH_SETTING_KEYS;

/** What a deployment pushes with; absent settings keep the functions' defaults. */
export interface PushDeploymentSettings {
  /** Web Push is on: the public key and subject reach the functions, the private key only as its secret's ARN. */
  vapid?: { publicKey: string; privateKeySecretArn: string; subject: string };
  apnsPlatformApplicationArn?: string;
  fcmPlatformApplicationArn?: string;
  preview?: boolean;
  coalesceSeconds?: number;
  ttlSeconds?: number;
  endpointHosts?: string[];
}

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
/** A P-256 public key in base64url, uncompressed: 65 bytes, 87 characters. */
const VAPID_PUBLIC_KEY = /^[A-Za-z0-9_-]{87}$/;
const platformApplicationArn = (platforms: string, what: string) =>
  z
    .string()
    .regex(
      new RegExp(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:\\d{12}:app/(${platforms})/[\\w.-]+$`),
      `must be the ARN of an SNS platform application of ${what}`,
    );
/** A host name, or an origin (scheme, host and port) such as a local push service's. */
const ENDPOINT_HOST = /^([a-z0-9-]+(\.[a-z0-9-]+)*|https?:\/\/[^/,\s]+)$/;

export const pushContextSchema = z
  .object({
    vapidPublicKey: z
      .string()
      .regex(VAPID_PUBLIC_KEY, 'must be a P-256 public key, 65 bytes in base64url (87 characters)')
      .optional(),
    vapidPrivateKeySecretArn: z
      .string()
      .regex(
        SECRET_COMPLETE_ARN,
        'must be the complete ARN of a Secrets Manager secret, ending in its 6-character suffix',
      )
      .optional(),
    vapidSubject: z
      .string()
      .regex(/^(mailto:\S+@\S+|https:\/\/\S+)$/, 'must be a mailto: or https: URL')
      .optional(),
    apnsPlatformApplicationArn: platformApplicationArn(
      'APNS|APNS_SANDBOX',
      'APNS or APNS_SANDBOX',
    ).optional(),
    fcmPlatformApplicationArn: platformApplicationArn('GCM', 'GCM (FCM)').optional(),
    pushPreview: z
      .union([z.boolean(), z.enum(['true', 'false']).transform((value) => value === 'true')])
      .optional(),
    pushCoalesceSeconds: integer(1, 300).optional(),
    pushTtlSeconds: integer(0, 28 * 24 * 60 * 60).optional(),
    pushEndpointHosts: z
      .string()
      .transform((list) =>
        list
          .split(',')
          .map((entry) => entry.trim())
          .filter(Boolean),
      )
      .refine((hosts) => hosts.length > 0 && hosts.every((host) => ENDPOINT_HOST.test(host)), {
        message: 'must be host names such as fcm.googleapis.com or origins such as http://127.0.0.1:8093',
      })
      .optional(),
    // Refused whatever its value: a value in context ends up in cdk.out and the shell history.
    vapidPrivateKey: z
      .unknown()
      .refine(() => false, 'must not be given: the private key stays in Secrets Manager')
      .optional(),
  })
  .refine((context) => !context.vapidPublicKey || context.vapidPrivateKeySecretArn, {
    message: 'is required with vapidPublicKey',
    path: ['vapidPrivateKeySecretArn'],
  })
  .refine((context) => !context.vapidPublicKey || context.vapidSubject, {
    message: 'is required with vapidPublicKey',
    path: ['vapidSubject'],
  })
  .refine((context) => context.vapidPublicKey || !context.vapidPrivateKeySecretArn, {
    message: 'needs vapidPublicKey, the other half of the key pair',
    path: ['vapidPrivateKeySecretArn'],
  });

/** The push settings, or undefined when the context gives none (push is then off). */
export function toPushSettings(
  context: z.infer<typeof pushContextSchema>,
): PushDeploymentSettings | undefined {
  const push: PushDeploymentSettings = {
    ...(context.vapidPublicKey && context.vapidPrivateKeySecretArn && context.vapidSubject
      ? {
          vapid: {
            publicKey: context.vapidPublicKey,
            privateKeySecretArn: context.vapidPrivateKeySecretArn,
            subject: context.vapidSubject,
          },
        }
      : {}),
    ...(context.apnsPlatformApplicationArn
      ? { apnsPlatformApplicationArn: context.apnsPlatformApplicationArn }
      : {}),
    ...(context.fcmPlatformApplicationArn
      ? { fcmPlatformApplicationArn: context.fcmPlatformApplicationArn }
      : {}),
    ...(context.pushPreview !== undefined ? { preview: context.pushPreview } : {}),
    ...(context.pushCoalesceSeconds !== undefined ? { coalesceSeconds: context.pushCoalesceSeconds } : {}),
    ...(context.pushTtlSeconds !== undefined ? { ttlSeconds: context.pushTtlSeconds } : {}),
    ...(context.pushEndpointHosts ? { endpointHosts: context.pushEndpointHosts } : {}),
  };
  return Object.keys(push).length > 0 ? push : undefined;
}

/** The SNS platform applications a deployment pushes through, by the kind of registration. */
export function platformApplicationsOf(push: PushDeploymentSettings | undefined): string[] {
  return [push?.apnsPlatformApplicationArn, push?.fcmPlatformApplicationArn].filter(
    (arn): arn is string => arn !== undefined,
  );
}

/**
 * The endpoints SNS makes in a platform application, `…:endpoint/{platform}/{name}/{id}`,
 * as one ARN pattern: the ids are made at run time.
 */
export function platformEndpointsOf(applicationArn: string): string {
  return `${applicationArn.replace(':app/', ':endpoint/')}/*`;
}

/**
 * The environment variables of `lambdas/config.ts` (`pushSettingsFrom`). The registration
 * routes need to know which kinds are on and which Web Push hosts are allowed; the notifier
 * also needs the private key's secret and how to push.
 */
export function pushEnvironmentOf(
  push: PushDeploymentSettings | undefined,
  reader: 'routes' | 'notifier',
): Record<string, string> {
  if (!push) return {};
  const { vapid } = push;
  const optional = (name: string, value: string | number | boolean | undefined) =>
    value === undefined ? {} : { [name]: String(value) };
  return {
    ...(vapid ? { PARLEY_VAPID_PUBLIC_KEY: vapid.publicKey, PARLEY_VAPID_SUBJECT: vapid.subject } : {}),
    ...optional('PARLEY_APNS_PLATFORM_APPLICATION_ARN', push.apnsPlatformApplicationArn),
    ...optional('PARLEY_FCM_PLATFORM_APPLICATION_ARN', push.fcmPlatformApplicationArn),
    ...optional('PARLEY_PUSH_ENDPOINT_HOSTS', push.endpointHosts?.join(',')),
    ...(reader === 'notifier'
      ? {
          ...optional('PARLEY_VAPID_PRIVATE_KEY_SECRET_ARN', vapid?.privateKeySecretArn),
          ...optional('PARLEY_PUSH_PREVIEW', push.preview),
          ...optional('PARLEY_PUSH_COALESCE_SECONDS', push.coalesceSeconds),
          ...optional('PARLEY_PUSH_TTL_SECONDS', push.ttlSeconds),
        }
      : {}),
  };
}
