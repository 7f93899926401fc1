/**
 * The open chat on the right (on a phone: the whole screen, with a way back to the list):
 * the peer with their presence, or the group with its title, its size and its details;
 * the messages, who is typing and the composer; or, with no chat open, a short hint.
 */
import type { ConversationView } from '@parley/sdk';
import { avatar, groupAvatar } from './avatar.js';
import { BlockControl } from './block-control.js';
import { Composer, type ComposerOptions } from './composer.js';
import { h, setText } from './dom.js';
import { formatLastSeen, formatMemberCount } from './format.js';
import { formatNames } from './group-events.js';
import { GroupPanel } from './group-panel.js';
import { backIcon, groupIcon } from './icons.js';
import { MessageList } from './message-list.js';
import type { PresenceTracker } from './presence-tracker.js';

export interface ChatPaneOptions extends ComposerOptions {
  me: string;
  presence: PresenceTracker;
  /** Called by the back button, which shows on narrow screens only. */
  onBack: () => void;
  /** Called after this user left the open group. */
  onLeft: () => void;
}

export class ChatPane {
  readonly messages = new MessageList();
  readonly composer: Composer;
  private readonly headerAvatar = h('span', { class: 'avatar-slot' });
  private readonly headerName = h('span', { class: 'peer-name', 'data-testid': 'chat-peer' });
  private readonly headerPresence = h('span', { class: 'presence-text', 'data-testid': 'presence-text' });
  private readonly headerMembers = h('span', { class: 'presence-text', 'data-testid': 'chat-members' });
  private readonly infoButton = h(
    'button',
    {
      type: 'button',
      class: 'icon-button',
      'data-testid': 'group-info-toggle',
      'aria-label': 'Group members',
      title: 'Group members',
      onclick: () => this.toggleGroupPanel(),
    },
    groupIcon(),
  );
  private readonly leftNotice = h(
    'p',
    { class: 'left-notice', 'data-testid': 'left-notice', hidden: true },
    'You are no longer a member of this group.',
  );
  readonly groupPanel: GroupPanel;
  private readonly blockControl: BlockControl;
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
    this.blockControl = new BlockControl({ client: options.client, onError: options.onError });
    this.groupPanel = new GroupPanel({ client: options.client, me: options.me, onLeft: options.onLeft });
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
      h('div', { class: 'chat-title' }, this.headerName, this.headerPresence, this.headerMembers),
      this.infoButton,
      this.blockControl.button,
    );
    this.element = h(
      'section',
      { class: 'chat', hidden: true },
      header,
      this.groupPanel.element,
      this.messages.scroller,
      this.typingIndicator,
      this.composer.form,
      this.leftNotice,
      this.blockControl.notice,
    );
  }

  /**
   * Starts showing this chat, if it is not shown yet: an empty composer, and the
   * messages from the top with the unread divider where the unread ones start.
   */
  show(conversationId: string): void {
    if (this.shownId === conversationId) return;
    this.shownId = conversationId;
    this.groupPanel.close();
    this.composer.clear();
    this.messages.open(this.options.client.messages(conversationId));
  }

  /** Shows no chat. */
  close(): void {
    this.shownId = undefined;
    this.groupPanel.close();
    this.composer.clear();
  }

  render(): void {
    const { client, me, selection } = this.options;
    const { openId } = selection;
    this.element.hidden = !openId;
    this.emptyElement.hidden = Boolean(openId);
    if (!openId) return;
    const group = selection.isGroup(openId);
    const view = selection.viewOf(openId);
    if (group) this.renderGroupHeader(openId, view);
    else this.renderPeerHeader(selection.peerOf(openId) ?? '');
    // A group this user left: its messages up to then, and no composer; nor while the peer is blocked.
    const left = group && view?.member === false;
    const blocked = this.blockControl.render(group ? undefined : selection.peerOf(openId));
    this.composer.form.hidden = left || blocked;
    this.leftNotice.hidden = !left;
    this.infoButton.hidden = !group || left;
    if (left) this.groupPanel.close();

    const typers = client.typingIn(openId).filter((id) => id !== me);
    this.typingIndicator.hidden = typers.length === 0;
    setText(
      this.typingIndicator,
      typers.length ? `${formatNames(typers)} ${typers.length === 1 ? 'is' : 'are'} typing…` : '',
    );
    this.messages.render(client.messages(openId), { me, group });
  }

  private renderPeerHeader(peerId: string): void {
    const { presence } = this.options;
    const seen = presence.presenceOf(peerId);
    this.headerAvatar.replaceChildren(avatar(peerId, seen));
    setText(this.headerName, peerId);
    this.headerPresence.hidden = false;
    this.headerMembers.hidden = true;
    setText(
      this.headerPresence,
      seen?.online ? 'online' : seen?.lastSeen ? formatLastSeen(seen.lastSeen) : '',
    );
  }

  private renderGroupHeader(conversationId: string, view: ConversationView | undefined): void {
    this.headerAvatar.replaceChildren(groupAvatar(conversationId, view?.title));
    setText(this.headerName, view?.title ?? 'Group');
    this.headerPresence.hidden = true;
    this.headerMembers.hidden = false;
    setText(this.headerMembers, view?.memberCount !== undefined ? formatMemberCount(view.memberCount) : '');
  }

  private toggleGroupPanel(): void {
    const { openId } = this.options.selection;
    if (this.groupPanel.isOpen || !openId) this.groupPanel.close();
    else this.groupPanel.open(openId);
  }
}
