/**
 * "New group": a title and the user ids of the other members. Checks them as the server
 * would (so a mistake is named here, not refused later) and hands good ones on.
 */
import { GROUP_TITLE_MAX_CHARS } from '@parley/protocol';
import { h, setText } from './dom.js';
import { type NewGroup, newGroupProblem, parseUserIds } from './group-rules.js';

export class NewGroupForm {
  private readonly title = h('input', {
    'data-testid': 'new-group-title',
    placeholder: 'Group title',
    autocomplete: 'off',
    maxlength: GROUP_TITLE_MAX_CHARS,
    'aria-label': 'Group title',
  });
  private readonly members = h('input', {
    'data-testid': 'new-group-members',
    placeholder: 'Members: bob, carol',
    autocomplete: 'off',
    spellcheck: 'false',
    'aria-label': 'User ids of the members, separated by commas',
  });
  private readonly error = h('p', { class: 'form-error', 'data-testid': 'new-group-error', hidden: true });
  readonly form = h(
    'form',
    {
      class: 'new-group',
      'data-testid': 'new-group-form',
      hidden: true,
      onsubmit: (event: Event) => this.submit(event),
    },
    this.title,
    this.members,
    h(
      'div',
      { class: 'form-buttons' },
      h('button', { type: 'button', class: 'link', onclick: () => this.toggle(false) }, 'Cancel'),
      h('button', { type: 'submit', 'data-testid': 'new-group-submit' }, 'Create group'),
    ),
    this.error,
  );

  /** `onCreate` gets a group that passed the checks. */
  constructor(
    private readonly me: string,
    private readonly onCreate: (group: NewGroup) => void,
  ) {}

  /** Shows or hides the form (the "New group" button toggles it). */
  toggle(show = this.form.hidden): void {
    this.form.hidden = !show;
    this.error.hidden = true;
    if (show) this.title.focus();
  }

  private submit(event: Event): void {
    event.preventDefault();
    const group = { title: this.title.value.trim(), members: parseUserIds(this.members.value) };
    const problem = newGroupProblem(group, this.me);
    this.error.hidden = !problem;
    setText(this.error, problem ?? '');
    if (problem) return;
    this.title.value = '';
    this.members.value = '';
    this.form.hidden = true;
    this.onCreate(group);
  }
}
