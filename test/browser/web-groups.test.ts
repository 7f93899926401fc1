/**
 * A group in the web app: alice, bob and carol in three browsers, against a local stack and
 * web server of this file's own (see web-pages.ts). Alice creates the group; each member
 * sees its title, size and messages with their senders' names; alice's ticks are
 * everyone's; membership changes show as lines in everyone's timeline.
 */
import { mkdir } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningWebServer } from '../../local/web-server.js';
import { useTestStack } from '../support/stack.js';
import {
  ARTIFACTS,
  layoutProblems,
  myMessage,
  PHONE,
  send,
  signIn,
  startWebServerFor,
  theirMessage,
  WAIT,
} from './web-pages.js';

function groupItem(page: Page, title: string) {
  return page.locator('[data-testid="conversation-item"][data-kind="group"]').filter({ hasText: title });
}

function groupEvent(page: Page, text: string) {
  return page.getByTestId('group-event').filter({ hasText: text });
}

async function createGroup(page: Page, title: string, members: string): Promise<void> {
  await page.getByTestId('new-group').click();
  await page.getByTestId('new-group-title').fill(title);
  await page.getByTestId('new-group-members').fill(members);
  await page.getByTestId('new-group-submit').click();
}

async function openMembers(page: Page): Promise<void> {
  if (!(await page.getByTestId('group-panel').isVisible()))
    await page.getByTestId('group-info-toggle').click();
  await page.getByTestId('group-member').first().waitFor(WAIT);
}

describe('a group of three in the web app', () => {
  const { stack } = useTestStack();
  let web: RunningWebServer | undefined;
  let alice: Page;
  let bob: Page;
  let carol: Page;

  beforeAll(async () => {
    web = await startWebServerFor(stack());
    const started = web;
    [{ page: alice }, { page: bob }, { page: carol }] = await Promise.all([
      signIn(started, 'alice'),
      signIn(started, 'bob'),
      signIn(started, 'carol', PHONE),
    ]);
  });

  afterAll(async () => {
    await web?.stop();
  });

  it('lets alice create "Lunch" with bob and carol, and lists it for each with its title and size', async () => {
    await createGroup(alice, 'Lunch', 'bob, carol');

    await alice.getByTestId('chat-peer').filter({ hasText: 'Lunch' }).waitFor(WAIT);
    await alice.getByTestId('chat-members').filter({ hasText: '3 members' }).waitFor(WAIT);
    await groupEvent(alice, 'You created the group “Lunch”').waitFor(WAIT);
    for (const page of [bob, carol]) {
      await groupItem(page, 'Lunch')
        .getByTestId('member-count')
        .filter({ hasText: '3 members' })
        .waitFor(WAIT);
    }
  });

  it('brings alice’s message to bob and carol under her name, her ticks turning delivered, then read by everyone', async () => {
    await send(alice, 'Pizza at 1?');
    // Both are connected: delivered to everyone, read by nobody yet.
    await myMessage(alice, 'Pizza at 1?', 'delivered').waitFor(WAIT);
    await expect(groupItem(bob, 'Lunch').getByTestId('preview').textContent()).resolves.toBe(
      'alice: Pizza at 1?',
    );

    await groupItem(bob, 'Lunch').click();
    await theirMessage(bob, 'Pizza at 1?').getByTestId('sender').filter({ hasText: 'alice' }).waitFor(WAIT);
    await groupEvent(bob, 'alice created the group “Lunch”').waitFor(WAIT);
    // Bob has read it, carol not yet: the ticks stay "delivered to everyone".
    await bob.getByTestId('unread-badge').waitFor({ state: 'detached', ...WAIT });
    expect(await myMessage(alice, 'Pizza at 1?', 'delivered').count()).toBe(1);

    await groupItem(carol, 'Lunch').click();
    await theirMessage(carol, 'Pizza at 1?').getByTestId('sender').filter({ hasText: 'alice' }).waitFor(WAIT);
    await myMessage(alice, 'Pizza at 1?', 'read').waitFor(WAIT);
    expect(await alice.locator('[data-testid="message"] .status').getAttribute('title')).toBe(
      'Read by everyone',
    );
  });

  it('shows bob’s reply to alice and carol with his name', async () => {
    await send(bob, 'Yes!');

    await theirMessage(alice, 'Yes!').getByTestId('sender').filter({ hasText: 'bob' }).waitFor(WAIT);
    await theirMessage(carol, 'Yes!').getByTestId('sender').filter({ hasText: 'bob' }).waitFor(WAIT);
    expect(await layoutProblems(carol)).toEqual([]);
    await mkdir(ARTIFACTS, { recursive: true });
    await alice.screenshot({ path: `${ARTIFACTS}alice-group.png` });
    await carol.screenshot({ path: `${ARTIFACTS}carol-group-phone.png` });
  });

  it('lets alice add dave and remove carol, each change a line in every member’s timeline', async () => {
    await openMembers(alice);
    await alice.getByTestId('add-members-input').fill('dave');
    await alice.getByTestId('add-members-submit').click();
    await alice.locator('[data-testid="group-member"][data-user-id="dave"]').waitFor(WAIT);
    await groupEvent(bob, 'alice added dave').waitFor(WAIT);
    await bob.getByTestId('chat-members').filter({ hasText: '4 members' }).waitFor(WAIT);

    await alice
      .locator('[data-testid="group-member"][data-user-id="carol"]')
      .getByTestId('remove-member')
      .click();
    await groupEvent(bob, 'alice removed carol').waitFor(WAIT);
    await groupEvent(alice, 'You removed carol').waitFor(WAIT);
    await alice
      .locator('[data-testid="group-member"][data-user-id="carol"]')
      .waitFor({ state: 'detached', ...WAIT });
    // Carol keeps what she had, up to her removal, and can no longer write.
    await groupEvent(carol, 'alice removed you').waitFor(WAIT);
    await carol.getByTestId('left-notice').waitFor(WAIT);
    expect(await carol.getByTestId('composer-input').isVisible()).toBe(false);
  });

  it('lets alice rename the group, for bob in his header and for everyone as a line', async () => {
    await openMembers(alice);
    await alice.getByTestId('group-title-input').fill('Dinner');
    await alice.getByTestId('group-title-submit').click();

    await groupEvent(bob, 'alice changed the title to “Dinner”').waitFor(WAIT);
    await bob.getByTestId('chat-peer').filter({ hasText: 'Dinner' }).waitFor(WAIT);
    await groupItem(alice, 'Dinner').waitFor(WAIT);
  });

  it('lets bob leave, which alice sees, and keeps his messages for him', async () => {
    await openMembers(bob);
    await bob.getByTestId('leave-group').click();

    await groupEvent(alice, 'bob left').waitFor(WAIT);
    // bob was not an admin: nobody else is named one.
    expect(await alice.getByTestId('group-event').filter({ hasText: 'admin' }).count()).toBe(0);
    await alice.getByTestId('chat-members').filter({ hasText: '2 members' }).waitFor(WAIT);
    await bob.getByTestId('left-notice').waitFor(WAIT);
    await groupEvent(bob, 'You left').waitFor(WAIT);
    expect(await theirMessage(bob, 'Pizza at 1?').count()).toBe(1);
    await alice.screenshot({ path: `${ARTIFACTS}alice-group-changes.png` });
  });
});
