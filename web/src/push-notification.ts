/**
 * What the service worker shows for a push, and how a click on it opens the conversation.
 * Plain functions on the few parts of the worker's API they use, so that they run (and are
 * tested) outside a service worker too; `service-worker.ts` connects them to the events.
 */
import { isGroupConversationId, PUSH_TEXT_WITHOUT_PREVIEW, pushPayloadSchema } from '@parley/protocol';

/** The title of a notification whose sender is not shown: a group's, or a malformed push's. */
export const APP_TITLE = 'Parley';
/** The tag of a push that could not be read: each such push replaces the previous one. */
const UNREADABLE_TAG = 'parley';
/** The message the service worker posts to a window of the app to open a conversation. */
export const OPEN_CONVERSATION = 'parley:open-conversation';
/**
 * The page sends the titles of the user's groups to the worker, which keeps them in Cache
 * Storage: a push names only the conversation, and the worker may run with no page open.
 */
export const GROUP_TITLES = 'parley:group-titles';
export const GROUP_TITLES_CACHE = 'parley-push';
export const GROUP_TITLES_KEY = '/parley/group-titles.json';

/** Group titles by conversation id, as the page keeps them for the worker. */
export type GroupTitles = Readonly<Record<string, string>>;

/** What `registration.showNotification(title, options)` is given. */
export interface NotificationSpec {
  title: string;
  options: {
    body: string;
    /** The conversation: a newer push of the same conversation replaces the notification. */
    tag: string;
    /** A replaced notification alerts again (sound, vibration) rather than changing silently. */
    renotify: boolean;
    data: { conversationId?: string; seq?: number };
  };
}

/**
 * The notification for a push's data (its JSON, or `undefined` when it had none or was not
 * JSON). Under `userVisibleOnly` every push must show a notification, so one that cannot be
 * read shows a generic "New message" rather than nothing. A group's notification has the
 * group's title where the page kept it, else the app's name.
 */
export function notificationFor(data: unknown, groupTitles: GroupTitles = {}): NotificationSpec {
  const payload = pushPayloadSchema.safeParse(data);
  if (!payload.success) {
    return {
      title: APP_TITLE,
      options: { body: PUSH_TEXT_WITHOUT_PREVIEW, tag: UNREADABLE_TAG, renotify: true, data: {} },
    };
  }
  const { conversationId, seq, senderId, text } = payload.data;
  return {
    title: isGroupConversationId(conversationId) ? (groupTitles[conversationId] ?? APP_TITLE) : senderId,
    options: { body: text, tag: conversationId, renotify: true, data: { conversationId, seq } },
  };
}

/** The app's page that opens `conversationId` at start, for a click with no window to reuse. */
export function conversationUrl(scope: string, conversationId: string | undefined): string {
  const url = new URL(scope);
  if (conversationId) url.searchParams.set('conversation', conversationId);
  return url.href;
}

/** The parts of a window client the click uses. */
export interface WindowClientLike {
  readonly focused: boolean;
  focus(): Promise<unknown>;
  postMessage(message: unknown): void;
}

/** The parts of the worker's `clients` the click uses. */
export interface ClientsLike {
  matchAll(options: { type: 'window'; includeUncontrolled: boolean }): Promise<readonly WindowClientLike[]>;
  openWindow(url: string): Promise<unknown>;
}

/**
 * A click on a notification: an open window of the app (the focused one first) comes to
 * the front and opens the conversation; with none open, a new window opens at it.
 */
export async function openConversation(
  clients: ClientsLike,
  scope: string,
  conversationId: string | undefined,
): Promise<void> {
  const windows = await clients.matchAll({ type: 'window', includeUncontrolled: true });
  const target = windows.find((client) => client.focused) ?? windows[0];
  if (!target) {
    await clients.openWindow(conversationUrl(scope, conversationId));
    return;
  }
  if (conversationId) target.postMessage({ type: OPEN_CONVERSATION, conversationId });
  await target.focus();
}
