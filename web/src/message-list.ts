/**
 * The messages of the open chat. Each message element is kept by its clientMessageId and
 * replaced only when its status or body changes, so a status change does not redraw the
 * chat; the list follows new messages while the reader is at the bottom.
 */
import type { ChatMessage } from '@parley/sdk';
import { h } from './dom.js';
import { formatClock } from './format.js';
import { statusIcon } from './icons.js';

/** How near the bottom, in pixels, the reader counts as at the bottom. */
const BOTTOM_SLACK_PX = 48;

interface Drawn {
  element: HTMLLIElement;
  status: string;
  body: string;
}

export class MessageList {
  private readonly list = h('ol', { class: 'messages', 'data-testid': 'message-list' });
  readonly scroller = h('div', { class: 'message-scroller' }, this.list);
  private readonly drawn = new Map<string, Drawn>();
  /** Whether to scroll to the newest message after drawing. */
  stickToBottom = true;

  constructor() {
    this.scroller.addEventListener('scroll', () => {
      const { scrollTop, scrollHeight, clientHeight } = this.scroller;
      this.stickToBottom = scrollHeight - scrollTop - clientHeight < BOTTOM_SLACK_PX;
    });
  }

  /** Empties the list, for another chat. */
  clear(): void {
    this.list.replaceChildren();
    this.drawn.clear();
  }

  /** Shows these messages in this order, reusing the elements that have not changed. */
  render(messages: readonly ChatMessage[]): void {
    const keep = new Set<string>();
    let previous: Element | null = null;
    for (const message of messages) {
      keep.add(message.clientMessageId);
      const element = this.elementOf(message);
      const expected: Element | null = previous ? previous.nextElementSibling : this.list.firstElementChild;
      if (expected !== element) this.list.insertBefore(element, expected);
      previous = element;
    }
    for (const [id, { element }] of this.drawn) {
      if (!keep.has(id)) {
        element.remove();
        this.drawn.delete(id);
      }
    }
    if (this.stickToBottom) this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  private elementOf(message: ChatMessage): HTMLLIElement {
    const known = this.drawn.get(message.clientMessageId);
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
    this.drawn.set(message.clientMessageId, { element, status: message.status, body: message.body });
    return element;
  }
}
