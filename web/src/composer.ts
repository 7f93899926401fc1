/**
 * The message box of the open chat: tells the peer while the user types (and that the
 * user stopped once the box is empty again), and sends on Enter (Shift+Enter makes a new
 * line) or with the send button.
 */
import { MAX_BODY_CHARS } from '@parley/protocol';
import type { ParleyClient } from '@parley/sdk';
import type { ChatSelection } from './chat-selection.js';
import { h } from './dom.js';
import { sendIcon } from './icons.js';

export interface ComposerOptions {
  client: ParleyClient;
  selection: ChatSelection;
  /** Called when the server has taken a message. */
  onSent: () => void;
  /** Called with the reason a message was refused. */
  onError: (text: string) => void;
}

export class Composer {
  private readonly input = h('textarea', {
    class: 'composer-input',
    'data-testid': 'composer-input',
    rows: 1,
    maxlength: MAX_BODY_CHARS,
    placeholder: 'Type a message',
    'aria-label': 'Message',
  });
  readonly form = h(
    'form',
    { class: 'composer', onsubmit: (event: Event) => this.send(event) },
    this.input,
    h(
      'button',
      { type: 'submit', class: 'send', 'data-testid': 'composer-send', 'aria-label': 'Send' },
      sendIcon(),
    ),
  );

  constructor(private readonly options: ComposerOptions) {
    this.input.addEventListener('input', () => {
      const { openId } = options.selection;
      if (!openId) return;
      // Emptied (deleted, cut): the peer stops seeing "typing…" now, not after the idle wait.
      if (this.input.value.trim()) options.client.typing(openId);
      else options.client.stopTyping(openId);
    });
    this.input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) this.send(event);
    });
  }

  /** Drops what was typed, for another chat. */
  clear(): void {
    this.input.value = '';
  }

  focus(): void {
    this.input.focus();
  }

  private send(event: Event): void {
    event.preventDefault();
    const { client, selection, onSent, onError } = this.options;
    const body = this.input.value.trim();
    const conversationId = selection.openId;
    if (!conversationId || !body) return;
    const peerId = selection.peerOf(conversationId);
    this.input.value = '';
    client.stopTyping(conversationId);
    // Always `to` the peer: it also starts a conversation that has no message yet.
    const target = peerId ? { to: peerId } : { conversationId };
    client.send(target, body).then(
      () => onSent(),
      (error: unknown) => onError(error instanceof Error ? error.message : String(error)),
    );
  }
}
