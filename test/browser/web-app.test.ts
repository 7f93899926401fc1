/**
 * The web app in a real browser: users in browser contexts of their own, against a local
 * stack and web server of this file's own (see web-pages.ts).
 * `PARLEY_UPDATE_SCREENSHOT=1` also writes docs/web-app.png.
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningLocalStack } from '../../local/stack.js';
import type { RunningWebServer } from '../../local/web-server.js';
import { connectAs, startTestStack, uniqueId, useTestStack } from '../support/stack.js';
import {
  ARTIFACTS,
  conversationItem,
  layoutProblems,
  myMessage,
  PHONE,
  send,
  signIn,
  startChat,
  startWebServerFor,
  theirMessage,
  WAIT,
  widthOf,
} from './web-pages.js';

const DOCS_SCREENSHOT = fileURLToPath(new URL('../../docs/web-app.png', import.meta.url));
/** A reconnect waits out a full-jitter backoff first. */
const RECONNECT_WAIT = { timeout: 45_000 };

describe('the web app, alice and bob in two browsers', () => {
  const { stack, connect } = useTestStack();
  let web: RunningWebServer | undefined;
  let alice: Page;
  let bob: Page;
  let bobContext: BrowserContext;

  beforeAll(async () => {
    web = await startWebServerFor(stack());
    const started = web;
    [{ page: alice }, { page: bob, context: bobContext }] = await Promise.all([
      signIn(started, 'alice'),
      signIn(started, 'bob'),
    ]);
  });

  afterAll(async () => {
    await web?.stop();
  });

  it('shows bob a new chat with an unread badge, and alice two ticks once it reaches him', async () => {
    await startChat(alice, 'bob');
    await send(alice, 'Hi Bob! Lunch at noon?');

    const bobsItem = conversationItem(bob, 'dm:alice:bob');
    await bobsItem.getByTestId('unread-badge').filter({ hasText: /^1$/ }).waitFor(WAIT);
    await myMessage(alice, 'Hi Bob! Lunch at noon?', 'delivered').waitFor(WAIT);

    expect(await bobsItem.textContent()).toContain('Hi Bob! Lunch at noon?');
    expect(await alice.getByTestId('message').count()).toBe(1);
  });

  it('turns alice’s ticks to read when bob opens the chat, and clears his badge', async () => {
    await conversationItem(bob, 'dm:alice:bob').click();

    await theirMessage(bob, 'Hi Bob! Lunch at noon?').waitFor(WAIT);
    await myMessage(alice, 'Hi Bob! Lunch at noon?', 'read').waitFor(WAIT);
    await bob.getByTestId('unread-badge').waitFor({ state: 'detached', ...WAIT });
    // The divider stays where the unread messages started, and the day is named above them.
    expect(await bob.getByTestId('message-list').locator('li').allTextContents()).toEqual([
      'Today',
      '1 new message',
      expect.stringContaining('Hi Bob! Lunch at noon?'),
    ]);
  });

  it('shows alice that bob is typing, then his reply, which she reads at once', async () => {
    await bob.getByTestId('composer-input').pressSequentially('Sure, see you', { delay: 30 });

    await alice.getByTestId('typing-indicator').filter({ hasText: 'bob is typing…' }).waitFor(WAIT);

    await bob.getByTestId('composer-send').click();
    await theirMessage(alice, 'Sure, see you').waitFor(WAIT);
    await alice.getByTestId('typing-indicator').waitFor({ state: 'hidden', ...WAIT });
    // Alice has the chat open in a visible window: bob's reply is read at once.
    await myMessage(bob, 'Sure, see you', 'read').waitFor(WAIT);
  });

  it('stops showing alice that bob is typing as soon as he empties the box', async () => {
    const input = bob.getByTestId('composer-input');
    const indicator = alice.getByTestId('typing-indicator');
    await input.pressSequentially('Actually', { delay: 30 });
    await indicator.filter({ hasText: 'bob is typing…' }).waitFor(WAIT);

    await input.press('Control+A');
    await input.press('Backspace');

    // Well before the 5 s without a keystroke after which the SDK stops on its own.
    await indicator.waitFor({ state: 'hidden', timeout: 2_500 });
    expect(await conversationItem(alice, 'dm:alice:bob').textContent()).not.toContain('typing…');
  });

  it('lists a message from another client on top, with its badge, beside the open chat', async () => {
    const carol = await connect('carol', 'phone');
    await carol.request({
      action: 'send',
      to: 'alice',
      clientMessageId: randomUUID(),
      body: 'Are you coming?',
    });

    const carolsItem = conversationItem(alice, 'dm:alice:carol');
    await carolsItem.getByTestId('unread-badge').filter({ hasText: /^1$/ }).waitFor(WAIT);
    expect(await carolsItem.textContent()).toContain('Are you coming?');
    const order = await alice
      .getByTestId('conversation-item')
      .evaluateAll((items) => items.map((item) => item.getAttribute('data-conversation-id')));
    expect(order).toEqual(['dm:alice:carol', 'dm:alice:bob']);
    // The open chat is still bob's, and nothing in it is unread.
    expect(await alice.getByTestId('chat-peer').textContent()).toBe('bob');
    expect(await conversationItem(alice, 'dm:alice:bob').getByTestId('unread-badge').count()).toBe(0);
  });

  it('shows alice that bob is online', async () => {
    const header = alice.getByTestId('chat-header');
    await header.locator('[data-testid="presence-dot"][data-online="true"]').waitFor(WAIT);
    expect(await header.getByTestId('presence-text').textContent()).toBe('online');

    // Bob starts another message, for the pictures.
    await bob.getByTestId('composer-input').pressSequentially('Table for three?', { delay: 30 });
    await alice.getByTestId('typing-indicator').filter({ hasText: 'bob is typing…' }).waitFor(WAIT);
    // At desktop width, both panes side by side, and no back button.
    expect(await widthOf(alice, '.sidebar')).toBe(340);
    expect(await alice.getByTestId('chat-back').isVisible()).toBe(false);
    expect(await layoutProblems(alice)).toEqual([]);
    await mkdir(ARTIFACTS, { recursive: true });
    await alice.screenshot({ path: `${ARTIFACTS}alice.png` });
    await bob.screenshot({ path: `${ARTIFACTS}bob.png` });
    if (process.env.PARLEY_UPDATE_SCREENSHOT === '1') await alice.screenshot({ path: DOCS_SCREENSHOT });
  });

  it('shows alice that bob went offline, and when he was last seen, once his page closes', async () => {
    await bobContext.close();

    const header = alice.getByTestId('chat-header');
    await header.locator('[data-testid="presence-dot"][data-online="false"]').waitFor(WAIT);
    expect(await header.getByTestId('presence-text').textContent()).toMatch(/^last seen .*\d\d:\d\d$/);
    await alice.getByTestId('typing-indicator').waitFor({ state: 'hidden', ...WAIT });
    await alice.screenshot({ path: `${ARTIFACTS}alice-bob-offline.png` });
  });

  it('shows alice on a phone the list, then the chat, each full width, and takes her back', async () => {
    if (!web) throw new Error('not started');
    const { context, page: phone } = await signIn(web, 'alice', PHONE);
    try {
      const bobsItem = conversationItem(phone, 'dm:alice:bob');
      await bobsItem.waitFor(WAIT);
      expect(await widthOf(phone, '.sidebar')).toBe(PHONE.width);
      expect(await phone.getByTestId('chat-empty').isVisible()).toBe(false);
      expect(await layoutProblems(phone)).toEqual([]);
      await phone.screenshot({ path: `${ARTIFACTS}alice-phone-list.png` });

      await bobsItem.click();
      await theirMessage(phone, 'Sure, see you').waitFor(WAIT);
      expect(await phone.locator('.sidebar').isVisible()).toBe(false);
      expect(await widthOf(phone, '.chat')).toBe(PHONE.width);
      expect(await layoutProblems(phone)).toEqual([]);
      await phone.screenshot({ path: `${ARTIFACTS}alice-phone-chat.png` });

      await phone.getByTestId('chat-back').click();
      await phone.locator('.chat').waitFor({ state: 'hidden', ...WAIT });
      expect(await bobsItem.isVisible()).toBe(true);

      // The browser's back does the same.
      await bobsItem.click();
      await phone.getByTestId('chat-back').waitFor(WAIT);
      await phone.goBack();
      await phone.locator('.chat').waitFor({ state: 'hidden', ...WAIT });
      expect(await bobsItem.isVisible()).toBe(true);
    } finally {
      await context.close();
    }
  });
});

