/**
 * Sends the titles of the user's groups to the service worker, which keeps them, so that a
 * push from a group shows the group's title even with no page of the app open.
 */
import type { ConversationView } from '@parley/sdk';
import { GROUP_TITLES } from './push-notification.js';

export class GroupTitleKeeper {
  /** What was sent last, so that an unchanged list sends nothing. */
  private sent = '';

  /** Sends the titles of the groups in `views` to the worker, if one is registered. */
  keep(views: readonly ConversationView[]): void {
    if (!('serviceWorker' in navigator)) return;
    const titles: Record<string, string> = {};
    for (const view of views)
      if (view.kind === 'group' && view.title) titles[view.conversationId] = view.title;
    const text = JSON.stringify(titles);
    if (text === this.sent || text === '{}') return;
    void navigator.serviceWorker.getRegistration().then((registration) => {
      // Without a worker there are no pushes; the titles go with the next change once there is one.
      const worker = registration?.active;
      if (!worker) return;
      worker.postMessage({ type: GROUP_TITLES, titles });
      this.sent = text;
    });
  }
}
