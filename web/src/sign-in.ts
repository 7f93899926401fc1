/** The sign-in form: any user id will do, the web server mints a dev token for it. */
import { h, setText } from './dom.js';
import { fetchSession, isValidId, type Session, USER_ID_RULE } from './session.js';

export function mountSignIn(
  root: HTMLElement,
  onSignedIn: (session: Session) => void,
  problem?: string,
): void {
  const input = h('input', {
    id: 'signin-user',
    'data-testid': 'signin-user',
    placeholder: 'alice',
    autocomplete: 'username',
    spellcheck: 'false',
    maxlength: 64,
    required: true,
  });
  const submit = h('button', { type: 'submit', 'data-testid': 'signin-submit' }, 'Sign in');
  const error = h('p', { class: 'form-error', 'data-testid': 'signin-error', role: 'alert', hidden: true });
  const fail = (text: string) => {
    setText(error, text);
    error.hidden = false;
  };
  const form = h(
    'form',
    {
      class: 'signin',
      novalidate: true,
      onsubmit: async (event: Event) => {
        event.preventDefault();
        const userId = input.value.trim();
        if (!isValidId(userId)) {
          fail(USER_ID_RULE);
          return;
        }
        error.hidden = true;
        submit.disabled = true;
        try {
          onSignedIn(await fetchSession(userId));
        } catch (problem) {
          fail(problem instanceof Error ? problem.message : String(problem));
          submit.disabled = false;
        }
      },
    },
    h('h1', {}, 'Parley'),
    h('label', { for: 'signin-user' }, 'Sign in as any user id (local dev tokens)'),
    input,
    submit,
    error,
  );
  if (problem) fail(problem);
  root.replaceChildren(h('main', { class: 'signin-page' }, form));
  input.focus();
}
