/**
 * Push registration (protocol 1.4): the address at which the server wakes this device
 * when it has no open connection. A registration belongs to the device (its `deviceId`)
 * and outlives every connection; the app registers again whenever the browser's push
 * subscription or the platform's device token changes.
 */
import { type PushAddress, pushAddressSchema } from '@parley/protocol';
import { ParleyError, ParleyErrorCode } from './errors.js';

/** What `PushSubscription.toJSON()` gives in a browser (the DOM's `PushSubscriptionJSON`). */
export interface PushSubscriptionJson {
  endpoint?: string;
  keys?: Record<string, string>;
}

/**
 * The push address of a browser's Web Push subscription, for `client.registerPush`.
 *
 * @example
 * const subscription = await registration.pushManager.subscribe({
 *   userVisibleOnly: true,
 *   applicationServerKey: vapidPublicKey,
 * });
 * await client.registerPush(webPushAddressOf(subscription.toJSON()));
 */
export function webPushAddressOf(subscription: PushSubscriptionJson): PushAddress {
  return checkedPushAddress({
    kind: 'webpush',
    endpoint: subscription.endpoint,
    keys: { p256dh: subscription.keys?.p256dh, auth: subscription.keys?.auth },
  });
}

/**
 * The address as the server checks its shape, or `bad_request` naming the field as the
 * server would (`push.keys.p256dh: …`), without a round trip.
 */
export function checkedPushAddress(address: unknown): PushAddress {
  const parsed = pushAddressSchema.safeParse(address);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = ['push', ...(issue?.path ?? [])].join('.');
  throw new ParleyError(ParleyErrorCode.BadRequest, `${field}: ${issue?.message ?? 'invalid'}`);
}
