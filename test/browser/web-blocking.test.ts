/**
 * Blocking in the web app (protocol 1.3): alice blocks mallory from their chat, sees it is
 * blocked there and on her other device, mallory's messages are refused meanwhile, and
 * unblocking lets them through again.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningWebServer } from '../../local/web-server.js';
import { useTestStack } from '../support/stack.js';
import type { TestClient } from '../support/ws-client.js';
import { conversationItem, signIn, startWebServerFor, theirMessage, WAIT } from './web-pages.js';

const CHAT = 'dm:alice:mallory';

describe('the web app, alice blocking mallory', () => {
  const { stack, connect } = useTestStack();
  let web: RunningWebServer | undefined;
  let mallory: TestClient;

  const sendFromMallory = (body: string) =>
    mallory.request({ action: 'send', to: 'alice', clientMessageId: randomUUID(), body });

  beforeAll(async () => {
    web = await startWebServerFor(stack());
  });

  afterAll(async () => {
    await web?.stop();
  });

  it('blocks mallory from the chat, shows it on both of her devices, and unblocking lets him write again', async () => {
    if (!web) throw new Error('not started');
    mallory = await connect('mallory', 'phone');
    const { context: aliceContext, page: alice } = await signIn(web, 'alice');
    await sendFromMallory('hey alice');
    await conversationItem(alice, CHAT).click();
    await theirMessage(alice, 'hey alice').waitFor(WAIT);
    const toggle = alice.getByTestId('block-toggle');
    expect(await toggle.textContent()).toBe('Block');

    await toggle.click();
    await toggle.filter({ hasText: 'Unblock' }).waitFor(WAIT);
    const refused = await sendFromMallory('let me in');
    const { context: laptopContext, page: laptop } = await signIn(web, 'alice');
    await conversationItem(laptop, CHAT).click();
    await laptop.getByTestId('block-toggle').filter({ hasText: 'Unblock' }).waitFor(WAIT);

    expect(await alice.getByTestId('blocked-notice').textContent()).toBe(
      'You blocked mallory. Unblock to send messages.',
    );
    expect(await alice.getByTestId('composer-input').isVisible()).toBe(false);
    expect(refused).toMatchObject({ type: 'error', code: 'forbidden' });

    await laptop.getByTestId('block-toggle').click();
    // Her first device hears of it from the server and shows the composer again.
    await alice
      .getByTestId('block-toggle')
      .filter({ hasText: /^Block$/ })
      .waitFor(WAIT);
    const accepted = await sendFromMallory('sorry');
    await theirMessage(alice, 'sorry').waitFor(WAIT);

    expect(accepted).toMatchObject({ type: 'sent', seq: 2 });
    expect(await alice.getByTestId('composer-input').isVisible()).toBe(true);
    expect(await alice.getByTestId('blocked-notice').isHidden()).toBe(true);
    expect(await theirMessage(alice, 'let me in').count()).toBe(0);
    await laptopContext.close();
    await aliceContext.close();
  });
});
