/**
 * Push notifications (protocol 1.4): the push address a device registers, and the payload a
 * push carries to a device that is not connected. The server validates `registerPush` with
 * these schemas; the SDK, the web app's service worker and the local push service read a
 * payload with `pushPayloadSchema`.
 */
import { z } from 'zod';
import { typeError } from './fields.js';
import { conversationIdSchema, userIdSchema } from './ids.js';
import { MAX_PUSH_ENDPOINT_CHARS, MAX_PUSH_TOKEN_CHARS } from './limits.js';

/** base64url without padding, as the Push API's `PushSubscription.toJSON()` gives the keys. */
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** A key of a Web Push subscription: base64url of exactly `bytes` bytes. */
const subscriptionKeySchema = (bytes: number, what: string) =>
  z
    .string({ error: typeError('a base64url string') })
    .regex(BASE64URL, 'must be base64url (A-Z, a-z, 0-9, - and _), without padding')
    .length(
      Math.ceil((bytes * 4) / 3),
      `must be ${what}: ${bytes} bytes, ${Math.ceil((bytes * 4) / 3)} base64url characters`,
    );

/** An absolute `https:` or `http:` URL with a host; the deployment decides which hosts it posts to. */
const HTTP_URL = /^https?:\/\/[^\s/?#@]+(?:[/?#]\S*)?$/i;

/** A browser's Web Push subscription (RFC 8030, keys for RFC 8291), as `PushSubscription.toJSON()` gives it. */
export const webPushAddressSchema = z.strictObject({
  kind: z.literal('webpush'),
  endpoint: z
    .string({ error: typeError('a URL') })
    .max(MAX_PUSH_ENDPOINT_CHARS, `must be at most ${MAX_PUSH_ENDPOINT_CHARS} characters`)
    .regex(
      HTTP_URL,
      'must be an absolute https URL (http only where the deployment allows it, such as the local stack)',
    )
    .meta({ description: "the push service's URL for this subscription (`PushSubscription.endpoint`)" }),
  keys: z
    .strictObject({
      p256dh: subscriptionKeySchema(65, "the subscription's P-256 public key, uncompressed"),
      auth: subscriptionKeySchema(16, "the subscription's authentication secret"),
    })
    .meta({
      description:
        '`p256dh`: the P-256 public key, 87 base64url characters; `auth`: the authentication secret, 22 (`PushSubscription.toJSON().keys`)',
    }),
});

const deviceTokenSchema = (description: string, pattern: RegExp, characters: string) =>
  z
    .string({ error: typeError('a string') })
    .min(1, 'must not be empty')
    .max(MAX_PUSH_TOKEN_CHARS, `must be at most ${MAX_PUSH_TOKEN_CHARS} characters`)
    .regex(pattern, `must hold only ${characters}`)
    .meta({ description });

/** An iOS/macOS app's APNs device token, in hex. */
export const apnsAddressSchema = z.strictObject({
  kind: z.literal('apns'),
  token: deviceTokenSchema('the APNs device token, hex', /^[0-9A-Fa-f]+$/, 'hex digits'),
});

/** An Android (or web) app's Firebase Cloud Messaging registration token. */
export const fcmAddressSchema = z.strictObject({
  kind: z.literal('fcm'),
  token: deviceTokenSchema('the FCM registration token', /^[A-Za-z0-9_:.-]+$/, 'letters, digits and _ : . -'),
});

export const PUSH_KINDS = ['webpush', 'apns', 'fcm'] as const;
export type PushKind = (typeof PUSH_KINDS)[number];

export const pushAddressSchema = z.discriminatedUnion(
  'kind',
  [webPushAddressSchema, apnsAddressSchema, fcmAddressSchema],
  {
    error: (issue) =>
      issue.code === 'invalid_union' ? `kind: must be one of ${PUSH_KINDS.join(', ')}` : undefined,
  },
);

export type WebPushAddress = z.infer<typeof webPushAddressSchema>;
export type PushAddress = z.infer<typeof pushAddressSchema>;

/** What the notification says when the deployment does not show message text in pushes (the default). */
export const PUSH_TEXT_WITHOUT_PREVIEW = 'New message';

/**
 * What a push carries: enough to show a notification and to open the conversation, never
 * more than the deployment allows of the message itself. The app fetches the message with
 * `sync` once it connects.
 */
export const pushPayloadSchema = z.object({
  type: z.literal('message'),
  conversationId: conversationIdSchema,
  seq: z.int().min(1).meta({ description: 'the newest message the push stands for' }),
  senderId: userIdSchema,
  unread: z
    .int()
    .min(0)
    .meta({ description: "the conversation's messages after the recipient's read watermark, up to `seq`" }),
  text: z.string().meta({
    description: `the start of the message's body where the deployment shows it, else "${PUSH_TEXT_WITHOUT_PREVIEW}"`,
  }),
});

export type PushPayload = z.infer<typeof pushPayloadSchema>;
