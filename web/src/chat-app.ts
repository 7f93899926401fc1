/**
 * The signed-in app: the conversation list on the left, the open chat on the right, and
 * the offline banner above both; on a narrow screen, the list or the chat, one at a time
 * (the stylesheet picks by `data-view`), and the browser's back goes from the chat to the
 * list. Everything shown is read from the client; events only
 * say what to draw again. Each part of the page is its own component; this file builds
 * them, lays them out and connects them to the client's events.
 */
import { ConnectionState, isGroupEvent, MessageStatus, newGroupId, type ParleyClient } from '@parley/sdk';
import { avatar } from './avatar.js';
import { ChatPane } from './chat-pane.js';
import { ChatSelection } from './chat-selection.js';
import { ConversationList } from './conversation-list.js';
import { h, setAttribute } from './dom.js';
import { ErrorToast } from './error-toast.js';
import type { NewGroup } from './group-rules.js';
import { GroupTitleKeeper } from './group-titles.js';
import { NewChatForm } from './new-chat-form.js';
import { NewGroupForm } from './new-group-form.js';
import { NotificationControl } from './notification-control.js';
import { OfflineBanner } from './offline-banner.js';
import { PresenceTracker } from './presence-tracker.js';
import { OPEN_CONVERSATION } from './push-notification.js';
import { ReadMarker } from './read-marker.js';
import { RenderQueue } from './render-queue.js';

/** "last seen" and list times move with the clock. */
const CLOCK_REDRAW_MS = 30_000;

/** The browser history entry of an open chat. */
interface HistoryState {
  conversationId: string;
}

/** Whether the current history entry is an open chat's. */
function openedInHistory(): boolean {
  return typeof (history.state as Partial<HistoryState> | null)?.conversationId === 'string';
}

export interface ChatAppOptions {
  client: ParleyClient;
  onSignOut: () => void;
  /** A conversation to open at start (a click on a notification), instead of the one kept from last time. */
  openAtStart?: string | undefined;
}

/** Draws the app into `root`; the function it returns takes it down again. */
export function mountChatApp(
  root: HTMLElement,
  { client, onSignOut, openAtStart }: ChatAppOptions,
): () => void {
  const app = new ChatApp(client, onSignOut);
  root.replaceChildren(app.element);
  app.start(openAtStart);
  return () => {
    app.dispose();
    root.replaceChildren();
  };
}

class ChatApp {
  private readonly me: string;
  private readonly selection: ChatSelection;
  private readonly presence: PresenceTracker;
  /** Whether the list of blocked users was asked for. */
  private blocksRead = false;
  private readonly reads: ReadMarker;
  private readonly banner: OfflineBanner;
  private readonly toast = new ErrorToast();
  private readonly notifications: NotificationControl;
  private readonly groupTitles = new GroupTitleKeeper();
  private readonly newChat: NewChatForm;
  private readonly newGroup: NewGroupForm;
  private readonly list: ConversationList;
  private readonly chat: ChatPane;
  private readonly queue: RenderQueue;
  readonly element: HTMLElement;
  private stopListening = () => {};

  constructor(
    private readonly client: ParleyClient,
    private readonly onSignOut: () => void,
  ) {
    const me = client.userId;
    this.me = me;
    const selection = new ChatSelection(client, me);
    this.selection = selection;
    this.presence = new PresenceTracker(client, me, () => this.queue.schedule('list', 'chat'));
    this.reads = new ReadMarker(client, () => selection.openId);
    this.banner = new OfflineBanner(client);
    this.newChat = new NewChatForm(me, (peerId) => this.startChat(peerId));
    this.newGroup = new NewGroupForm(me, (group) => this.startGroup(group));
    this.notifications = new NotificationControl(
      client,
      (text) => this.toast.show(text),
      () => this.groupTitles.keep(client.conversations()),
    );
    const { presence } = this;
    this.list = new ConversationList({ client, me, selection, presence, onOpen: (id) => this.open(id) });
    this.chat = new ChatPane({
      client,
      me,
      selection,
      presence,
      onBack: () => this.back(),
      onLeft: () => this.queue.schedule('list', 'chat'),
      onSent: () => this.queue.schedule('list', 'chat', 'banner'),
      onError: (text) => this.toast.show(text),
    });
    this.queue = new RenderQueue({
      banner: () => this.banner.render(),
      list: () => this.list.render(),
      chat: () => this.chat.render(),
    });
    this.element = this.layout();
  }

  /** Follows the client, draws everything once, and opens the chat asked for or kept from last time. */
  start(openAtStart?: string): void {
    this.stopListening = this.listen();
    this.presence.subscribePeers();
    this.groupTitles.keep(this.client.conversations());
    this.queue.schedule('banner', 'list', 'chat');
    const openId = openAtStart ?? this.selection.openId;
    if (openId) this.open(openId);
    else this.showView();
  }

  dispose(): void {
    const { openId } = this.selection;
    if (openId) this.client.stopTyping(openId);
    // The next user of the tab does not go back into this one's chat.
    if (openedInHistory()) history.replaceState(null, '');
    this.stopListening();
    this.toast.dispose();
  }

  private layout(): HTMLElement {
    const sidebar = h(
      'aside',
      { class: 'sidebar' },
      h(
        'header',
        { class: 'bar me' },
        avatar(this.me),
        h('span', { class: 'me-name', 'data-testid': 'me' }, this.me),
        this.notifications.element,
        h(
          'button',
          {
            type: 'button',
            class: 'link',
            'data-testid': 'new-group',
            onclick: () => this.newGroup.toggle(),
          },
          'New group',
        ),
        h(
          'button',
          { type: 'button', class: 'link', 'data-testid': 'sign-out', onclick: () => this.onSignOut() },
          'Sign out',
        ),
      ),
      this.newChat.form,
      this.newChat.error,
      this.newGroup.form,
      this.list.element,
    );
    return h(
      'div',
      { class: 'app', 'data-view': 'list' },
      this.banner.element,
      h('div', { class: 'panes' }, sidebar, this.chat.element, this.chat.emptyElement),
      this.toast.element,
    );
  }

