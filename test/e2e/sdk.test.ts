import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConnectionState,
  conversationIdFor,
  MessageStatus,
  ParleyClient,
  type ParleyStorage,
  type WebSocketConstructor,
} from '@parley/sdk';
import { FileStorage } from '@parley/sdk/file-storage';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LOCAL_JWT_SECRET } from '../../lambdas/config.js';
import { mintToken } from '../../lambdas/domain/tokens.js';
import type { RunningLocalStack } from '../../local/stack.js';
import { startTestStack, uniqueId, useTestStack } from '../support/stack.js';

const { stack, connect } = useTestStack();

let folder: string;
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'parley-sdk-'));
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

const clients: ParleyClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

/** A WebSocket that remembers every frame the client sent, to see what it asked for. */
function recordingWebSocket(sent: Array<Record<string, unknown>>): WebSocketConstructor {
  return class extends WebSocket {
    override send(data: string) {
      sent.push(JSON.parse(data));
      super.send(data);
    }
  } as unknown as WebSocketConstructor;
}

async function client(
  userId: string,
  deviceId: string,
  options: { storage?: ParleyStorage; url?: string; WebSocket?: WebSocketConstructor } = {},
) {
  const created = new ParleyClient({
    url: options.url ?? stack().url,
    token: await mintToken(userId, LOCAL_JWT_SECRET),
    deviceId,
    WebSocket: options.WebSocket ?? (WebSocket as unknown as WebSocketConstructor),
    ...(options.storage ? { storage: options.storage } : {}),
    reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
  });
  clients.push(created);
  return created;
}

/** Resolves once `check` holds, checking after every event of the clients. */
function until(check: () => boolean, ...watched: ParleyClient[]): Promise<void> {
  return new Promise((resolve) => {
    const offs: Array<() => void> = [];
    const test = () => {
      if (!check()) return;
      for (const off of offs) off();
      resolve();
    };
    for (const watchedClient of watched) {
      for (const event of ['message', 'conversations', 'state', 'presence', 'typing', 'caughtUp'] as const) {
        offs.push(watchedClient.on(event, test));
      }
    }
    test();
  });
}

/** Waits until the receivers hold every body, then checks each device holds them once each, at seq 1, 2, …. */
async function expectEachOnceInOrder(
  conversationId: string,
  bodies: string[],
  receivers: ParleyClient[],
  sender: ParleyClient,
): Promise<void> {
  const held = (device: ParleyClient) => device.messages(conversationId).map((m) => [m.seq, m.body]);
  const expected = bodies.map((body, index) => [index + 1, body]);
  await until(() => receivers.every((device) => held(device).length === bodies.length), ...receivers);
  for (const device of [...receivers, sender]) expect(held(device)).toEqual(expected);
}

const opened = (target: ParleyClient) => until(() => target.state === ConnectionState.Open, target);

