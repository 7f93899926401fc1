/**
 * The open chat on the right (on a phone: the whole screen, with a way back to the list):
 * the peer with their presence, the messages, who is typing and the composer; or, with no
 * chat open, a short hint.
 */
import { avatar } from './avatar.js';
import { Composer, type ComposerOptions } from './composer.js';
import { h, setText } from './dom.js';
import { formatLastSeen } from './format.js';
import { backIcon } from './icons.js';
import { MessageList } from './message-list.js';
import type { PresenceTracker } from './presence-tracker.js';

export interface ChatPaneOptions extends ComposerOptions {
  me: string;
  presence: PresenceTracker;
  /** Called by the back button, which shows on narrow screens only. */
  onBack: () => void;
}

export class ChatPane {
  readonly messages = new MessageList();
  readonly composer: Composer;
  private readonly headerAvatar = h('span', { class: 'avatar-slot' });
  private readonly headerName = h('span', { class: 'peer-name', 'data-testid': 'chat-peer' });
  private readonly headerPresence = h('span', { class: 'presence-text', 'data-testid': 'presence-text' });
  private readonly typingIndicator = h('div', {
    class: 'typing-indicator',
    'data-testid': 'typing-indicator',
    hidden: true,
  });
  readonly element: HTMLElement;
  /** The chat whose messages are drawn. */
  private shownId: string | undefined;
  readonly emptyElement = h(
    'section',
    { class: 'chat-empty', 'data-testid': 'chat-empty' },
    h('h2', {}, 'Parley'),
    h('p', {}, 'Pick a chat on the left, or start one with a user id.'),
  );

  constructor(private readonly options: ChatPaneOptions) {
    this.composer = new Composer(options);
    const header = h(
      'header',
      { class: 'bar chat-header', 'data-testid': 'chat-header' },
      h(
        'button',
        {
          type: 'button',
          class: 'back',
          'data-testid': 'chat-back',
          'aria-label': 'Back to chats',
          onclick: () => options.onBack(),
        },
        backIcon(),
      ),
      this.headerAvatar,
      h('div', { class: 'chat-title' }, this.headerName, this.headerPresence),
    );
    this.element = h(
      'section',
      { class: 'chat', hidden: true },
      header,
      this.messages.scroller,
      this.typingIndicator,
      this.composer.form,
    );
  }

  /**
   * Starts showing this chat, if it is not shown yet: an empty composer, and the
   * messages from the top with the unread divider where the unread ones start.
   */
  show(conversationId: string): void {
    if (this.shownId === conversationId) return;
    this.shownId = conversationId;
    this.composer.clear();
    this.messages.open(this.options.client.messages(conversationId));
  }

  /** Shows no chat. */
  close(): void {
    this.shownId = undefined;
    this.composer.clear();
  }

  render(): void {
    const { client, me, selection, presence } = this.options;
    const { openId } = selection;
    this.element.hidden = !openId;
    this.emptyElement.hidden = Boolean(openId);
    if (!openId) return;
    const peerId = selection.peerOf(openId) ?? '';
    this.headerAvatar.replaceChildren(avatar(peerId, presence.presenceOf(peerId)));
    setText(this.headerName, peerId);
    const seen = presence.presenceOf(peerId);
    setText(
      this.headerPresence,
      seen?.online ? 'online' : seen?.lastSeen ? formatLastSeen(seen.lastSeen) : '',
    );

    const typers = client.typingIn(openId).filter((id) => id !== me);
    this.typingIndicator.hidden = typers.length === 0;
    setText(
      this.typingIndicator,
      typers.length ? `${typers.join(', ')} ${typers.length === 1 ? 'is' : 'are'} typing…` : '',
    );
    this.messages.render(client.messages(openId));
  }
}
