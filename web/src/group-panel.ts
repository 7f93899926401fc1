/**
 * A group's details over its chat: the members (admins marked), and for an admin the ways
 * to rename the group, add members and remove them; for every member, leaving. What it
 * shows is the server's `groupInfo`, asked again after each change and whenever a
 * membership event arrives while it is open.
 */
import { GROUP_TITLE_MAX_CHARS } from '@parley/protocol';
import type { GroupInfo, ParleyClient } from '@parley/sdk';
import { avatar } from './avatar.js';
import { h, setText } from './dom.js';
import { formatMemberCount } from './format.js';
import { parseUserIds } from './group-rules.js';
import { isValidId } from './session.js';

export interface GroupPanelOptions {
  client: ParleyClient;
  me: string;
  /** Called after this user left the group. */
  onLeft: () => void;
}

export class GroupPanel {
  private conversationId: string | undefined;
  private info: GroupInfo | undefined;
  /** The last groupInfo asked for: an older answer that comes later is dropped. */
  private asked = 0;
  private readonly members = h('ul', { class: 'group-members', 'data-testid': 'group-members' });
  private readonly heading = h('h3', { 'data-testid': 'group-panel-title' });
  private readonly count = h('p', { class: 'muted' });
  private readonly error = h('p', {
    class: 'form-error',
    'data-testid': 'group-error',
    role: 'alert',
    hidden: true,
  });
  private readonly titleInput = h('input', {
    'data-testid': 'group-title-input',
    maxlength: GROUP_TITLE_MAX_CHARS,
    'aria-label': 'New title',
    placeholder: 'New title',
  });
  private readonly addInput = h('input', {
    'data-testid': 'add-members-input',
    placeholder: 'Add members: dave, erin',
    autocomplete: 'off',
    spellcheck: 'false',
    'aria-label': 'User ids to add, separated by commas',
  });
  private readonly adminTools = h(
    'div',
    { class: 'admin-tools', hidden: true },
    h(
      'form',
      { class: 'inline-form', onsubmit: (event: Event) => this.rename(event) },
      this.titleInput,
      h('button', { type: 'submit', 'data-testid': 'group-title-submit' }, 'Rename'),
    ),
    h(
      'form',
      { class: 'inline-form', onsubmit: (event: Event) => this.add(event) },
      this.addInput,
      h('button', { type: 'submit', 'data-testid': 'add-members-submit' }, 'Add'),
    ),
  );
  readonly element = h(
    'section',
    { class: 'group-panel', 'data-testid': 'group-panel', hidden: true },
    this.heading,
    this.count,
    this.error,
    this.adminTools,
    this.members,
    h(
      'button',
      { type: 'button', class: 'leave', 'data-testid': 'leave-group', onclick: () => this.leave() },
      'Leave group',
    ),
  );

  constructor(private readonly options: GroupPanelOptions) {}

  get isOpen(): boolean {
    return !this.element.hidden;
  }

  /** Shows the panel for this group and asks the server who is in it. */
  open(conversationId: string): void {
    if (this.conversationId !== conversationId) this.info = undefined;
    this.conversationId = conversationId;
    this.element.hidden = false;
    this.error.hidden = true;
    this.draw();
    this.refresh();
  }

  close(): void {
    this.element.hidden = true;
  }

  /** Asks the server again, if the panel is open. */
  refresh(): void {
    const { conversationId } = this;
    if (!conversationId || !this.isOpen) return;
    const asked = ++this.asked;
    this.options.client.groupInfo(conversationId).then(
      (info) => {
        if (asked !== this.asked || conversationId !== this.conversationId) return;
        this.info = info;
        this.draw();
      },
      (error: unknown) => {
        if (asked === this.asked) this.fail(error);
      },
    );
  }

  private draw(): void {
    const { info } = this;
    const { me } = this.options;
    setText(this.heading, info?.title ?? '');
    setText(this.count, info ? formatMemberCount(info.memberCount) : 'Loading…');
    const admin = info?.members.some((member) => member.userId === me && member.admin) ?? false;
    this.adminTools.hidden = !admin;
    this.members.replaceChildren(
      ...(info?.members ?? []).map((member) =>
        h(
          'li',
          { class: 'group-member', 'data-testid': 'group-member', 'data-user-id': member.userId },
          avatar(member.userId),
          h('span', { class: 'member-name' }, member.userId === me ? `${me} (you)` : member.userId),
          member.admin ? h('span', { class: 'admin-tag', 'data-testid': 'admin-tag' }, 'admin') : null,
          admin && member.userId !== me
            ? h(
                'button',
                {
                  type: 'button',
                  class: 'link danger',
                  'data-testid': 'remove-member',
                  'aria-label': `Remove ${member.userId}`,
                  onclick: () => this.act((id) => this.options.client.removeMember(id, member.userId)),
                },
                'Remove',
              )
            : null,
        ),
      ),
    );
  }

  private rename(event: Event): void {
    event.preventDefault();
    const title = this.titleInput.value.trim();
    if (!title) {
      this.show('Give the group a title.');
      return;
    }
    this.titleInput.value = '';
    this.act((id) => this.options.client.setTitle(id, title));
  }

  private add(event: Event): void {
    event.preventDefault();
    const members = parseUserIds(this.addInput.value);
    const bad = members.find((id) => !isValidId(id));
    if (members.length === 0 || bad !== undefined) {
      this.show(bad ? `“${bad}” is not a user id.` : 'Name someone to add.');
      return;
    }
    this.addInput.value = '';
    this.act((id) => this.options.client.addMembers(id, members));
  }

  private leave(): void {
    const { conversationId } = this;
    if (!conversationId) return;
    this.options.client.leaveGroup(conversationId).then(
      () => {
        this.close();
        this.options.onLeft();
      },
      (error: unknown) => this.fail(error),
    );
  }

  /** Runs a membership action on the open group, then shows the group as it now is. */
  private act(action: (conversationId: string) => Promise<unknown>): void {
    const { conversationId } = this;
    if (!conversationId) return;
    this.error.hidden = true;
    action(conversationId).then(
      () => this.refresh(),
      (error: unknown) => this.fail(error),
    );
  }

  private fail(error: unknown): void {
    this.show(error instanceof Error ? error.message : String(error));
  }

  private show(problem: string): void {
    setText(this.error, problem);
    this.error.hidden = false;
  }
}
