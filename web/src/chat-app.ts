/**
 * The signed-in app: the conversation list on the left, the open chat on the right, and
 * the offline banner above both. Everything shown is read from the client; events only
 * say what to draw again.
 */
import { MAX_BODY_CHARS, membersOf, PRESENCE_MAX_USERS } from '@parley/protocol';
import {
  type ChatMessage,
  ConnectionState,
  type ConversationView,
  conversationIdFor,
  MessageStatus,
  type ParleyClient,
  type PresenceView,
} from '@parley/sdk';
import { h, setAttribute, setText } from './dom.js';
import { formatClock, formatLastSeen, formatListTime } from './format.js';
import { sendIcon, statusIcon } from './icons.js';
import { isValidId, USER_ID_RULE } from './session.js';

export interface ChatAppOptions {
  client: ParleyClient;
  onSignOut: () => void;
}

/** A chat started from "new chat" that has no message yet, so the client does not list it. */
interface Draft {
  conversationId: string;
  peerId: string;
}

export function mountChatApp(root: HTMLElement, { client, onSignOut }: ChatAppOptions): () => void {
  const me = client.userId;
  const openKey = `parley.open.${me}`;
  let openId: string | undefined = sessionStorage.getItem(openKey) ?? undefined;
  const drafts = new Map<string, Draft>();
  if (openId && !client.conversations().some((c) => c.conversationId === openId)) {
    const peerId = peerOf(openId);
    if (peerId) drafts.set(openId, { conversationId: openId, peerId });
    else openId = undefined;
  }

  // ── Elements made once ────────────────────────────────────────────────────────────
  const banner = h('div', {
    class: 'offline-banner',
    'data-testid': 'offline-banner',
    role: 'status',
    hidden: true,
  });
  const toast = h('div', { class: 'toast', 'data-testid': 'error-toast', role: 'alert', hidden: true });

  const newChatInput = h('input', {
    class: 'new-chat-input',
    'data-testid': 'new-chat-user',
    placeholder: 'Start a chat: user id',
    autocomplete: 'off',
    spellcheck: 'false',
    maxlength: 64,
    'aria-label': 'User id to chat with',
  });
  const newChatError = h('p', { class: 'form-error', 'data-testid': 'new-chat-error', hidden: true });
  const newChatForm = h(
    'form',
    { class: 'new-chat', onsubmit: (event: Event) => startChat(event) },
    newChatInput,
    h('button', { type: 'submit', 'data-testid': 'new-chat-submit' }, 'Chat'),
  );
  const list = h('ul', { class: 'conversation-list', 'data-testid': 'conversation-list' });
  const sidebar = h(
    'aside',
    { class: 'sidebar' },
    h(
      'header',
      { class: 'bar me' },
      avatar(me),
      h('span', { class: 'me-name', 'data-testid': 'me' }, me),
      h(
        'button',
        { type: 'button', class: 'link', 'data-testid': 'sign-out', onclick: () => onSignOut() },
        'Sign out',
      ),
    ),
    newChatForm,
    newChatError,
    list,
  );

  const headerAvatar = h('span', { class: 'avatar-slot' });
  const headerName = h('span', { class: 'peer-name', 'data-testid': 'chat-peer' });
  const headerPresence = h('span', { class: 'presence-text', 'data-testid': 'presence-text' });
  const chatHeader = h(
    'header',
    { class: 'bar chat-header', 'data-testid': 'chat-header' },
    headerAvatar,
    h('div', { class: 'chat-title' }, headerName, headerPresence),
  );
  const messageList = h('ol', { class: 'messages', 'data-testid': 'message-list' });
  const messageScroller = h('div', { class: 'message-scroller' }, messageList);
  const typingIndicator = h('div', {
    class: 'typing-indicator',
    'data-testid': 'typing-indicator',
    hidden: true,
  });
  const composerInput = h('textarea', {
    class: 'composer-input',
    'data-testid': 'composer-input',
    rows: 1,
    maxlength: MAX_BODY_CHARS,
    placeholder: 'Type a message',
    'aria-label': 'Message',
  });
  const composer = h(
    'form',
    { class: 'composer', onsubmit: (event: Event) => sendComposed(event) },
    composerInput,
    h(
      'button',
      { type: 'submit', class: 'send', 'data-testid': 'composer-send', 'aria-label': 'Send' },
      sendIcon(),
    ),
  );
  const chatPane = h(
    'section',
    { class: 'chat', hidden: true },
    chatHeader,
    messageScroller,
    typingIndicator,
    composer,
  );
  const emptyPane = h(
    'section',
    { class: 'chat-empty', 'data-testid': 'chat-empty' },
    h('h2', {}, 'Parley'),
    h('p', {}, 'Pick a chat on the left, or start one with a user id.'),
  );
  const app = h(
    'div',
    { class: 'app' },
    banner,
    h('div', { class: 'panes' }, sidebar, chatPane, emptyPane),
    toast,
  );
  root.replaceChildren(app);

  composerInput.addEventListener('input', () => {
    if (openId && composerInput.value.trim()) client.typing(openId);
  });
  composerInput.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) sendComposed(event);
  });

  // ── Actions ───────────────────────────────────────────────────────────────────────
  function startChat(event: Event): void {
    event.preventDefault();
    const peerId = newChatInput.value.trim();
    let problem: string | undefined;
    if (!isValidId(peerId)) problem = USER_ID_RULE;
    else if (peerId === me) problem = 'That is you: pick someone else.';
    newChatError.hidden = !problem;
    setText(newChatError, problem ?? '');
    if (problem) return;
    const conversationId = conversationIdFor(me, peerId);
    if (!client.conversations().some((c) => c.conversationId === conversationId)) {
      drafts.set(conversationId, { conversationId, peerId });
    }
    newChatInput.value = '';
    open(conversationId);
    composerInput.focus();
  }

  function sendComposed(event: Event): void {
    event.preventDefault();
    const body = composerInput.value.trim();
    if (!openId || !body) return;
    const peerId = peerOf(openId);
    const conversationId = openId;
    composerInput.value = '';
    client.stopTyping(conversationId);
    // Always `to` the peer: it also starts a conversation that has no message yet.
    const target = peerId ? { to: peerId } : { conversationId };
    client.send(target, body).then(
      () => schedule('list', 'chat', 'banner'),
      (error: unknown) => showError(error instanceof Error ? error.message : String(error)),
    );
  }

  function open(conversationId: string): void {
    if (openId && openId !== conversationId) client.stopTyping(openId);
    const switched = openId !== conversationId;
    openId = conversationId;
    sessionStorage.setItem(openKey, conversationId);
    if (switched) {
      composerInput.value = '';
      messageList.replaceChildren();
      messageElements.clear();
    }
    stickToBottom = true;
    schedule('list', 'chat');
    if (canMarkRead()) client.markRead(conversationId).catch(() => {});
  }

  // Reads are marked only while connected: the SDK shows a read made offline at once but
  // never sends it, so the sender would never see it. The next open marks them.
  function canMarkRead(): boolean {
    return client.state === ConnectionState.Open && document.visibilityState === 'visible';
  }

  // Marks the open chat read while the page is visible; one ack at a time, and again if
  // something new arrived meanwhile.
  let marking = false;
  let markAgain = false;
  function markOpenChatRead(): void {
    if (!openId || !canMarkRead() || client.unreadCount(openId) === 0) return;
    if (marking) {
      markAgain = true;
      return;
    }
    marking = true;
    client
      .markRead(openId)
      .catch(() => {})
      .finally(() => {
        marking = false;
        if (markAgain) {
          markAgain = false;
          markOpenChatRead();
        }
      });
  }

  let toastTimer: ReturnType<typeof setTimeout> | undefined;
  function showError(text: string): void {
    setText(toast, text);
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      toast.hidden = true;
    }, 6000);
  }

  // ── Presence ──────────────────────────────────────────────────────────────────────
  // The server shows presence only between users who share a conversation with a
  // message in it: subscribe each such peer once; the client subscribes them again
  // after each reconnect.
  const presence = new Map<string, PresenceView>();
  const subscribed = new Set<string>();
  function presenceOf(userId: string): PresenceView | undefined {
    // Offline, what we knew may be stale: show nothing rather than a wrong "online".
    if (client.state !== ConnectionState.Open) return undefined;
    return client.presenceOf(userId) ?? presence.get(userId);
  }
  function subscribePeers(): void {
    if (client.state !== ConnectionState.Open) return;
    const peers = client
      .conversations()
      .filter((c) => c.lastSeq > 0 && !subscribed.has(c.peerId) && c.peerId !== me)
      .map((c) => c.peerId);
    for (let start = 0; start < peers.length; start += PRESENCE_MAX_USERS) {
      const batch = peers.slice(start, start + PRESENCE_MAX_USERS);
      for (const peer of batch) subscribed.add(peer);
      client.subscribePresence(batch).then(
        (users) => {
          for (const user of users) presence.set(user.userId, user);
          schedule('list', 'chat');
        },
        () => {
          // Offline again, or refused: try again at the next open.
          for (const peer of batch) subscribed.delete(peer);
        },
      );
    }
  }

  // ── Drawing ───────────────────────────────────────────────────────────────────────
  type Part = 'list' | 'chat' | 'banner';
  const dirty = new Set<Part>();
  let flushing = false;
  function schedule(...parts: Part[]): void {
    for (const part of parts) dirty.add(part);
    if (flushing) return;
    flushing = true;
    queueMicrotask(() => {
      flushing = false;
      const now = [...dirty];
      dirty.clear();
      if (now.includes('banner')) renderBanner();
      if (now.includes('list')) renderList();
      if (now.includes('chat')) renderChat();
    });
  }

  function renderBanner(): void {
    const offline = client.state !== ConnectionState.Open;
    banner.hidden = !offline;
    setAttribute(banner, 'data-state', client.state);
    if (offline) {
      const queued = client.pendingCount();
      const retrying =
        client.state === ConnectionState.Reconnecting || client.state === ConnectionState.Connecting
          ? ' · reconnecting…'
          : '';
      setText(banner, `Offline — ${queued} ${queued === 1 ? 'message' : 'messages'} queued${retrying}`);
    }
  }

  function conversationsToShow(): ConversationView[] {
    const listed = client.conversations();
    for (const view of listed) drafts.delete(view.conversationId);
    const draftViews: ConversationView[] = [...drafts.values()].map((draft) => ({
      conversationId: draft.conversationId,
      peerId: draft.peerId,
      lastSeq: 0,
      unread: 0,
      updatedAt: Number.POSITIVE_INFINITY,
    }));
    return [...draftViews, ...listed];
  }

  function renderList(): void {
    const views = conversationsToShow();
    let totalUnread = 0;
    const items = views.map((view) => {
      totalUnread += view.unread;
      const last = view.lastMessage;
      const typing = client.typingIn(view.conversationId).filter((id) => id !== me).length > 0;
      const preview = typing
        ? h('span', { class: 'preview typing' }, 'typing…')
        : h(
            'span',
            { class: 'preview' },
            last?.mine ? statusIcon(last.status) : null,
            last ? last.body : 'No messages yet',
          );
      const time = last ? (last.serverTs ?? last.createdAt) : undefined;
      return h(
        'li',
        {
          class: `conversation-item${view.conversationId === openId ? ' selected' : ''}`,
          'data-testid': 'conversation-item',
          'data-conversation-id': view.conversationId,
          'data-peer-id': view.peerId,
          tabindex: 0,
          role: 'button',
          onclick: () => open(view.conversationId),
          onkeydown: (event: Event) => {
            if ((event as KeyboardEvent).key === 'Enter') open(view.conversationId);
          },
        },
        avatar(view.peerId, presenceOf(view.peerId)),
        h(
          'div',
          { class: 'item-text' },
          h(
            'div',
            { class: 'item-row' },
            h('span', { class: 'peer-name' }, view.peerId),
            h('time', { class: view.unread > 0 ? 'unread' : '' }, time ? formatListTime(time) : ''),
          ),
          h(
            'div',
            { class: 'item-row' },
            preview,
            view.unread > 0
              ? h('span', { class: 'unread-badge', 'data-testid': 'unread-badge' }, String(view.unread))
              : null,
          ),
        ),
      );
    });
    const focusedId = (document.activeElement as HTMLElement | null)?.dataset?.conversationId;
    list.replaceChildren(...items);
    if (focusedId) items.find((item) => item.dataset.conversationId === focusedId)?.focus();
    document.title = totalUnread > 0 ? `(${totalUnread}) Parley — ${me}` : `Parley — ${me}`;
  }

  // Messages are kept by clientMessageId and updated in place, so a status change does
  // not redraw the chat.
  const messageElements = new Map<string, { element: HTMLLIElement; status: string; body: string }>();
  let stickToBottom = true;
  messageScroller.addEventListener('scroll', () => {
    const { scrollTop, scrollHeight, clientHeight } = messageScroller;
    stickToBottom = scrollHeight - scrollTop - clientHeight < 48;
  });

  function renderChat(): void {
    chatPane.hidden = !openId;
    emptyPane.hidden = Boolean(openId);
    if (!openId) return;
    const peerId = peerOf(openId) ?? '';
    headerAvatar.replaceChildren(avatar(peerId, presenceOf(peerId)));
    setText(headerName, peerId);
    const seen = presenceOf(peerId);
    setText(headerPresence, seen?.online ? 'online' : seen?.lastSeen ? formatLastSeen(seen.lastSeen) : '');

    const typers = client.typingIn(openId).filter((id) => id !== me);
    typingIndicator.hidden = typers.length === 0;
    setText(
      typingIndicator,
      typers.length ? `${typers.join(', ')} ${typers.length === 1 ? 'is' : 'are'} typing…` : '',
    );

    const messages = client.messages(openId);
    const keep = new Set<string>();
    let previous: Element | null = null;
    for (const message of messages) {
      keep.add(message.clientMessageId);
      const element = messageElement(message);
      const expected: Element | null = previous ? previous.nextElementSibling : messageList.firstElementChild;
      if (expected !== element) messageList.insertBefore(element, expected);
      previous = element;
    }
    for (const [id, { element }] of messageElements) {
      if (!keep.has(id)) {
        element.remove();
        messageElements.delete(id);
      }
    }
    if (stickToBottom) messageScroller.scrollTop = messageScroller.scrollHeight;
  }

  function messageElement(message: ChatMessage): HTMLLIElement {
    const known = messageElements.get(message.clientMessageId);
    if (known && known.status === message.status && known.body === message.body) return known.element;
    const element = h(
      'li',
      {
        class: `message ${message.mine ? 'mine' : 'theirs'}`,
        'data-testid': 'message',
        'data-mine': String(message.mine),
        'data-status': message.status,
        'data-client-message-id': message.clientMessageId,
        'data-seq': message.seq,
      },
      h(
        'div',
        { class: 'bubble' },
        h('span', { class: 'body' }, message.body),
        h(
          'span',
          { class: 'meta' },
          h('time', {}, formatClock(message.serverTs ?? message.createdAt)),
          message.mine ? statusIcon(message.status) : null,
        ),
      ),
    );
    if (known) known.element.replaceWith(element);
    messageElements.set(message.clientMessageId, { element, status: message.status, body: message.body });
    return element;
  }

  // ── Wiring ────────────────────────────────────────────────────────────────────────
  const unsubscribers = [
    client.on('state', (state) => {
      if (state === ConnectionState.Open) {
        subscribePeers();
        markOpenChatRead();
      }
      schedule('banner', 'list', 'chat');
    }),
    client.on('message', (message) => {
      if (message.conversationId === openId) {
        if (!message.mine && message.status !== MessageStatus.Read) markOpenChatRead();
        schedule('chat');
      }
      schedule('list', 'banner');
    }),
    client.on('conversations', () => {
      subscribePeers();
      markOpenChatRead();
      schedule('list', 'chat');
    }),
    client.on('typing', () => schedule('list', 'chat')),
    client.on('presence', (users) => {
      for (const user of users) presence.set(user.userId, user);
      schedule('list', 'chat');
    }),
    client.on('error', (error) => showError(`${error.code}: ${error.message}`)),
  ];
  const onVisible = () => {
    if (document.visibilityState !== 'visible') return;
    client.reconnectNow();
    markOpenChatRead();
  };
  // Back online or back in view: no need to wait out the rest of a reconnect backoff.
  const onOnline = () => client.reconnectNow();
  document.addEventListener('visibilitychange', onVisible);
  window.addEventListener('online', onOnline);
  // "last seen" and list times move with the clock.
  const clockTimer = setInterval(() => schedule('list', 'chat'), 30_000);

  subscribePeers();
  schedule('banner', 'list', 'chat');
  if (openId) open(openId);

  return () => {
    if (openId) client.stopTyping(openId);
    for (const unsubscribe of unsubscribers) unsubscribe();
    document.removeEventListener('visibilitychange', onVisible);
    window.removeEventListener('online', onOnline);
    clearInterval(clockTimer);
    clearTimeout(toastTimer);
    root.replaceChildren();
  };

  function peerOf(conversationId: string): string | undefined {
    const listed = client.conversations().find((c) => c.conversationId === conversationId);
    if (listed) return listed.peerId;
    const draft = drafts.get(conversationId);
    if (draft) return draft.peerId;
    const members = membersOf(conversationId);
    if (!members) return undefined;
    return members[0] === me ? members[1] : members[0];
  }
}

/** A round initial, with the presence dot when presence is known. */
function avatar(userId: string, presence?: PresenceView): HTMLElement {
  return h(
    'span',
    { class: 'avatar', 'aria-hidden': 'true', style: `--hue: ${hueOf(userId)}` },
    (userId[0] ?? '?').toUpperCase(),
    presence
      ? h('span', {
          class: 'presence-dot',
          'data-testid': 'presence-dot',
          'data-online': String(presence.online),
          title: presence.online ? 'online' : 'offline',
        })
      : null,
  );
}

function hueOf(text: string): number {
  let hash = 0;
  for (const char of text) hash = (hash * 31 + (char.codePointAt(0) ?? 0)) % 360;
  return hash;
}
