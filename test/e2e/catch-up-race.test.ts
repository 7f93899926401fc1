import { randomUUID } from 'node:crypto';
import { directConversationId } from '@parley/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningLocalStack } from '../../local/stack.js';
import { connectAs, startTestStack, uniqueId } from '../support/stack.js';
import type { TestClient } from '../support/ws-client.js';

/** While set, the fanout's conversation-list writes wait here: the race window, held open. */
let listWriteGate: { entered: () => void; released: Promise<void> } | undefined;

describe('a device that reconnects while the fanout is between posting and writing the list', () => {
  let stack: RunningLocalStack;
  const clients: TestClient[] = [];
  beforeAll(async () => {
    stack = await startTestStack({
      deps: {
        wrap: (deps) => ({
          ...deps,
          conversationList: {
            listChangedSince: (...args) => deps.conversationList.listChangedSince(...args),
            listGroupIds: (...args) => deps.conversationList.listGroupIds(...args),
            // What the fanout calls to write the lists.
            updateManyUsers: async (...args) => {
              const gate = listWriteGate;
              if (gate) {
                gate.entered();
                await gate.released;
              }
              return deps.conversationList.updateManyUsers(...args);
            },
          },
        }),
      },
    });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });
  afterAll(async () => {
    await stack.stop();
  });

  it('still gets the message: as an event, or in its catch-up', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const conversationId = directConversationId(alice, bob);
    const alicePhone = await connectAs(stack, alice, 'phone');
    clients.push(alicePhone);
    const bobBefore = await connectAs(stack, bob, 'laptop');
    const { cursor } = await bobBefore.request({ action: 'conversations' });
    await bobBefore.close();

    let entered!: () => void;
    const inWindow = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let release!: () => void;
    listWriteGate = { entered, released: new Promise<void>((resolve) => (release = resolve)) };
    await alicePhone.request({
      action: 'send',
      to: bob,
      clientMessageId: randomUUID(),
      body: 'while you were away',
    });
    await alicePhone.messagesOf(conversationId, 1);
    await inWindow;
    // The fanout has posted to the connections it found and is about to write the lists.
    const bobLaptop = await connectAs(stack, bob, 'laptop');
    clients.push(bobLaptop);
    const catchUp = await bobLaptop.request({ action: 'conversations', since: cursor });
    listWriteGate = undefined;
    release();

    const listed = (catchUp.conversations as Array<{ conversationId: string }>).some(
      (entry) => entry.conversationId === conversationId,
    );
    if (!listed) {
      const [message] = await bobLaptop.messagesOf(conversationId, 1);
      expect(message).toMatchObject({ seq: 1, body: 'while you were away' });
    }
  });
});
