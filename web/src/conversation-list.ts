/**
 * The conversation list on the left: one item per chat, drafts first, with its last
 * message (or who is typing), its time and its unread count; a group with its title, its
 * size, and who wrote the last message; the page title counts the unread messages.
 */
import { type ChatMessage, type ConversationView, isGroupEvent, type ParleyClient } from '@parley/sdk';
import { avatar, groupAvatar } from './avatar.js';
import type { ChatSelection } from './chat-selection.js';
import { h } from './dom.js';
import { formatListTime, formatMemberCount } from './format.js';
import { describeGroupEvent, formatNames } from './group-events.js';
import { statusIcon } from './icons.js';
import type { PresenceTracker } from './presence-tracker.js';

export interface ConversationListOptions {
  client: ParleyClient;
  me: string;
  selection: ChatSelection;
  presence: PresenceTracker;
  /** Called when the user picks a chat, by click or Enter. */
  onOpen: (conversationId: string) => void;
}

export class ConversationList {
  readonly element = h('ul', { class: 'conversation-list', 'data-testid': 'conversation-list' });

  constructor(private readonly options: ConversationListOptions) {}

  render(): void {
    const { me, selection } = this.options;
    const views = selection.conversationsToShow();
    let totalUnread = 0;
    const items = views.map((view) => {
      totalUnread += view.unread;
      return this.item(view);
    });
    // Drawing the list anew must not take the focus from a chat picked by keyboard.
    const focusedId = (document.activeElement as HTMLElement | null)?.dataset?.conversationId;
    this.element.replaceChildren(...items);
    if (focusedId) items.find((item) => item.dataset.conversationId === focusedId)?.focus();
    document.title = totalUnread > 0 ? `(${totalUnread}) Parley — ${me}` : `Parley — ${me}`;
  }

  private item(view: ConversationView): HTMLLIElement {
    const { presence, selection, onOpen } = this.options;
    const last = view.lastMessage;
    const time = last ? (last.serverTs ?? last.createdAt) : undefined;
    const group = view.kind === 'group';
    return h(
      'li',
      {
        class: `conversation-item${view.conversationId === selection.openId ? ' selected' : ''}`,
        'data-testid': 'conversation-item',
        'data-conversation-id': view.conversationId,
        'data-peer-id': view.peerId,
        'data-kind': view.kind ?? 'dm',
        tabindex: 0,
        role: 'button',
        onclick: () => onOpen(view.conversationId),
        onkeydown: (event: Event) => {
          if ((event as KeyboardEvent).key === 'Enter') onOpen(view.conversationId);
        },
      },
      group
        ? groupAvatar(view.conversationId, view.title)
        : avatar(view.peerId, presence.presenceOf(view.peerId)),
      h(
        'div',
        { class: 'item-text' },
        h(
          'div',
          { class: 'item-row' },
          h(
            'span',
            { class: 'item-name' },
            h(
              'span',
              { class: 'peer-name', 'data-testid': 'item-name' },
              group ? (view.title ?? 'Group') : view.peerId,
            ),
            group && view.memberCount !== undefined
              ? h(
                  'span',
                  { class: 'member-count', 'data-testid': 'member-count' },
                  formatMemberCount(view.memberCount),
                )
              : null,
          ),
          h('time', { class: view.unread > 0 ? 'unread' : '' }, time ? formatListTime(time) : ''),
        ),
        h(
          'div',
          { class: 'item-row' },
          this.preview(view),
          view.unread > 0
            ? h('span', { class: 'unread-badge', 'data-testid': 'unread-badge' }, String(view.unread))
            : null,
        ),
      ),
    );
  }

  /**
   * The last message, with its status when it is mine (in a group: who wrote it), or
   * "typing…" while the peer types (in a group: who types).
   */
  private preview(view: ConversationView): HTMLSpanElement {
    const { client, me } = this.options;
    const last = view.lastMessage;
    const group = view.kind === 'group';
    const typers = client.typingIn(view.conversationId).filter((id) => id !== me);
    if (typers.length > 0) {
      const who = group ? `${formatNames(typers)} ${typers.length === 1 ? 'is' : 'are'} ` : '';
      return h('span', { class: 'preview typing' }, `${who}typing…`);
    }
    return h(
      'span',
      { class: 'preview', 'data-testid': 'preview' },
      last?.mine && !isGroupEvent(last) ? statusIcon(last.status, { everyone: group }) : null,
      last ? this.previewText(last, group) : 'No messages yet',
    );
  }

  private previewText(last: ChatMessage, group: boolean): string {
    const { me } = this.options;
    if (isGroupEvent(last)) return describeGroupEvent(last, me);
    return group && !last.mine ? `${last.senderId}: ${last.body}` : last.body;
  }
}
