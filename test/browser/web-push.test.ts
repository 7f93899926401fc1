/**
 * Notifications in the web app (Web Push): the bell, the service worker, and what it shows.
 * Chromium cannot subscribe in these browser contexts (incognito ones, where it has no Push
 * API; and it would need Google's push service), so the subscription that reaches the server
 * comes from a stand-in `PushManager` in the page; the pushes themselves are real push events, delivered to the worker through the
 * DevTools protocol (`ServiceWorker.deliverPushMessage`).
 */
import { randomUUID } from 'node:crypto';
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import webPush from 'web-push';
import { LOCAL_JWT_SECRET, pushSettingsFrom } from '../../lambdas/config.js';
import { type RunningWebServer, startWebServer } from '../../local/web-server.js';
import { useTestStack } from '../support/stack.js';
import { layoutProblems, PHONE, signIn, WAIT } from './web-pages.js';

const VAPID = webPush.generateVAPIDKeys();
const VAPID_PUBLIC_KEY = VAPID.publicKey;
/** Where the stand-in subscription says its push service is: an origin the stack allows, where nothing listens. */
const STAND_IN_PUSH_SERVICE = 'http://127.0.0.1:9';
const STAND_IN_ENDPOINT = `${STAND_IN_PUSH_SERVICE}/push/stand-in-subscription`;
const STAND_IN_KEYS = { p256dh: `B${'A'.repeat(86)}`, auth: 'A'.repeat(22) };

interface ShownNotification {
  title: string;
  body: string;
  tag: string;
  data: unknown;
}

/** The little of the page's globals the tests use (this program has no DOM types). */
interface PageGlobals {
  navigator: {
    serviceWorker: {
      ready: Promise<{
        scope: string;
        getNotifications(): Promise<Array<ShownNotification & { close(): void }>>;
      }>;
    };
  };
  PushManager: {
    prototype: {
      getSubscription(): Promise<unknown>;
      subscribe(options?: { userVisibleOnly?: boolean; applicationServerKey?: unknown }): Promise<unknown>;
    };
  };
  subscribedWith?: { userVisibleOnly: boolean; key: number[] };
}

/** The little of the service worker's globals the tests use. */
interface WorkerGlobals {
  caches: {
    open(name: string): Promise<{
      match(key: string): Promise<{ json(): Promise<Record<string, string>> } | undefined>;
    }>;
  };
  clients: {
    matchAll(options: object): Promise<Array<{ postMessage(message: unknown): void }>>;
  };
}

/** The notifications the app's service worker shows, closed once read so that the next test starts with none. */
async function takeNotifications(page: Page): Promise<ShownNotification[]> {
  return page.evaluate(async () => {
    const registration = await (globalThis as unknown as PageGlobals).navigator.serviceWorker.ready;
    const shown = await registration.getNotifications();
    for (const notification of shown) notification.close();
    return shown.map(({ title, body, tag, data }) => ({ title, body, tag, data }));
  });
}

/**
 * Waits until the worker shows a notification (it handles a push on its own time), then takes
 * them. Polled with `evaluate`, which awaits the page's promise: a `waitForFunction` predicate
 * that is async hands back a promise, which counts as true at once, and the wait did not wait
 * (https://github.com/microsoft/playwright/issues/29132: the predicate is sync by design).
 */
async function nextNotifications(page: Page): Promise<ShownNotification[]> {
  await expect
    .poll(
      () =>
        page.evaluate(
          async () =>
            (
              await (
                await (globalThis as unknown as PageGlobals).navigator.serviceWorker.ready
              ).getNotifications()
            ).length,
        ),
      WAIT,
    )
    .toBeGreaterThan(0);
  return takeNotifications(page);
}

/**
 * A `PushManager` that subscribes without a push service: what Chromium would give with
 * one. It records the options the app subscribed with.
 */
function standInPushManager({ endpoint, keys }: { endpoint: string; keys: typeof STAND_IN_KEYS }) {
  const subscription = {
    endpoint,
    options: { applicationServerKey: null },
    toJSON: () => ({ endpoint, expirationTime: null, keys }),
    unsubscribe: async () => true,
  };
  const page = globalThis as unknown as PageGlobals;
  page.PushManager.prototype.getSubscription = async () => null;
  page.PushManager.prototype.subscribe = async (options) => {
    const key = options?.applicationServerKey as Uint8Array;
    page.subscribedWith = { userVisibleOnly: options?.userVisibleOnly === true, key: Array.from(key) };
    return subscription;
  };
}

