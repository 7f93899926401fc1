/** "Start a chat: user id": checks the id and hands a good one on. */
import { h, setText } from './dom.js';
import { isValidId, USER_ID_RULE } from './session.js';

export class NewChatForm {
  private readonly input = h('input', {
    class: 'new-chat-input',
    'data-testid': 'new-chat-user',
    placeholder: 'Start a chat: user id',
    autocomplete: 'off',
    spellcheck: 'false',
    maxlength: 64,
    'aria-label': 'User id to chat with',
  });
  readonly form = h(
    'form',
    { class: 'new-chat', onsubmit: (event: Event) => this.submit(event) },
    this.input,
    h('button', { type: 'submit', 'data-testid': 'new-chat-submit' }, 'Chat'),
  );
  readonly error = h('p', { class: 'form-error', 'data-testid': 'new-chat-error', hidden: true });

  /** `onStart` gets the id of the user to chat with, never `me`. */
  constructor(
    private readonly me: string,
    private readonly onStart: (peerId: string) => void,
  ) {}

  private submit(event: Event): void {
    event.preventDefault();
    const peerId = this.input.value.trim();
    let problem: string | undefined;
    if (!isValidId(peerId)) problem = USER_ID_RULE;
    else if (peerId === this.me) problem = 'That is you: pick someone else.';
    this.error.hidden = !problem;
    setText(this.error, problem ?? '');
    if (problem) return;
    this.input.value = '';
    this.onStart(peerId);
  }
}
