/**
 * Blocking (protocol 1.3) through its handlers on the in-memory ports: the block and its
 * answer and event, the list, and what a block does to `send`, `typing` and presence. What
 * each handler asks of DynamoDB is in `handler-permissions.test.ts`.
 */
import type { SentFrame } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { createBlockHandler } from '../../lambdas/handlers/block.js';
import { createBlocksHandler } from '../../lambdas/handlers/blocks.js';
import { createSendHandler } from '../../lambdas/handlers/send.js';
import { createTypingHandler } from '../../lambdas/handlers/typing.js';
import { createUnblockHandler } from '../../lambdas/handlers/unblock.js';
import type { WebSocketEvent } from '../../lambdas/middleware/websocket-route.js';
import type { InMemoryPorts } from '../support/in-memory/index.js';
import { answerOf, createInMemoryTestDeps, errorOf, invoke, messageEvent, NOW } from './support/harness.js';

const CALLER_CONNECTION = 'Jyw1ZebpoAMCKZQ=';

/** A frame from `userId`'s phone (the fixture's connection), as the gateway hands it over. */
function frameFrom(userId: string, frame: Record<string, unknown>): WebSocketEvent {
  const event = messageEvent(frame);
  event.requestContext.authorizer = { ...event.requestContext.authorizer, principalId: userId, userId };
  return event;
}

async function connectDevice(ports: InMemoryPorts, userId: string, connectionId: string) {
  await ports.connections.putConnection({
    userId,
    connectionId,
    deviceId: connectionId,
    connectedAt: NOW - 60_000,
    expiresAt: Math.floor(NOW / 1000) + 3600,
  });
}

function setUp() {
  const { provider, ports } = createInMemoryTestDeps();
  const handlers = {
    block: createBlockHandler(provider),
    unblock: createUnblockHandler(provider),
    blocks: createBlocksHandler(provider),
    send: createSendHandler(provider),
    typing: createTypingHandler(provider),
  };
  const act = (userId: string, handler: keyof typeof handlers, frame: Record<string, unknown>) =>
    invoke(handlers[handler], frameFrom(userId, frame));
  const send = (from: string, to: string, body: string) =>
    act(from, 'send', { action: 'send', requestId: 's', to, clientMessageId: crypto.randomUUID(), body });
  return { ports, act, send };
}

describe('blocking', () => {
  it('answers blocked, tells the caller’s other devices, and lists the block', async () => {
    const { ports, act } = setUp();
    await connectDevice(ports, 'alice', CALLER_CONNECTION);
    await connectDevice(ports, 'alice', 'alice-laptop');

    const blocked = await act('alice', 'block', { action: 'block', requestId: 'b1', userId: 'mallory' });
    const again = await act('alice', 'block', { action: 'block', requestId: 'b2', userId: 'mallory' });
    const listed = await act('alice', 'blocks', { action: 'blocks', requestId: 'l1' });

    expect(answerOf(blocked)).toEqual({ type: 'blocked', requestId: 'b1', userId: 'mallory' });
    expect(answerOf(again)).toEqual({ type: 'blocked', requestId: 'b2', userId: 'mallory' });
    expect(ports.pusher.framesTo('alice-laptop')).toEqual([
      { type: 'blocked', userId: 'mallory' },
      { type: 'blocked', userId: 'mallory' },
    ]);
    expect(ports.pusher.framesTo(CALLER_CONNECTION)).toEqual([]);
    expect(answerOf(listed)).toEqual({
      type: 'blocks',
      requestId: 'l1',
      userIds: ['mallory'],
      hasMore: false,
    });
  });

  it('refuses to block the caller itself with bad_request', async () => {
    const { act } = setUp();

    const result = await act('alice', 'block', { action: 'block', requestId: 'b1', userId: 'alice' });

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'b1',
      code: 'bad_request',
      message: 'userId: must be another user than the caller',
    });
  });

  it('pages the list by user id, 100 a page', async () => {
    const { ports, act } = setUp();
    const blocked = Array.from({ length: 101 }, (_, n) => `user${String(n).padStart(3, '0')}`);
    for (const userId of blocked) await ports.privacy.block({ blockerId: 'alice', blockedId: userId }, NOW);

    const first = answerOf(await act('alice', 'blocks', { action: 'blocks', requestId: 'l1' }));
    const second = answerOf(
      await act('alice', 'blocks', { action: 'blocks', requestId: 'l2', after: 'user099' }),
    );

    expect(first).toMatchObject({ userIds: blocked.slice(0, 100), hasMore: true });
    expect(second).toMatchObject({ userIds: ['user100'], hasMore: false });
  });

  it('refuses a blocked sender’s message and takes no seq: the next message gets the next one', async () => {
    const { ports, act, send } = setUp();
    await send('mallory', 'alice', 'hello');
    await act('alice', 'block', { action: 'block', requestId: 'b1', userId: 'mallory' });

    const refused = await send('mallory', 'alice', 'let me in');
    const own = await send('alice', 'mallory', 'go away');
    await act('alice', 'unblock', { action: 'unblock', requestId: 'u1', userId: 'mallory' });
    const accepted = await send('mallory', 'alice', 'sorry');

    expect(errorOf(refused)).toMatchObject({
      code: 'forbidden',
      message: 'the recipient does not accept messages from you',
    });
    expect(errorOf(own)).toMatchObject({
      code: 'forbidden',
      message: 'you block mallory: unblock them to write to them',
    });
    expect(answerOf<SentFrame>(accepted).seq).toBe(2);
    expect(ports.publisher.records.map((record) => (record.event as { body?: string }).body)).toEqual([
      'hello',
      'sorry',
    ]);
  });

  it('lets no typing through between a blocker and the user it blocks, in either direction', async () => {
    const { ports, act } = setUp();
    await connectDevice(ports, 'alice', 'alice-laptop');
    await connectDevice(ports, 'mallory', 'mallory-phone');
    await act('alice', 'block', { action: 'block', requestId: 'b1', userId: 'mallory' });
    const typing = { action: 'typing', conversationId: 'dm:alice:mallory', state: 'start' };

    const fromMallory = await act('mallory', 'typing', typing);
    const fromAlice = await act('alice', 'typing', typing);

    expect(fromMallory).toEqual({ statusCode: 200 });
    expect(fromAlice).toEqual({ statusCode: 200 });
    expect(
      ports.pusher.framesTo('alice-laptop').filter((f) => (f as { type: string }).type === 'typing'),
    ).toEqual([]);
    expect(ports.pusher.framesTo('mallory-phone')).toEqual([]);
  });

  it('ends every presence subscription the blocked user holds on the blocker, and no one else’s', async () => {
    const { ports, act } = setUp();
    const expiresAt = Math.floor(NOW / 1000) + 600;
    await ports.presenceSubscriptions.subscribe([
      { watchedUserId: 'alice', connectionId: 'mallory-phone', subscriberUserId: 'mallory', expiresAt },
      { watchedUserId: 'alice', connectionId: 'mallory-laptop', subscriberUserId: 'mallory', expiresAt },
      { watchedUserId: 'alice', connectionId: 'bob-phone', subscriberUserId: 'bob', expiresAt },
    ]);

    await act('alice', 'block', { action: 'block', requestId: 'b1', userId: 'mallory' });

    expect((await ports.presenceSubscriptions.listSubscribers('alice')).map((s) => s.connectionId)).toEqual([
      'bob-phone',
    ]);
  });
});