/** The frames the page sends over its WebSocket, from now on. */
function framesSentBy(page: Page): Array<Record<string, unknown>> {
  const frames: Array<Record<string, unknown>> = [];
  page.on('websocket', (socket) =>
    socket.on('framesent', ({ payload }) => {
      if (typeof payload === 'string') frames.push(JSON.parse(payload) as Record<string, unknown>);
    }),
  );
  return frames;
}

function bytesOfBase64Url(text: string): number[] {
  return Array.from(Buffer.from(text, 'base64url'));
}

describe('notifications in the web app', () => {
  const { stack, connect } = useTestStack({
    push: {
      ...pushSettingsFrom({}),
      vapid: {
        publicKey: VAPID.publicKey,
        privateKey: VAPID.privateKey,
        subject: 'mailto:test@parley.example',
      },
      endpointHosts: [STAND_IN_PUSH_SERVICE],
    },
  });
  let web: RunningWebServer | undefined;
  let alice: Page;
  let aliceContext: BrowserContext;

  beforeAll(async () => {
    web = await startWebServer({
      port: 0,
      wsUrl: stack().url,
      tokenSecret: stack().config.tokens.secret ?? LOCAL_JWT_SECRET,
      vapidPublicKey: VAPID_PUBLIC_KEY,
    });
    ({ page: alice, context: aliceContext } = await signIn(web, 'alice'));
  });

  afterAll(async () => {
    await web?.stop();
  });

  it('offers the bell where the deployment has a VAPID key, and none where it has not', async () => {
    if (!web) throw new Error('not started');
    const { page: carol } = await signIn(web, 'carol');
    await carol.route('**/config', (route) =>
      route.fulfill({ json: { url: stack().url, vapidPublicKey: null } }),
    );
    await carol.reload();

    await alice.locator('[data-testid="notifications"][data-push="off"]').waitFor(WAIT);
    await carol.locator('[data-testid="notifications"][data-push="unavailable"]').waitFor({
      state: 'attached',
      ...WAIT,
    });

    expect(await alice.getByRole('button', { name: 'Enable notifications' }).isVisible()).toBe(true);
    expect(await carol.getByTestId('notifications').isVisible()).toBe(false);
  });

  it('fits the bell into the header of a phone', async () => {
    if (!web) throw new Error('not started');
    const { page: phone } = await signIn(web, 'frank', PHONE);

    await phone.getByRole('button', { name: 'Enable notifications' }).waitFor(WAIT);

    expect(await layoutProblems(phone)).toEqual([]);
  });

  it('says why when the browser’s permission is not given', async () => {
    // Headless Chromium answers a permission request it cannot show as not granted.
    await alice.getByRole('button', { name: 'Enable notifications' }).click();

    const toast = alice.getByTestId('error-toast');
    await toast.waitFor(WAIT);
    expect(await toast.textContent()).toMatch(
      /^Notifications are blocked: the browser's permission is "(default|denied)"$/,
    );
  });

  it('registers the service worker for the whole app, and says why the browser refused a subscription', async () => {
    if (!web) throw new Error('not started');
    await aliceContext.grantPermissions(['notifications'], { origin: web.url });

    await alice.getByRole('button', { name: 'Enable notifications' }).click();
    const toast = alice.getByTestId('error-toast').filter({ hasText: 'Cannot turn on notifications' });
    await toast.waitFor(WAIT);
    const scope = await alice.evaluate(
      async () => (await (globalThis as unknown as PageGlobals).navigator.serviceWorker.ready).scope,
    );

    expect(scope).toBe(`${web.url}/`);
    // Chromium refuses the subscription in an incognito context; the toast passes its reason on.
    expect(await toast.textContent()).toBe(
      'Cannot turn on notifications: Registration failed - permission denied',
    );
    expect(await alice.getByRole('button', { name: 'Enable notifications' }).isEnabled()).toBe(true);
  });

  describe('pushes delivered to the service worker', () => {
    let devtools: CDPSession;
    let registrationId: string;

    beforeAll(async () => {
      if (!web) throw new Error('not started');
      devtools = await aliceContext.newCDPSession(alice);
      const registered = new Promise<string>((resolve) =>
        devtools.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
          const live = registrations.find((registration) => !registration.isDeleted);
          if (live) resolve(live.registrationId);
        }),
      );
      await devtools.send('ServiceWorker.enable');
      registrationId = await registered;
    });

    async function push(data: string): Promise<ShownNotification[]> {
      if (!web) throw new Error('not started');
      await devtools.send('ServiceWorker.deliverPushMessage', { origin: web.url, registrationId, data });
      return nextNotifications(alice);
    }

    it('shows a message under its sender, tagged with the conversation, with its conversation and seq', async () => {
      const shown = await push(
        JSON.stringify({
          type: 'message',
          conversationId: 'dm:alice:bob',
          seq: 4,
          senderId: 'bob',
          unread: 2,
          text: 'Lunch at noon?',
        }),
      );

      expect(shown).toEqual([
        {
          title: 'bob',
          body: 'Lunch at noon?',
          tag: 'dm:alice:bob',
          data: { conversationId: 'dm:alice:bob', seq: 4 },
        },
      ]);
    });

    it('shows a group’s push under the group’s title, which the page sends the worker to keep', async () => {
      const bob = await connect('bob', 'phone');
      const conversationId = `grp:${randomUUID()}`;
      await bob.request({ action: 'createGroup', conversationId, title: 'Lunch crew', members: ['alice'] });
      const [worker] = aliceContext.serviceWorkers();
      await expect
        .poll(
          () =>
            worker?.evaluate(async (id) => {
              const cache = await (globalThis as unknown as WorkerGlobals).caches.open('parley-push');
              const kept = await cache.match('/parley/group-titles.json');
              return kept ? (await kept.json())[id] : undefined;
            }, conversationId),
          WAIT,
        )
        .toBe('Lunch crew');

      const shown = await push(
        JSON.stringify({
          type: 'message',
          conversationId,
          seq: 2,
          senderId: 'bob',
          unread: 1,
          text: 'New message',
        }),
      );

      expect(shown).toEqual([
        { title: 'Lunch crew', body: 'New message', tag: conversationId, data: { conversationId, seq: 2 } },
      ]);
    });

    it('shows a generic "New message" for a push it cannot read', async () => {
      const shown = await push('{"type":"message","conversationId":');

      expect(shown).toEqual([{ title: 'Parley', body: 'New message', tag: 'parley', data: {} }]);
    });

    it('opens the conversation in the open window when the worker says a notification was clicked', async () => {
      // No DevTools command clicks a notification: the worker's message to the window,
      // as its click handler sends it, is posted from the worker itself.
      const [worker] = aliceContext.serviceWorkers();
      if (!worker) throw new Error('no service worker');
      await worker.evaluate(async () => {
        const windows = await (globalThis as unknown as WorkerGlobals).clients.matchAll({
          type: 'window',
          includeUncontrolled: true,
        });
        for (const client of windows) {
          client.postMessage({ type: 'parley:open-conversation', conversationId: 'dm:alice:bob' });
        }
      });

      await alice.getByTestId('chat-peer').filter({ hasText: 'bob' }).waitFor(WAIT);
    });
  });

  it('opens the conversation a notification’s new window names, and leaves the address at /', async () => {
    if (!web) throw new Error('not started');
    const { page: dave } = await signIn(web, 'dave');

    await dave.goto(`${web.url}/?conversation=dm:bob:dave`);

    await dave.getByTestId('chat-peer').filter({ hasText: 'bob' }).waitFor(WAIT);
    expect(new URL(dave.url()).search).toBe('');
  });

  it('subscribes with the VAPID key, registers the subscription on a click and at each start, and unregisters at sign-out', async () => {
    if (!web) throw new Error('not started');
    const { page: erin, context } = await signIn(web, 'erin');
    await context.addInitScript(standInPushManager, { endpoint: STAND_IN_ENDPOINT, keys: STAND_IN_KEYS });
    const frames = framesSentBy(erin);
    await erin.reload();
    // The app has read the permission (not granted yet) once it shows the bell as off.
    await erin.locator('[data-testid="notifications"][data-push="off"]').waitFor(WAIT);
    await context.grantPermissions(['notifications'], { origin: web.url });

    await erin.getByRole('button', { name: 'Enable notifications' }).click();
    await erin.getByRole('button', { name: 'Notifications on' }).waitFor(WAIT);
    const subscribedWith = await erin.evaluate(() => (globalThis as unknown as PageGlobals).subscribedWith);
    await erin.reload();
    await erin.getByRole('button', { name: 'Notifications on' }).waitFor(WAIT);

    await erin.getByTestId('sign-out').click();
    await erin.getByTestId('signin-user').waitFor(WAIT);

    const registrations = frames.filter((frame) => frame.action === 'registerPush');
    expect(subscribedWith).toEqual({ userVisibleOnly: true, key: bytesOfBase64Url(VAPID_PUBLIC_KEY) });
    expect(registrations).toHaveLength(2);
    for (const frame of registrations) {
      expect(frame.push).toEqual({ kind: 'webpush', endpoint: STAND_IN_ENDPOINT, keys: STAND_IN_KEYS });
    }
    expect(frames.filter((frame) => frame.action === 'unregisterPush')).toHaveLength(1);
  });
});
