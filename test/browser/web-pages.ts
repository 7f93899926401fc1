/**
 * What the browser tests share: Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core), launched once per file; a web server on a test stack; users signed in
 * in browser contexts of their own; and the page's parts as the tests find them.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { LOCAL_JWT_SECRET } from '../../lambdas/config.js';
import type { RunningLocalStack } from '../../local/stack.js';
import { type RunningWebServer, startWebServer } from '../../local/web-server.js';

const CHROMIUM = process.env.PARLEY_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
export const DESKTOP = { width: 1100, height: 640 };
/** A phone held upright (an iPhone 14's CSS pixels). */
export const PHONE = { width: 390, height: 844 };
/** Presence changes reach subscribers within the notifier's 2 s window; the rest is slack. */
export const WAIT = { timeout: 20_000 };

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

export async function startWebServerFor(stack: RunningLocalStack): Promise<RunningWebServer> {
  return startWebServer({
    port: 0,
    wsUrl: stack.url,
    tokenSecret: stack.config.tokens.secret ?? LOCAL_JWT_SECRET,
  });
}

/** A browser context of its own (one device), signed in as `userId` and connected. */
export async function signIn(
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

export async function startChat(page: Page, peerId: string): Promise<void> {
  await page.getByTestId('new-chat-user').fill(peerId);
  await page.getByTestId('new-chat-submit').click();
  await page.getByTestId('chat-peer').filter({ hasText: peerId }).waitFor(WAIT);
}

export async function send(page: Page, body: string): Promise<void> {
  await page.getByTestId('composer-input').fill(body);
  await page.getByTestId('composer-send').click();
}

export function myMessage(page: Page, body: string, status?: string) {
  const selector = `[data-testid="message"][data-mine="true"]${status ? `[data-status="${status}"]` : ''}`;
  return page.locator(selector).filter({ hasText: body });
}

export function theirMessage(page: Page, body: string) {
  return page.locator('[data-testid="message"][data-mine="false"]').filter({ hasText: body });
}

export function conversationItem(page: Page, conversationId: string) {
  return page.locator(`[data-testid="conversation-item"][data-conversation-id="${conversationId}"]`);
}

export async function widthOf(page: Page, selector: string): Promise<number | undefined> {
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
export async function layoutProblems(page: Page): Promise<string[]> {
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
