/**
 * The chaos run's group device against a server the test controls: it sends a group's
 * messages one at a time, in the order written, and repeats only the one in flight when
 * its connection is lost. Sending every message at once, each repeated on every reconnect,
 * flooded the deployed mode's `send` function until the run's one-to-one senders stalled.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { GroupDevice } from './group-devices.js';

type Frame = Record<string, unknown> & { action: string; requestId: string };

/** A server that records each frame of each connection and lets the test answer them. */
class ScriptedServer {
  readonly server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  readonly connections: Array<{ socket: WebSocket; frames: Frame[] }> = [];
  #waiters: Array<{ test: (frame: Frame, connection: number) => boolean; resolve: (frame: Frame) => void }> =
    [];

  constructor() {
    this.server.on('connection', (socket) => {
      const connection = { socket, frames: [] as Frame[] };
      const index = this.connections.push(connection) - 1;
      socket.on('message', (data) => {
        const frame = JSON.parse(data.toString()) as Frame;
        connection.frames.push(frame);
        this.#waiters = this.#waiters.filter((waiter) => {
          if (!waiter.test(frame, index)) return true;
          waiter.resolve(frame);
          return false;
        });
      });
    });
  }

  listening(): Promise<void> {
    return new Promise((resolve) => this.server.once('listening', () => resolve()));
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The next frame of this action on the given connection (counted from 0). */
  next(action: string, connection: number): Promise<Frame> {
    return new Promise((resolve) =>
      this.#waiters.push({
        test: (frame, index) => frame.action === action && index === connection,
        resolve,
      }),
    );
  }

  sendsOn(connection: number): string[] {
    return (this.connections[connection]?.frames ?? [])
      .filter((frame) => frame.action === 'send')
      .map((frame) => frame.body as string);
  }

  answer(connection: number, frame: Frame, answer: Record<string, unknown>): void {
    this.connections[connection]?.socket.send(JSON.stringify({ ...answer, requestId: frame.requestId }));
  }

  answerSent(connection: number, frame: Frame, seq: number): void {
    this.answer(connection, frame, {
      type: 'sent',
      conversationId: frame.conversationId,
      clientMessageId: frame.clientMessageId,
      seq,
    });
  }

  close(): Promise<void> {
    for (const { socket } of this.connections) socket.terminate();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const GROUP = 'grp:one-at-a-time';
const NO_CONVERSATIONS = { type: 'conversations', conversations: [], cursor: 'c0', hasMore: false };

describe('a group device of the chaos run', () => {
  let server: ScriptedServer | undefined;
  let device: GroupDevice | undefined;

  afterEach(async () => {
    await device?.close();
    await server?.close();
  });

  /** A device connected to a new server, and the `conversations` frame of its first catch-up. */
  async function connected(): Promise<{ server: ScriptedServer; device: GroupDevice; catchUp: Frame }> {
    server = new ScriptedServer();
    await server.listening();
    device = new GroupDevice({ url: server.url, userId: 'g1', deviceId: 'd0', token: async () => 'token' });
    const catchUp = server.next('conversations', 0);
    device.start();
    await device.whenOpen();
    return { server, device, catchUp: await catchUp };
  }

  it('sends a group’s messages one at a time in the order written, and repeats only the one in flight after a reconnect', async () => {
    const { server, device, catchUp } = await connected();
    server.answer(0, catchUp, NO_CONVERSATIONS);

    device.write(GROUP, 'first');
    device.write(GROUP, 'second');
    device.write(GROUP, 'third');
    // A frame sent after the writes arrives after whatever they sent: the wire keeps order.
    const marker = server.next('groupInfo', 0);
    void device.request({ action: 'groupInfo', conversationId: GROUP });
    await marker;
    expect(server.sendsOn(0)).toEqual(['first']);

    const second = server.next('send', 0);
    server.answerSent(0, connectionFrame(server, 0, 'first'), 1);
    expect((await second).body).toBe('second');
    expect(server.sendsOn(0)).toEqual(['first', 'second']);

    // The connection is lost while "second" is in flight: the new one gets it again, not "third".
    const catchUpAgain = server.next('conversations', 1);
    server.connections[0]?.socket.terminate();
    await catchUpAgain; // sent on opening, after the requests still unanswered
    expect(server.sendsOn(1)).toEqual(['second']);

    const third = server.next('send', 1);
    server.answerSent(1, connectionFrame(server, 1, 'second'), 2);
    server.answerSent(1, await third, 3);
    expect(server.sendsOn(1)).toEqual(['second', 'third']);
  });

  it('repeats a catch-up request the server refuses as over the limit, as the protocol asks, instead of giving the catch-up up', async () => {
    const { server, device, catchUp: refused } = await connected();
    const again = server.next('conversations', 0);
    server.answer(0, refused, {
      type: 'error',
      code: 'rate_limited',
      message: 'over the limit; retry in 1 s',
    });
    const repeated = await again;
    const sync = server.next('sync', 0);
    server.answer(0, repeated, {
      type: 'conversations',
      conversations: [{ conversationId: GROUP }],
      cursor: 'c1',
      hasMore: false,
    });
    const syncFrame = await sync;
    server.answer(0, syncFrame, {
      type: 'history',
      conversationId: GROUP,
      messages: [{ conversationId: GROUP, seq: 1, messageId: 'm1', senderId: 'g0', body: 'hi', sentAt: 1 }],
      lastSeq: 1,
      hasMore: false,
    });
    await expect.poll(() => device.timelines.get(GROUP)?.map((message) => message.seq)).toEqual([1]);

    expect(repeated.requestId).toBe(refused.requestId);
    expect(device.pendingCount).toBe(0);
  });
});

function connectionFrame(server: ScriptedServer, connection: number, body: string): Frame {
  const frame = server.connections[connection]?.frames.find((candidate) => candidate.body === body);
  if (!frame) throw new Error(`no send of "${body}" on connection ${connection}`);
  return frame;
}
