/** A short-lived notice of an error: a refused send, or an error frame from the server. */
import { h, setText } from './dom.js';

const SHOWN_MS = 6000;

export class ErrorToast {
  readonly element = h('div', { class: 'toast', 'data-testid': 'error-toast', role: 'alert', hidden: true });
  private timer: ReturnType<typeof setTimeout> | undefined;

  show(text: string): void {
    setText(this.element, text);
    this.element.hidden = false;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.element.hidden = true;
    }, SHOWN_MS);
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}
