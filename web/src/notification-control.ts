/**
 * Notifications (Web Push): the bell in the header. Clicked, it asks the browser's
 * permission, registers the service worker (`/sw.js`), subscribes to push with the
 * deployment's VAPID public key (from the web server's `/config`) and registers the
 * subscription for this device with the server. Where the deployment has no VAPID key or
 * the browser no Push API, there is no bell. Once the permission is granted, each start of
 * the app registers the subscription again, so that one the browser renewed reaches the server.
 */
import { type PushAddress, webPushAddressOf } from '@parley/sdk';
import { h, setAttribute } from './dom.js';
import { bellIcon } from './icons.js';

/** What the control needs of the client: the SDK's `registerPush`. */
export interface PushRegistrar {
  registerPush(address: PushAddress): Promise<void>;
}

/** Where vite.config.ts builds the service worker: at the root, so that it controls the whole app. */
const SERVICE_WORKER_URL = '/sw.js';

const ENABLE_LABEL = 'Enable notifications';
const ON_LABEL = 'Notifications on';

/** Whether this browser can receive Web Push here (a secure context with the Push API). */
function pushSupported(): boolean {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

/** The deployment's VAPID public key from the web server, or `undefined` when it has none or cannot be reached. */
async function fetchVapidPublicKey(): Promise<string | undefined> {
  try {
    const response = await fetch('/config', { cache: 'no-store' });
    const body = (await response.json()) as { vapidPublicKey?: unknown };
    return response.ok && typeof body.vapidPublicKey === 'string' ? body.vapidPublicKey : undefined;
  } catch {
    return undefined;
  }
}

/** base64url (as the stack's output gives the key) to the bytes `applicationServerKey` takes. */
function bytesOf(base64url: string): Uint8Array<ArrayBuffer> {
  const base64 = base64url.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, '='));
  return Uint8Array.from(binary, (character) => character.charCodeAt(0));
}

function sameBytes(buffer: ArrayBuffer | null, bytes: Uint8Array): boolean {
  if (!buffer || buffer.byteLength !== bytes.length) return false;
  const other = new Uint8Array(buffer);
  return bytes.every((byte, index) => byte === other[index]);
}

/** This browser's subscription for the key: the one it has, or a new one. */
async function subscriptionFor(
  registration: ServiceWorkerRegistration,
  vapidPublicKey: string,
): Promise<PushSubscription> {
  const applicationServerKey = bytesOf(vapidPublicKey);
  const existing = await registration.pushManager.getSubscription();
  if (existing && sameBytes(existing.options.applicationServerKey, applicationServerKey)) return existing;
  // A subscription made for another key (the deployment's key changed) cannot carry our pushes.
  await existing?.unsubscribe();
  // userVisibleOnly: browsers allow push only to workers that show every push to the user.
  return registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey });
}

export class NotificationControl {
  readonly element = h(
    'button',
    {
      type: 'button',
      class: 'bell',
      'data-testid': 'notifications',
      'aria-label': ENABLE_LABEL,
      title: ENABLE_LABEL,
      hidden: true,
      onclick: () => void this.enable(),
    },
    bellIcon(),
  );
  private vapidPublicKey: string | undefined;
  private started: Promise<void> | undefined;

  constructor(
    private readonly registrar: PushRegistrar,
    /** Called with the reason notifications could not be turned on. */
    private readonly onError: (text: string) => void,
    /** Called once they are on: the service worker is there to be told things. */
    private readonly onOn: () => void = () => {},
  ) {}

  /**
   * Shows the bell where push can work; with the permission granted before, subscribes
   * and registers again. Call it once the client is connected: registering needs the server.
   */
  start(): Promise<void> {
    this.started ??= this.resume();
    return this.started;
  }

  private async resume(): Promise<void> {
    this.vapidPublicKey = pushSupported() ? await fetchVapidPublicKey() : undefined;
    // `data-push` says what the control found: unavailable, off, or on.
    setAttribute(this.element, 'data-push', this.vapidPublicKey ? 'off' : 'unavailable');
    if (!this.vapidPublicKey) return;
    this.element.hidden = false;
    if (Notification.permission === 'granted') await this.turnOn();
  }

  private async enable(): Promise<void> {
    const permission = await Notification.requestPermission();
    if (permission !== 'granted') {
      this.onError(`Notifications are blocked: the browser's permission is "${permission}"`);
      return;
    }
    await this.turnOn();
  }

  private async turnOn(): Promise<void> {
    const { vapidPublicKey } = this;
    if (!vapidPublicKey) return;
    this.element.disabled = true;
    try {
      await navigator.serviceWorker.register(SERVICE_WORKER_URL, { scope: '/' });
      const registration = await navigator.serviceWorker.ready;
      const subscription = await subscriptionFor(registration, vapidPublicKey);
      await this.registrar.registerPush(webPushAddressOf(subscription.toJSON()));
      this.showOn();
      this.onOn();
    } catch (error) {
      this.element.disabled = false;
      this.onError(`Cannot turn on notifications: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Stays disabled: there is nothing more to turn on. */
  private showOn(): void {
    setAttribute(this.element, 'aria-label', ON_LABEL);
    setAttribute(this.element, 'title', ON_LABEL);
    setAttribute(this.element, 'data-push', 'on');
  }
}