describe('the SDK against the local stack', () => {
  it('sends 20 messages queued offline once each, in order, to both of the peer’s devices, after a restart', async () => {
    const alice = uniqueId('alice');
    const bob = uniqueId('bob');
    const conversationId = conversationIdFor(alice, bob);
    const storage = new FileStorage(join(folder, alice));
    const bodies = Array.from({ length: 20 }, (_, index) => `message ${index + 1}`);

    // Offline: nothing listens at this address, so the client keeps reconnecting.
    const offline = await client(alice, 'phone', { storage, url: 'ws://127.0.0.1:9' });
    await offline.connect();
    for (const body of bodies) await offline.send({ to: bob }, body);
    expect(offline.state).not.toBe(ConnectionState.Open);
    expect(offline.pendingCount()).toBe(20);
    expect(offline.messages(conversationId).map((m) => m.status)).toEqual(
      bodies.map(() => MessageStatus.Pending),
    );
    await offline.close();

    const bobPhone = await client(bob, 'phone');
    const bobLaptop = await client(bob, 'laptop');
    await Promise.all([bobPhone.connect(), bobLaptop.connect()]);
    await Promise.all([opened(bobPhone), opened(bobLaptop)]);

    // The app starts again, online this time, from what it stored.
    const online = await client(alice, 'phone', { storage });
    await online.connect();
    expect(online.pendingCount()).toBe(20);
    await until(() => online.pendingCount() === 0, online);

    await expectEachOnceInOrder(conversationId, bodies, [bobPhone, bobLaptop], online);

    // The store holds each exactly once.
    const check = await connect(alice, 'checker');
    const history = await check.request({ action: 'sync', conversationId, afterSeq: 0, limit: 200 });
    expect(history.lastSeq).toBe(20);
    expect((history.messages as Array<{ body: string }>).map((m) => m.body)).toEqual(bodies);
  });

  it('shows two ticks once the peer’s device has the message, coloured once the peer reads it on any device', async () => {
    const alice = uniqueId('alice');
    const bob = uniqueId('bob');
    const conversationId = conversationIdFor(alice, bob);
    const aliceDesk = await client(alice, 'desk');
    const bobPhone = await client(bob, 'phone');
    const bobLaptop = await client(bob, 'laptop');
    await Promise.all([aliceDesk.connect(), bobPhone.connect(), bobLaptop.connect()]);
    await Promise.all([opened(aliceDesk), opened(bobPhone), opened(bobLaptop)]);

    const sent = await aliceDesk.send({ to: bob }, 'are you there?');
    const statusOf = () =>
      aliceDesk.messages(conversationId).find((m) => m.clientMessageId === sent.clientMessageId)?.status;
    await until(() => statusOf() === MessageStatus.Delivered, aliceDesk);
    await until(
      () => bobLaptop.unreadCount(conversationId) === 1 && bobPhone.unreadCount(conversationId) === 1,
      bobPhone,
      bobLaptop,
    );

    await bobPhone.markRead(conversationId);
    await until(() => statusOf() === MessageStatus.Read, aliceDesk);
    // Read on the phone clears the count on the laptop too.
    await until(() => bobLaptop.unreadCount(conversationId) === 0, bobLaptop);
    expect(bobLaptop.conversations()).toEqual([
      expect.objectContaining({
        conversationId,
        peerId: alice,
        unread: 0,
        lastMessage: expect.objectContaining({ body: 'are you there?' }),
      }),
    ]);
  });

  it('sends without echo and shows its own messages once each, at their seq, among the peer’s', async () => {
    const alice = uniqueId('alice');
    const bob = uniqueId('bob');
    const conversationId = conversationIdFor(alice, bob);
    const frames: Array<Record<string, unknown>> = [];
    const alicePhone = await client(alice, 'phone', { WebSocket: recordingWebSocket(frames) });
    const bobPhone = await connect(bob, 'phone');
    await alicePhone.connect();
    await opened(alicePhone);

    // The two sides write at once: which seq each message takes is the server's race.
    const written: string[] = [];
    for (let i = 1; i <= 3; i++) {
      written.push((await alicePhone.send({ to: bob }, `alice ${i}`)).clientMessageId);
      await bobPhone.request({ action: 'send', to: alice, clientMessageId: `bob-${i}`, body: `bob ${i}` });
    }
    const held = () => alicePhone.messages(conversationId);
    await until(() => held().filter((m) => m.seq !== undefined).length === 6, alicePhone);

    expect(frames.filter((frame) => frame.action === 'send')).toHaveLength(3);
    expect(frames.filter((frame) => frame.action === 'send').every((frame) => frame.echo === false)).toBe(
      true,
    );
    expect(held().map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(
      held()
        .filter((m) => m.mine)
        .map((m) => [m.clientMessageId, m.body]),
    ).toEqual(written.map((id, index) => [id, `alice ${index + 1}`]));
    const history = await bobPhone.request({ action: 'sync', conversationId, afterSeq: 0 });
    expect((history.messages as Array<{ seq: number; body: string }>).map((m) => [m.seq, m.body])).toEqual(
      held().map((m) => [m.seq, m.body]),
    );
  });

  it('catches a device that was away up through its stored cursor, and only asks for what changed', async () => {
    const alice = uniqueId('alice');
    const bob = uniqueId('bob');
    const carol = uniqueId('carol');
    const withAlice = conversationIdFor(alice, bob);
    const withCarol = conversationIdFor(carol, bob);
    const storage = new FileStorage(join(folder, bob));

    const aliceDesk = await client(alice, 'desk');
    const carolDesk = await client(carol, 'desk');
    await Promise.all([aliceDesk.connect(), carolDesk.connect()]);
    await aliceDesk.send({ to: bob }, 'one');
    await carolDesk.send({ to: bob }, 'hi from carol');
    await until(() => aliceDesk.pendingCount() === 0 && carolDesk.pendingCount() === 0, aliceDesk, carolDesk);

    const tablet = await client(bob, 'tablet', { storage });
    // Live events may bring the messages before the catch-up's answer: wait for both.
    let caughtUp = false;
    tablet.on('caughtUp', () => {
      caughtUp = true;
    });
    await tablet.connect();
    await until(
      () => caughtUp && tablet.messages(withAlice).length === 1 && tablet.messages(withCarol).length === 1,
      tablet,
    );
    await tablet.close();

    // While the tablet is away, only the conversation with alice moves.
    for (const body of ['two', 'three', 'four']) await aliceDesk.send({ to: bob }, body);
    await until(() => aliceDesk.pendingCount() === 0, aliceDesk);

    const frames: Array<Record<string, unknown>> = [];
    const back = await client(bob, 'tablet', { storage, WebSocket: recordingWebSocket(frames) });
    await back.connect();
    await until(() => back.messages(withAlice).length === 4, back);
    expect(back.messages(withAlice).map((m) => m.body)).toEqual(['one', 'two', 'three', 'four']);
    expect(back.messages(withCarol).map((m) => m.body)).toEqual(['hi from carol']);

    const catchUp = frames.filter((frame) => frame.action === 'conversations' || frame.action === 'sync');
    expect(catchUp[0]).toMatchObject({ action: 'conversations', since: expect.any(String) });
    // The unchanged conversation with carol is never synced again.
    expect(
      catchUp.filter((frame) => frame.action === 'sync').map((frame) => frame.conversationId),
    ).not.toContain(withCarol);
  });
});

describe('the SDK through an outage', () => {
  // A stack this test stops and starts again, on the same port and tables.
  const resourcePrefix = uniqueId('t');
  let outage: RunningLocalStack | undefined;
  afterAll(async () => {
    await outage?.stop();
  });

  // Two start-ups of a stack: the deployed mode's loads thirteen bundles each time.
  it('queues 20 messages while the server is down and, once it is back, stores each once, in order, for both of the peer’s devices', {
    timeout: 90_000,
  }, async () => {
    outage = await startTestStack({ resourcePrefix });
    const url = outage.url;
    const wsPort = Number(new URL(url).port);
    const alice = uniqueId('alice');
    const bob = uniqueId('bob');
    const conversationId = conversationIdFor(alice, bob);
    const [phone, bobPhone, bobLaptop] = await Promise.all([
      client(alice, 'phone', { url }),
      client(bob, 'phone', { url }),
      client(bob, 'laptop', { url }),
    ]);
    await Promise.all([phone.connect(), bobPhone.connect(), bobLaptop.connect()]);
    await Promise.all([opened(phone), opened(bobPhone), opened(bobLaptop)]);

    await outage.stop();
    outage = undefined;
    await until(() => phone.state !== ConnectionState.Open, phone);
    const bodies = Array.from({ length: 20 }, (_, index) => `queued ${index + 1}`);
    for (const body of bodies) await phone.send({ to: bob }, body);
    expect(phone.pendingCount()).toBe(20);

    outage = await startTestStack({ resourcePrefix, wsPort });
    await until(() => phone.pendingCount() === 0, phone);
    await expectEachOnceInOrder(conversationId, bodies, [bobPhone, bobLaptop], phone);
  });
});
