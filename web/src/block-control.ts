/**
 * Blocking the peer of the open one-to-one chat (protocol 1.3): a Block / Unblock button
 * in the chat's header and, while the peer is blocked, a notice in place of the composer,
 * since the server refuses messages both ways until the block is taken back.
 */
import type { ParleyClient } from '@parley/sdk';
import { h, setText } from './dom.js';

export interface BlockControlOptions {
  client: ParleyClient;
  /** Called with the reason a block or unblock failed. */
  onError: (text: string) => void;
}

export class BlockControl {
  readonly button = h('button', {
    type: 'button',
    class: 'text-button',
    'data-testid': 'block-toggle',
    onclick: () => this.toggle(),
  });
  readonly notice = h('p', { class: 'left-notice', 'data-testid': 'blocked-notice', hidden: true });
  /** The peer the button acts on; none in a group. */
  private peerId: string | undefined;

  constructor(private readonly options: BlockControlOptions) {}

  /** Shows the control for this peer (undefined: a group, no control); true while it is blocked. */
  render(peerId: string | undefined): boolean {
    this.peerId = peerId;
    const blocked = peerId !== undefined && this.options.client.isBlocked(peerId);
    this.button.hidden = peerId === undefined;
    setText(this.button, blocked ? 'Unblock' : 'Block');
    this.button.setAttribute('aria-pressed', String(blocked));
    this.notice.hidden = !blocked;
    setText(this.notice, blocked ? `You blocked ${peerId}. Unblock to send messages.` : '');
    return blocked;
  }

  private toggle(): void {
    const { client, onError } = this.options;
    const { peerId } = this;
    if (!peerId) return;
    const change = client.isBlocked(peerId) ? client.unblock(peerId) : client.block(peerId);
    // The client's `block` event redraws the chat.
    change.catch((error: unknown) => onError(error instanceof Error ? error.message : String(error)));
  }
}
