import { ConnectionState, type TypingEvent } from '@parley/sdk';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ALICE,
  BOB,
  cleanUpSdkTest,
  connectedClient,
  expectNothingSent,
  framesSentSoFar,
  processed,
  reachedState,
  record,
  useFakeClock,
  WITH_BOB,
} from './support/clients.js';
import { startFakeServer } from './support/fake-server.js';
import { message, messageEvent } from './support/frames.js';

afterEach(cleanUpSdkTest);
beforeEach(useFakeClock);

const start = { action: 'typing', conversationId: WITH_BOB, state: 'start' };
const stop = { action: 'typing', conversationId: WITH_BOB, state: 'stop' };

function typingEvent(userId: string, state: 'start' | 'stop') {
  return { type: 'typing', conversationId: WITH_BOB, userId, state };
}

describe('the user typing', () => {
  it('sends start at the first keystroke, again only every few seconds of keystrokes, and stop after typingIdleMs without one', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server, { typingIdleMs: 5_000 });

    client.typing(WITH_BOB);
    expect(await framesSentSoFar(connection, client)).toEqual([start]);
    for (let second = 1; second <= 2; second++) {
      await vi.advanceTimersByTimeAsync(1_000);
      client.typing(WITH_BOB);
      await expectNothingSent(connection, client);
    }
    await vi.advanceTimersByTimeAsync(1_000);
    client.typing(WITH_BOB);
    expect(await framesSentSoFar(connection, client)).toEqual([start]);

    await vi.advanceTimersByTimeAsync(4_999);
    await expectNothingSent(connection, client);
    await vi.advanceTimersByTimeAsync(1);
    expect(await framesSentSoFar(connection, client)).toEqual([stop]);
  });

  it('sends stop at once on stopTyping, and start at the next keystroke', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    client.typing(WITH_BOB);
    client.stopTyping(WITH_BOB);
    client.stopTyping(WITH_BOB);
    client.typing(WITH_BOB);

    expect(await framesSentSoFar(connection, client)).toEqual([start, stop, start]);
  });
});

describe('the peer typing', () => {
  it('shows in typingIn() on start and clears on stop, with a typing event each time', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const events = record(client, 'typing');

    connection.send(typingEvent(BOB, 'start'));
    await processed(connection, client);
    expect(client.typingIn(WITH_BOB)).toEqual([BOB]);
    connection.send(typingEvent(BOB, 'start'));
    connection.send(typingEvent(BOB, 'stop'));
    await processed(connection, client);

    expect(client.typingIn(WITH_BOB)).toEqual([]);
    expect(events).toEqual<TypingEvent[]>([
      { conversationId: WITH_BOB, userId: BOB, typing: true },
      { conversationId: WITH_BOB, userId: BOB, typing: false },
    ]);
  });

  it('clears by itself when no stop comes, counting from the last start', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    connection.send(typingEvent(BOB, 'start'));
    await processed(connection, client);
    await vi.advanceTimersByTimeAsync(5_000);
    connection.send(typingEvent(BOB, 'start'));
    await processed(connection, client);
    const cleared = record(client, 'typing');

    await vi.advanceTimersByTimeAsync(7_999);
    expect(client.typingIn(WITH_BOB)).toEqual([BOB]);
    await vi.advanceTimersByTimeAsync(1);

    expect(client.typingIn(WITH_BOB)).toEqual([]);
    expect(cleared).toEqual([{ conversationId: WITH_BOB, userId: BOB, typing: false }]);
  });

  it('clears when the peer’s message arrives', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    connection.send(typingEvent(BOB, 'start'));
    await processed(connection, client);
    const cleared = record(client, 'typing');

    connection.send(messageEvent(message(1)));
    await processed(connection, client);

    expect(client.typingIn(WITH_BOB)).toEqual([]);
    expect(cleared).toEqual([{ conversationId: WITH_BOB, userId: BOB, typing: false }]);
  });

  it('clears when the connection drops, with a typing event', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    connection.send(typingEvent(BOB, 'start'));
    await processed(connection, client);
    const cleared = record(client, 'typing');

    connection.drop();
    await reachedState(client, ConnectionState.Reconnecting);

    expect(client.typingIn(WITH_BOB)).toEqual([]);
    expect(cleared).toEqual([{ conversationId: WITH_BOB, userId: BOB, typing: false }]);
  });

  it('ignores typing from the user’s own other devices', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const events = record(client, 'typing');

    connection.send(typingEvent(ALICE, 'start'));
    await processed(connection, client);

    expect(client.typingIn(WITH_BOB)).toEqual([]);
    expect(events).toEqual([]);
  });
});
