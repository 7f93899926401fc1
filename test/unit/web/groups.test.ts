import type { GroupEventMessage } from '@parley/sdk';
import { MessageStatus } from '@parley/sdk';
import { describe, expect, it } from 'vitest';
import { describeGroupEvent, formatNames } from '../../../web/src/group-events.js';
import { newGroupProblem, parseUserIds } from '../../../web/src/group-rules.js';

const base = {
  conversationId: 'grp:lunch',
  clientMessageId: 'e1',
  seq: 1,
  body: '',
  serverTs: 1,
  createdAt: 1,
  status: MessageStatus.Sent,
};

function by(senderId: string, me: string) {
  return { ...base, senderId, mine: senderId === me };
}

describe('a group’s membership events as the timeline says them', () => {
  it('names the members as a sentence', () => {
    expect(formatNames(['bob'])).toBe('bob');
    expect(formatNames(['bob', 'carol'])).toBe('bob and carol');
    expect(formatNames(['bob', 'carol', 'dave'])).toBe('bob, carol and dave');
  });

  it('says who did what, with "You" for the reader', () => {
    const lines: Array<[GroupEventMessage, string]> = [
      [
        { ...by('alice', 'bob'), kind: 'group-created', title: 'Lunch', members: ['alice', 'bob'] },
        'alice created the group “Lunch”',
      ],
      [
        { ...by('alice', 'bob'), kind: 'members-added', members: ['bob', 'carol'] },
        'alice added you and carol',
      ],
      [{ ...by('bob', 'bob'), kind: 'members-added', members: ['dave'] }, 'You added dave'],
      [{ ...by('alice', 'bob'), kind: 'member-removed', userId: 'carol' }, 'alice removed carol'],
      [{ ...by('carol', 'bob'), kind: 'member-removed', userId: 'carol' }, 'carol left'],
      [{ ...by('bob', 'bob'), kind: 'member-removed', userId: 'bob' }, 'You left'],
      [
        { ...by('alice', 'bob'), kind: 'title-changed', title: 'Dinner' },
        'alice changed the title to “Dinner”',
      ],
      [
        { ...by('alice', 'bob'), kind: 'admin-changed', userId: 'bob', admin: true },
        'alice made you an admin',
      ],
      [
        { ...by('alice', 'bob'), kind: 'admin-changed', userId: 'carol', admin: false },
        'carol is no longer an admin',
      ],
      [{ ...by('bob', 'bob'), kind: 'admin-changed', userId: 'bob', admin: true }, 'You are now an admin'],
    ];

    expect(lines.map(([event]) => describeGroupEvent(event, 'bob'))).toEqual(lines.map(([, line]) => line));
  });
});

describe('the new group form’s checks', () => {
  it('reads user ids separated by commas or spaces, each once', () => {
    expect(parseUserIds(' bob, carol  dave,bob ,')).toEqual(['bob', 'carol', 'dave']);
  });

  it('names what is wrong, and passes a good group', () => {
    expect(newGroupProblem({ title: '', members: ['bob'] }, 'alice')).toBe('Give the group a title.');
    expect(newGroupProblem({ title: 'x'.repeat(101), members: ['bob'] }, 'alice')).toMatch(/at most 100/);
    expect(newGroupProblem({ title: 'Lunch', members: [] }, 'alice')).toMatch(/at least one/);
    expect(newGroupProblem({ title: 'Lunch', members: ['bob', 'c@rol'] }, 'alice')).toMatch(
      /“c@rol” is not a user id/,
    );
    expect(newGroupProblem({ title: 'Lunch', members: ['bob', 'alice'] }, 'alice')).toMatch(
      /You are in the group/,
    );
    const tooMany = Array.from({ length: 1024 }, (_, i) => `u${i}`);
    expect(newGroupProblem({ title: 'Lunch', members: tooMany }, 'alice')).toMatch(/at most 1024 members/);
    expect(newGroupProblem({ title: 'Lunch', members: ['bob', 'carol'] }, 'alice')).toBeUndefined();
  });
});
