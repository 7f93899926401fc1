/**
 * The web app in a real browser: users in browser contexts of their own, against a local
 * stack and web server of this file's own. Chromium is Debian's (/usr/bin/chromium),
 * driven by playwright-core. `PARLEY_UPDATE_SCREENSHOT=1` also writes docs/web-app.png.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_JWT_SECRET } from '../../lambdas/config.js';
import type { RunningLocalStack } from '../../local/stack.js';
import { type RunningWebServer, startWebServer } from '../../local/web-server.js';
import { connectAs, startTestStack, uniqueId, useTestStack } from '../support/stack.js';

const CHROMIUM = process.env.PARLEY_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const DOCS_SCREENSHOT = fileURLToPath(new URL('../../docs/web-app.png', import.meta.url));
const DESKTOP = { width: 1100, height: 640 };
/** A phone held upright (an iPhone 14's CSS pixels). */
const PHONE = { width: 390, height: 844 };
/** Presence changes reach subscribers within the notifier's 2 s window; the rest is slack. */
const WAIT = { timeout: 20_000 };
/** A reconnect waits out a full-jitter backoff first. */
const RECONNECT_WAIT = { timeout: 45_000 };

let browser: Browser | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `The browser tests need Chromium at ${CHROMIUM}, and it is not there. ` +
        'Install it (Debian/Ubuntu: `apt-get install chromium`) or point PARLEY_CHROMIUM at one.',
    );
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
});

async function startWebServerFor(stack: RunningLocalStack): Promise<RunningWebServer> {
  return startWebServer({
    port: 0,
    wsUrl: stack.url,
    tokenSecret: stack.config.tokens.secret ?? LOCAL_JWT_SECRET,
  });
}

/** A browser context of its own (one device), signed in as `userId` and connected. */
async function signIn(
  web: RunningWebServer,
  userId: string,
  viewport = DESKTOP,
): Promise<{ context: BrowserContext; page: Page }> {
  if (!browser) throw new Error('Chromium is not started');
  const context = await browser.newContext({ viewport, locale: 'en-GB' });
  const page = await context.newPage();
  // What goes wrong in the page shows in the test's output.
  page.on('pageerror', (error) => console.error(`[${userId}'s page] ${error.stack ?? error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') console.error(`[${userId}'s console] ${message.text()}`);
  });
  await page.goto(web.url);
  await page.getByTestId('signin-user').fill(userId);
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('me').filter({ hasText: userId }).waitFor(WAIT);
  await page.getByTestId('offline-banner').waitFor({ state: 'hidden', ...WAIT });
  return { context, page };
}

async function startChat(page: Page, peerId: string): Promise<void> {
  await page.getByTestId('new-chat-user').fill(peerId);
  await page.getByTestId('new-chat-submit').click();
  await page.getByTestId('chat-peer').filter({ hasText: peerId }).waitFor(WAIT);
}

async function send(page: Page, body: string): Promise<void> {
  await page.getByTestId('composer-input').fill(body);
  await page.getByTestId('composer-send').click();
}

function myMessage(page: Page, body: string, status?: string) {
  const selector = `[data-testid="message"][data-mine="true"]${status ? `[data-status="${status}"]` : ''}`;
  return page.locator(selector).filter({ hasText: body });
}

function theirMessage(page: Page, body: string) {
  return page.locator('[data-testid="message"][data-mine="false"]').filter({ hasText: body });
}

function conversationItem(page: Page, conversationId: string) {
  return page.locator(`[data-testid="conversation-item"][data-conversation-id="${conversationId}"]`);
}

async function widthOf(page: Page, selector: string): Promise<number | undefined> {
  return (await page.locator(selector).boundingBox())?.width;
}

/** The little of the DOM that the layout checks read (this program has no DOM types). */
interface Box {
  tagName: string;
  className: string;
  textContent: string | null;
  scrollWidth: number;
  clientWidth: number;
  getClientRects(): { length: number };
  ownerDocument: {
    createRange(): { selectNodeContents(node: Box): void; getClientRects(): { length: number } };
  };
}

interface Field extends Box {
  value: string;
  placeholder: string;
}

/**
 * What on the page is cut or wrapped: the page wider than the window, a bar, form or
 * button whose content overflows it, a button whose label takes two lines, the new-chat
 * field narrower than its placeholder. Empty when all fits.
 */
async function layoutProblems(page: Page): Promise<string[]> {
  const problems: string[] = [];
  const pageWidth = await page.locator('html').evaluate((html: Box) => html.scrollWidth);
  if (pageWidth > (page.viewportSize()?.width ?? 0)) problems.push(`the page is ${pageWidth} px wide`);
  const cut = await page
    .locator('.bar, .bar *, .new-chat, .new-chat *, .composer, .composer *')
    .evaluateAll((elements: Box[]) =>
      elements
        .filter(
          (element) => element.getClientRects().length > 0 && element.scrollWidth > element.clientWidth + 1,
        )
        .map((element) => `${element.tagName.toLowerCase()}.${element.className} is cut`),
    );
  const wrapped = await page.locator('button:visible').evaluateAll((buttons: Box[]) =>
    buttons
      .filter((button) => {
        // One box per line of the label.
        const range = button.ownerDocument.createRange();
        range.selectNodeContents(button);
        return range.getClientRects().length > 1;
      })
      .map((button) => `"${button.textContent}" wraps`),
  );
  const placeholderCut = await page.locator('.new-chat input:visible').evaluateAll((inputs: Field[]) =>
    inputs
      .filter((input) => {
        // The placeholder as a value: wider than the field, it would scroll.
        const value = input.value;
        input.value = input.placeholder;
        const overflows = input.scrollWidth > input.clientWidth;
        input.value = value;
        return overflows;
      })
      .map((input) => `the new-chat field cuts "${input.placeholder}"`),
  );
  return [...problems, ...cut, ...wrapped, ...placeholderCut];
}

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
