/**
 * The messages of the open chat, with the days between them, the unread divider, and a
 * group's membership events and sender names. Each
 * row's element is kept by its key and replaced only when what it shows changes, so a
 * status change does not redraw the chat; the list follows new messages while the reader
 * is at the bottom, and opens at the unread divider when there is one.
 */
import type { ChatMessage } from '@parley/sdk';
import { hueOf } from './avatar.js';
import { h } from './dom.js';
import { formatClock } from './format.js';
import { statusIcon } from './icons.js';
import {
  messageTime,
  type TimelineRow,
  timelineRows,
  type UnreadMark,
  unreadMarkOf,
} from './timeline-rows.js';

/** Whose chat is drawn, and whether it is a group. */
export interface MessageListContext {
  me: string;
  group: boolean;
}

/** How near the bottom, in pixels, the reader counts as at the bottom. */
const BOTTOM_SLACK_PX = 48;
/** Room left above the unread divider when the chat opens at it. */
const DIVIDER_MARGIN_PX = 12;

interface Drawn {
  element: HTMLLIElement;
  /** What the element shows; another value means it is drawn again. */
  shown: string;
}

export class MessageList {
  private readonly list = h('ol', { class: 'messages', 'data-testid': 'message-list' });
  readonly scroller = h('div', { class: 'message-scroller' }, this.list);
  private readonly drawn = new Map<string, Drawn>();
  private unread: UnreadMark | undefined;
  /** Whether the next drawing scrolls to the unread divider (once, when the chat opens). */
  private scrollToUnread = false;
  /** Whether to scroll to the newest message after drawing. */
  stickToBottom = true;

  constructor() {
    this.scroller.addEventListener('scroll', () => {
      const { scrollTop, scrollHeight, clientHeight } = this.scroller;
      this.stickToBottom = scrollHeight - scrollTop - clientHeight < BOTTOM_SLACK_PX;
    });
  }

  /**
   * Empties the list for a chat that opens with these messages, and keeps where its
   * unread ones start (before they are marked read) for the divider.
   */
  open(messages: readonly ChatMessage[]): void {
    this.list.replaceChildren();
    this.drawn.clear();
    this.unread = unreadMarkOf(messages);
    this.scrollToUnread = this.unread !== undefined;
    this.stickToBottom = !this.scrollToUnread;
  }

  /** Shows these messages in this order, reusing the elements that have not changed. */
  render(messages: readonly ChatMessage[], { me, group }: MessageListContext): void {
    const keep = new Set<string>();
    let previous: Element | null = null;
    for (const row of timelineRows(messages, { me, group, unread: this.unread })) {
      keep.add(row.key);
      const element = this.elementOf(row, group);
      const expected: Element | null = previous ? previous.nextElementSibling : this.list.firstElementChild;
      if (expected !== element) this.list.insertBefore(element, expected);
      previous = element;
    }
    for (const [key, { element }] of this.drawn) {
      if (!keep.has(key)) {
        element.remove();
        this.drawn.delete(key);
      }
    }
    this.scroll();
  }

  private scroll(): void {
    const divider = this.drawn.get('unread')?.element;
    if (this.scrollToUnread && divider) {
      this.scrollToUnread = false;
      this.scroller.scrollTop = divider.offsetTop - DIVIDER_MARGIN_PX;
    } else if (this.stickToBottom) {
      this.scroller.scrollTop = this.scroller.scrollHeight;
    }
  }

  private elementOf(row: TimelineRow, group: boolean): HTMLLIElement {
    const shown =
      row.kind === 'message' ? `${row.message.status}\n${row.sender ?? ''}\n${row.message.body}` : row.label;
    const known = this.drawn.get(row.key);
    if (known && known.shown === shown) return known.element;
    const element =
      row.kind === 'message'
        ? messageElement(row.message, row.sender, group)
        : row.kind === 'event'
          ? eventElement(row.message, row.label)
          : separatorElement(row);
    if (known) known.element.replaceWith(element);
    this.drawn.set(row.key, { element, shown });
    return element;
  }
}

/** A day's name, or the unread divider: a line across the chat. */
function separatorElement(row: Extract<TimelineRow, { kind: 'day' | 'unread' }>): HTMLLIElement {
  const testId = row.kind === 'day' ? 'day-separator' : 'unread-divider';
  return h(
    'li',
    { class: `separator ${row.kind}`, 'data-testid': testId, role: 'separator' },
    h('span', {}, row.label),
  );
}

/** A group's membership event: a centred line, like a day's name. */
function eventElement(message: ChatMessage, label: string): HTMLLIElement {
  return h(
    'li',
    {
      class: 'separator event',
      'data-testid': 'group-event',
      'data-kind': message.kind,
      'data-client-message-id': message.clientMessageId,
      'data-seq': message.seq,
    },
    h('span', {}, label),
  );
}

/** A text message; in a group, my ticks are everyone's and others' show who wrote them. */
function messageElement(message: ChatMessage, sender: string | undefined, group: boolean): HTMLLIElement {
  return h(
    'li',
    {
      class: `message ${message.mine ? 'mine' : 'theirs'}`,
      'data-testid': 'message',
      'data-mine': String(message.mine),
      'data-status': message.status,
      'data-client-message-id': message.clientMessageId,
      'data-seq': message.seq,
      'data-sender': message.senderId,
    },
    h(
      'div',
      { class: 'bubble' },
      sender
        ? h('span', { class: 'sender', 'data-testid': 'sender', style: `--hue: ${hueOf(sender)}` }, sender)
        : null,
      h('span', { class: 'body' }, message.body),
      h(
        'span',
        { class: 'meta' },
        h('time', {}, formatClock(messageTime(message))),
        message.mine ? statusIcon(message.status, { everyone: group }) : null,
      ),
    ),
  );
}
