import { describe, expect, it } from 'vitest';
import {
  type ClientsLike,
  conversationUrl,
  notificationFor,
  OPEN_CONVERSATION,
  openConversation,
  type WindowClientLike,
} from '../../../web/src/push-notification.js';

const PAYLOAD = {
  type: 'message',
  conversationId: 'dm:alice:bob',
  seq: 7,
  senderId: 'bob',
  unread: 3,
  text: 'Lunch at noon?',
};

const SCOPE = 'https://chat.example/';

/** A window of the app, recording what the click did to it. */
function windowClient(focused: boolean) {
  const done: string[] = [];
  const client: WindowClientLike = {
    focused,
    focus: async () => {
      done.push('focus');
    },
    postMessage: (message) => {
      done.push(JSON.stringify(message));
    },
  };
  return { client, done };
}

function clientsWith(windows: WindowClientLike[]) {
  const opened: string[] = [];
  const clients: ClientsLike = {
    matchAll: async () => windows,
    openWindow: async (url) => {
      opened.push(url);
      return null;
    },
  };
  return { clients, opened };
}

describe('the notification for a push', () => {
  it('shows a one-to-one message under the sender, tagged with the conversation', () => {
    expect(notificationFor(PAYLOAD)).toEqual({
      title: 'bob',
      options: {
        body: 'Lunch at noon?',
        tag: 'dm:alice:bob',
        renotify: true,
        data: { conversationId: 'dm:alice:bob', seq: 7 },
      },
    });
  });

  it('shows a group message under the app’s name when the page kept no title for it', () => {
    const group = notificationFor({ ...PAYLOAD, conversationId: 'grp:lunch', text: 'New message' });

    expect(group.title).toBe('Parley');
    expect(group.options).toMatchObject({ body: 'New message', tag: 'grp:lunch' });
  });

  it('shows a group message under the group’s title where the page kept it', () => {
    const group = notificationFor({ ...PAYLOAD, conversationId: 'grp:lunch' }, { 'grp:lunch': 'Lunch' });
    const other = notificationFor({ ...PAYLOAD, conversationId: 'grp:other' }, { 'grp:lunch': 'Lunch' });

    expect(group.title).toBe('Lunch');
    expect(other.title).toBe('Parley');
  });

  it.each([
    ['no data', undefined],
    ['a string for data', 'Lunch at noon?'],
    ['another type', { ...PAYLOAD, type: 'receipt' }],
    ['a seq of 0', { ...PAYLOAD, seq: 0 }],
    ['a conversation id that is not a string', { ...PAYLOAD, conversationId: 42 }],
    ['no text', { ...PAYLOAD, text: undefined }],
  ])('shows a generic "New message" for a push with %s, rather than nothing', (_, data) => {
    expect(notificationFor(data)).toEqual({
      title: 'Parley',
      options: { body: 'New message', tag: 'parley', renotify: true, data: {} },
    });
  });
});

describe('a click on a notification', () => {
  it('opens a new window at the conversation when no window of the app is open', async () => {
    const { clients, opened } = clientsWith([]);

    await openConversation(clients, SCOPE, 'grp:lunch');

    expect(opened).toEqual(['https://chat.example/?conversation=grp%3Alunch']);
  });

  it('tells the focused window of the app to open the conversation, and brings it to the front', async () => {
    const background = windowClient(false);
    const focused = windowClient(true);
    const { clients, opened } = clientsWith([background.client, focused.client]);

    await openConversation(clients, SCOPE, 'dm:alice:bob');

    expect(focused.done).toEqual([
      JSON.stringify({ type: OPEN_CONVERSATION, conversationId: 'dm:alice:bob' }),
      'focus',
    ]);
    expect(background.done).toEqual([]);
    expect(opened).toEqual([]);
  });

  it('uses the first window when none is focused, and only focuses it for a push it could not read', async () => {
    const first = windowClient(false);
    const second = windowClient(false);
    const { clients } = clientsWith([first.client, second.client]);

    await openConversation(clients, SCOPE, undefined);

    expect(first.done).toEqual(['focus']);
    expect(second.done).toEqual([]);
  });

  it('opens the app’s start page for a push it could not read', () => {
    expect(conversationUrl(SCOPE, undefined)).toBe(SCOPE);
    expect(conversationUrl('http://127.0.0.1:3000/', 'dm:alice:bob')).toBe(
      'http://127.0.0.1:3000/?conversation=dm%3Aalice%3Abob',
    );
  });
});