  private startChat(peerId: string): void {
    this.open(this.selection.chatWith(peerId));
    this.chat.composer.focus();
  }

  /**
   * Creates a group and opens it at once: the creation waits in the outbox while offline,
   * and what is written into the group follows it.
   */
  private startGroup({ title, members }: NewGroup): void {
    const conversationId = newGroupId();
    this.selection.groupDraft(conversationId, title, members);
    this.client.createGroup({ conversationId, title, members }).catch((error: unknown) => {
      this.toast.show(error instanceof Error ? error.message : String(error));
      this.selection.dropDraft(conversationId);
      this.queue.schedule('list', 'chat');
    });
    this.open(conversationId);
    this.chat.composer.focus();
  }

  /**
   * Opens a chat. Picked by the user, it gets an entry in the browser's history (one at
   * most: another chat replaces it), so that back returns to the list.
   */
  private open(conversationId: string, { fromHistory = false } = {}): void {
    const { client, selection, chat } = this;
    const previous = selection.openId;
    if (previous && previous !== conversationId) client.stopTyping(previous);
    selection.select(conversationId);
    chat.show(conversationId);
    if (!fromHistory) {
      const state: HistoryState = { conversationId };
      if (openedInHistory()) history.replaceState(state, '');
      else history.pushState(state, '');
    }
    this.showView();
    this.queue.schedule('list', 'chat');
    if (this.reads.canMarkRead()) client.markRead(conversationId).catch(() => {});
  }

  /** Closes the open chat: on a phone, back to the list. */
  private close(): void {
    const { openId } = this.selection;
    if (!openId) return;
    this.client.stopTyping(openId);
    this.selection.close();
    this.chat.close();
    this.showView();
    this.queue.schedule('list', 'chat');
  }

  /** The back button: the browser's back when the chat has a history entry, so both agree. */
  private back(): void {
    if (openedInHistory()) history.back();
    else this.close();
  }

  private showView(): void {
    setAttribute(this.element, 'data-view', this.selection.openId ? 'chat' : 'list');
  }

  /** Subscribes to the client and the page; returns what undoes it. */
  private listen(): () => void {
    const { client, presence, reads, queue } = this;
    const unsubscribers = [
      client.on('state', (state) => {
        if (state === ConnectionState.Open) {
          // Once read, the SDK reads the list again on every reconnect by itself.
          if (!this.blocksRead) {
            this.blocksRead = true;
            client.blocks().catch((error: unknown) => this.toast.show(String(error)));
          }
          presence.subscribePeers();
          reads.markOpenChatRead();
          // Once per start: registering a push subscription needs the server.
          void this.notifications.start();
        }
        queue.schedule('banner', 'list', 'chat');
      }),
      client.on('message', (message) => {
        // A group created or renamed: the worker shows its title on the group's pushes.
        if (isGroupEvent(message)) this.groupTitles.keep(client.conversations());
        if (message.conversationId === this.selection.openId) {
          // Who is in the group changed: the open member list shows it.
          if (isGroupEvent(message)) this.chat.groupPanel.refresh();
          if (!message.mine && message.status !== MessageStatus.Read) reads.markOpenChatRead();
          queue.schedule('chat');
        }
        queue.schedule('list', 'banner');
      }),
      client.on('conversations', () => {
        this.groupTitles.keep(client.conversations());
        presence.subscribePeers();
        reads.markOpenChatRead();
        queue.schedule('list', 'chat');
      }),
      client.on('typing', () => queue.schedule('list', 'chat')),
      client.on('block', () => queue.schedule('chat')),
      client.on('presence', (users) => {
        presence.remember(users);
        queue.schedule('list', 'chat');
      }),
      client.on('error', (error) => this.toast.show(`${error.code}: ${error.message}`)),
    ];
    const onVisible = () => {
      if (document.visibilityState !== 'visible') return;
      client.reconnectNow();
      reads.markOpenChatRead();
    };
    // Back online or back in view: no need to wait out the rest of a reconnect backoff.
    const onOnline = () => client.reconnectNow();
    const onHistory = (event: PopStateEvent) => {
      const { conversationId } = (event.state ?? {}) as Partial<HistoryState>;
      if (conversationId) this.open(conversationId, { fromHistory: true });
      else this.close();
    };
    // A click on a notification, while this window is open: the service worker says which chat.
    const onWorkerMessage = (event: MessageEvent) => {
      const { type, conversationId } = (event.data ?? {}) as { type?: unknown; conversationId?: unknown };
      if (type === OPEN_CONVERSATION && typeof conversationId === 'string') this.open(conversationId);
    };
    const worker = 'serviceWorker' in navigator ? navigator.serviceWorker : undefined;
    document.addEventListener('visibilitychange', onVisible);
    window.addEventListener('online', onOnline);
    window.addEventListener('popstate', onHistory);
    worker?.addEventListener('message', onWorkerMessage);
    const clockTimer = setInterval(() => queue.schedule('list', 'chat'), CLOCK_REDRAW_MS);
    return () => {
      for (const unsubscribe of unsubscribers) unsubscribe();
      document.removeEventListener('visibilitychange', onVisible);
      window.removeEventListener('online', onOnline);
      window.removeEventListener('popstate', onHistory);
      worker?.removeEventListener('message', onWorkerMessage);
      clearInterval(clockTimer);
    };
  }
}
