/**
 * The web app's service worker, served at `/sw.js` (built apart from the app by
 * vite.config.ts): it shows a notification for each Web Push and opens the conversation
 * when the user clicks it. Its own tsconfig gives it the worker's types, not the page's.
 */
import {
  GROUP_TITLES,
  GROUP_TITLES_CACHE,
  GROUP_TITLES_KEY,
  type GroupTitles,
  notificationFor,
  openConversation,
} from './push-notification.js';

declare const self: ServiceWorkerGlobalScope;

/** The push's JSON, or `undefined` when it has no data or the data is not JSON. */
function readJson(data: PushMessageData | null): unknown {
  try {
    return data?.json();
  } catch {
    return undefined;
  }
}

/** The group titles kept from the pages; none when none were kept or they cannot be read. */
async function keptTitles(): Promise<GroupTitles> {
  try {
    const kept = await (await caches.open(GROUP_TITLES_CACHE)).match(GROUP_TITLES_KEY);
    return kept ? ((await kept.json()) as GroupTitles) : {};
  } catch {
    return {};
  }
}

/** Adds a page's group titles to those kept (each signed-in tab sends its own user's). */
async function keepTitles(titles: GroupTitles): Promise<void> {
  const body = JSON.stringify({ ...(await keptTitles()), ...titles });
  const cache = await caches.open(GROUP_TITLES_CACHE);
  await cache.put(GROUP_TITLES_KEY, new Response(body, { headers: { 'content-type': 'application/json' } }));
}

/** The notification for a push; the titles are a nicety, so without them it shows all the same. */
async function showPush(data: unknown): Promise<void> {
  const { title, options } = notificationFor(data, await keptTitles());
  await self.registration.showNotification(title, options);
}

// A new version of the worker takes over the open pages at once: there is no state of an
// older version to finish.
self.addEventListener('install', () => {
  void self.skipWaiting();
});
self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener('push', (event) => {
  event.waitUntil(showPush(readJson(event.data)));
});

self.addEventListener('message', (event) => {
  const { type, titles } = (event.data ?? {}) as { type?: unknown; titles?: unknown };
  if (type === GROUP_TITLES && typeof titles === 'object' && titles !== null) {
    event.waitUntil(keepTitles(titles as GroupTitles));
  }
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const { conversationId } = (event.notification.data ?? {}) as { conversationId?: string };
  event.waitUntil(openConversation(self.clients, self.registration.scope, conversationId));
});
