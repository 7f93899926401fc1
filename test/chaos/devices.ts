/**
 * The devices of a chaos run: real `ParleyClient`s (outbox, reconnect, catch-up and all)
 * on `ws` sockets that the run can cut, and that record every frame the server sent, so
 * the history checker can hold each one against the store.
 */

import type { Message } from '@parley/protocol';
import { MemoryStorage, ParleyClient, type WebSocketConstructor } from '@parley/sdk';
import WebSocket from 'ws';

/** A message as a device received it from the server, in any frame. */
export interface ReceivedMessage {
  deviceKey: string;
  /** The frame it came in: a `message` event, a `history` answer, or a `conversations` entry. */
  via: 'message' | 'history' | 'conversations';
  message: Message;
}

/** A `sent` answer as a device received it. */
export interface SentAnswer {
  deviceKey: string;
  conversationId: string;
  clientMessageId: string;
  seq: number;
}

/** A message the user wrote: `send()` resolved, so it is in the device's outbox. */
export interface WrittenMessage {
  deviceKey: string;
  userId: string;
  conversationId: string;
  clientMessageId: string;
  body: string;
}

export interface ChaosDeviceOptions {
  url: string;
  userId: string;
  deviceId: string;
  token: () => Promise<string>;
  random: () => number;
  /** Called for every frame any of this device's sockets receives. */
  onFrame?: () => void;
}

/**
 * Records the messages a frame carries (a `message` event, a `history` answer, the last
 * message of each `conversations` entry) and a `sent` answer, for the checker.
 */
export function recordFrame(
  frame: Record<string, unknown>,
  deviceKey: string,
  into: { received: ReceivedMessage[]; sentAnswers: SentAnswer[] },
): void {
  if (frame.type === 'message') {
    into.received.push({ deviceKey, via: 'message', message: frame as unknown as Message });
  } else if (frame.type === 'history') {
    for (const message of frame.messages as Message[])
      into.received.push({ deviceKey, via: 'history', message });
  } else if (frame.type === 'conversations') {
    for (const entry of frame.conversations as Array<{ lastMessage: Message | null }>) {
      if (entry.lastMessage)
        into.received.push({ deviceKey, via: 'conversations', message: entry.lastMessage });
    }
  } else if (frame.type === 'sent') {
    into.sentAnswers.push({
      deviceKey,
      conversationId: frame.conversationId as string,
      clientMessageId: frame.clientMessageId as string,
      seq: frame.seq as number,
    });
  }
}

/** A device of a chaos run, of either kind: who it is, what it wrote and received, and what faults do to it. */
export abstract class RecordingDevice {
  readonly userId: string;
  readonly deviceId: string;
  readonly key: string;
  readonly received: ReceivedMessage[] = [];
  readonly sentAnswers: SentAnswer[] = [];
  readonly written: WrittenMessage[] = [];

  constructor(userId: string, deviceId: string) {
    this.userId = userId;
    this.deviceId = deviceId;
    this.key = `${userId}/${deviceId}`;
  }

  /** Messages written and requests made that the server has not answered yet. */
  abstract get pendingCount(): number;
  /** Cuts the open connection without a close frame, as a lost network does; false when none was open. */
  abstract dropConnection(): boolean;
  /** The app is closed and opened again, keeping what it stored, and catches up. */
  abstract restart(): Promise<void>;
  abstract close(): Promise<void>;
}

export class ChaosDevice extends RecordingDevice {
  /** The app's storage: it outlives a client, as a phone's disk outlives the app. */
  readonly storage = new MemoryStorage();
  #client: ParleyClient;
  readonly #sockets = new Set<WebSocket>();
  readonly #options: ChaosDeviceOptions;
  /** An app does one thing at a time: no write lands in a client that is closing. */
  #busy: Promise<unknown> = Promise.resolve();

  constructor(options: ChaosDeviceOptions) {
    super(options.userId, options.deviceId);
    this.#options = options;
    this.#client = this.#newClient();
  }

  get client(): ParleyClient {
    return this.#client;
  }

  get pendingCount(): number {
    return this.#client.pendingCount();
  }

  async start(): Promise<void> {
    await this.#client.connect();
  }

  /** The app is closed and opened again: a new client on the same storage, which catches up. */
  restart(): Promise<void> {
    return this.#exclusive(async () => {
      await this.#client.close();
      this.#client = this.#newClient();
      await this.#client.connect();
    });
  }

  async close(): Promise<void> {
    await this.#client.close();
    for (const socket of this.#sockets) socket.terminate();
  }

  /** Cuts the open connection without a close frame, as a lost network does. */
  dropConnection(): boolean {
    const open = [...this.#sockets].filter((socket) => socket.readyState === WebSocket.OPEN);
    for (const socket of open) socket.terminate();
    return open.length > 0;
  }

  /** Sends `body` into the conversation and records it once it is in the outbox. */
  write(conversationId: string, body: string): Promise<void> {
    return this.#exclusive(async () => {
      const pending = await this.#client.send({ conversationId }, body);
      this.written.push({
        deviceKey: this.key,
        userId: this.userId,
        conversationId,
        clientMessageId: pending.clientMessageId,
        body,
      });
    });
  }

  /** Marks the conversation read, as opening it on screen does. */
  markRead(conversationId: string): Promise<void> {
    return this.#exclusive(() => this.#client.markRead(conversationId));
  }

  #exclusive<T>(action: () => Promise<T>): Promise<T> {
    const result = this.#busy.then(action);
    this.#busy = result.catch(() => undefined);
    return result;
  }

  #newClient(): ParleyClient {
    return new ParleyClient({
      url: this.#options.url,
      token: this.#options.token,
      deviceId: this.deviceId,
      storage: this.storage,
      WebSocket: this.#socketClass(),
      // Faults come every second or so: keep reconnects and retries brisk.
      reconnect: { initialDelayMs: 100, maxDelayMs: 2_000, minUptimeMs: 1_000 },
      requestTimeoutMs: 8_000,
      random: this.#options.random,
    });
  }

  #socketClass(): WebSocketConstructor {
    const sockets = this.#sockets;
    const record = (text: string) => this.#record(text);
    class TappedWebSocket extends WebSocket {
      constructor(url: string) {
        super(url);
        sockets.add(this);
        this.on('message', (data) => record(data.toString()));
        this.on('close', () => sockets.delete(this));
      }
    }
    return TappedWebSocket as unknown as WebSocketConstructor;
  }

  #record(text: string): void {
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    recordFrame(frame, this.key, this);
    this.#options.onFrame?.();
  }
}
