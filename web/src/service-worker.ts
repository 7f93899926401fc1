/**
 * The web app's service worker, served at `/sw.js` (built apart from the app by
 * vite.config.ts): it shows a notification for each Web Push and opens the conversation
 * when the user clicks it. Its own tsconfig gives it the worker's types, not the page's.
 */
import { notificationFor, openConversation } from './push-notification.js';

declare const self: ServiceWorkerGlobalScope;

/** The push's JSON, or `undefined` when it has no data or the data is not JSON. */
function readJson(data: PushMessageData | null): unknown {
  try {
    return data?.json();
  } catch {
    return undefined;
  }
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
  const { title, options } = notificationFor(readJson(event.data));
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const { conversationId } = (event.notification.data ?? {}) as { conversationId?: string };
  event.waitUntil(openConversation(self.clients, self.registration.scope, conversationId));
});