describe('the web app without a connection', () => {
  // A stack this test stops and starts again, on the same port and tables.
  const resourcePrefix = uniqueId('t');
  let stack: RunningLocalStack | undefined;
  let web: RunningWebServer | undefined;

  beforeAll(async () => {
    stack = await startTestStack({ resourcePrefix });
    web = await startWebServerFor(stack);
  });

  afterAll(async () => {
    await web?.stop();
    await stack?.stop();
  });

  it('keeps a message written offline through a reload, and sends it once when the server is back', async () => {
    if (!stack || !web) throw new Error('not started');
    const wsPort = Number(new URL(stack.url).port);
    const { page: alice } = await signIn(web, 'alice');
    await startChat(alice, 'bob');
    await send(alice, 'Before the outage');
    await myMessage(alice, 'Before the outage', 'sent').waitFor(WAIT);

    await stack.stop();
    stack = undefined;
    const banner = alice.getByTestId('offline-banner');
    await banner.filter({ hasText: 'Offline — 0 messages queued' }).waitFor(WAIT);
    await send(alice, 'Written offline');
    await myMessage(alice, 'Written offline', 'pending').waitFor(WAIT);
    await banner.filter({ hasText: 'Offline — 1 message queued' }).waitFor(WAIT);

    await alice.reload();
    await myMessage(alice, 'Written offline', 'pending').waitFor(WAIT);
    await banner.filter({ hasText: 'Offline — 1 message queued' }).waitFor(WAIT);
    await mkdir(ARTIFACTS, { recursive: true });
    await alice.screenshot({ path: `${ARTIFACTS}alice-offline.png` });

    stack = await startTestStack({ resourcePrefix, wsPort });
    await banner.waitFor({ state: 'hidden', ...RECONNECT_WAIT });
    await myMessage(alice, 'Written offline', 'sent').waitFor(WAIT);

    const bobPhone = await connectAs(stack, 'bob', 'phone');
    try {
      const history = await bobPhone.request({ action: 'sync', conversationId: 'dm:alice:bob', afterSeq: 0 });
      expect((history.messages as Array<{ body: string }>).map((m) => m.body)).toEqual([
        'Before the outage',
        'Written offline',
      ]);
    } finally {
      await bobPhone.close();
    }
  });
});
