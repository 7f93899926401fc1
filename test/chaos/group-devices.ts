/**
 * The devices of a chaos run's group members: a plain protocol client each (the SDK's
 * group support is its own work), on a `ws` socket the run can cut. Like an app, it keeps
 * what it holds across reconnects and restarts, repeats every request until it is answered,
 * sends the messages of a group one at a time in the order written (as the SDK's outbox
 * does), and catches up on every connection: `conversations` for the groups it is in or was in,
 * then `sync` of each after the last seq it holds. A live message past the next seq it
 * expects makes it sync that group. Every frame it gets is recorded for the checker.
 */
import { randomUUID } from 'node:crypto';
import type { ErrorCode, Message } from '@parley/protocol';
import WebSocket from 'ws';
import { RecordingDevice, recordFrame } from './devices.js';

export interface GroupDeviceOptions {
  url: string;
  userId: string;
  deviceId: string;
  token: () => Promise<string>;
  /** Called for every frame the device receives. */
  onFrame?: () => void;
}

type Answer = Record<string, unknown> & { type: string };

interface PendingRequest {
  frame: Record<string, unknown> & { requestId: string };
  resolve: (answer: Answer) => void;
  /** Resends on the same connection when no answer came within this, or after a failure. */
  timer?: NodeJS.Timeout;
  /** Failures answered so far: each doubles the wait before the next attempt. */
  retries?: number;
}

/** Error codes a request is repeated after, as the protocol says: the server may do better next time. */
const RETRIED_CODES = new Set<string>(['internal', 'rate_limited'] satisfies ErrorCode[]);
const ANSWER_TIMEOUT_MS = 8_000;
const RECONNECT_MS = { initial: 100, max: 2_000 };

export class GroupDevice extends RecordingDevice {
  /** Messages the server refused as `forbidden` (the writer was no longer a member): they may not be stored. */
  readonly refused: Array<{ conversationId: string; clientMessageId: string }> = [];
  /** What the device holds of each group, in seq order: its storage, kept across restarts. */
  readonly timelines = new Map<string, Message[]>();
  readonly #options: GroupDeviceOptions;
  readonly #pending = new Map<string, PendingRequest>();
  /**
   * Each group's messages written and not yet answered, in the order written; the first is
   * in flight. One at a time, as the SDK's outbox sends: were every message its own request,
   * each repeated on every reconnect and timeout, a slow stack would get more repeats than it
   * serves, and its backlog would never drain.
   */
  readonly #outbox = new Map<string, Array<{ clientMessageId: string; body: string }>>();
  /** One catch-up of a group at a time; another asked for meanwhile runs after it. */
  readonly #syncs = new Map<string, Promise<void>>();
  #socket: WebSocket | undefined;
  #closed = false;
  #attempt = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #openWaiters: Array<() => void> = [];

  constructor(options: GroupDeviceOptions) {
    super(options.userId, options.deviceId);
    this.#options = options;
  }

  /** Requests not yet answered, and messages written and not yet answered (sent or waiting their turn). */
  get pendingCount(): number {
    const otherRequests = [...this.#pending.values()].filter((request) => request.frame.action !== 'send');
    const unansweredWrites = [...this.#outbox.values()].reduce((sum, queue) => sum + queue.length, 0);
    return otherRequests.length + unansweredWrites;
  }

  get isOpen(): boolean {
    return this.#socket?.readyState === WebSocket.OPEN;
  }

  /** Resolves once a connection is open. */
  whenOpen(): Promise<void> {
    if (this.isOpen) return Promise.resolve();
    return new Promise((resolve) => this.#openWaiters.push(resolve));
  }

  start(): void {
    this.#closed = false;
    void this.#open();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    for (const request of this.#pending.values()) clearTimeout(request.timer);
    this.#socket?.terminate();
    this.#socket = undefined;
  }

  /** The app is closed and opened again: a new connection, what it holds kept, and a catch-up. */
  async restart(): Promise<void> {
    this.#socket?.close(1000);
    this.#socket = undefined;
    this.#attempt = 0;
    await this.#open();
  }

  /** Cuts the open connection without a close frame, as a lost network does. */
  dropConnection(): boolean {
    if (!this.isOpen) return false;
    this.#socket?.terminate();
    return true;
  }

  /** Sends `frame` and resolves with its answer, repeating it (same requestId) until one comes that is final. */
  request(frame: Record<string, unknown>): Promise<Answer> {
    const requestId = randomUUID();
    return new Promise((resolve) => {
      const request: PendingRequest = { frame: { ...frame, requestId }, resolve };
      this.#pending.set(requestId, request);
      this.#transmit(request);
    });
  }

  /** Writes a message into the group; it goes after the group's earlier ones, repeated until answered, `sent` or `forbidden`. */
  write(conversationId: string, body: string): void {
    const clientMessageId = randomUUID();
    this.written.push({ deviceKey: this.key, userId: this.userId, conversationId, clientMessageId, body });
    const queue = this.#outbox.get(conversationId) ?? [];
    this.#outbox.set(conversationId, queue);
    queue.push({ clientMessageId, body });
    if (queue.length === 1) void this.#sendInTurn(conversationId, queue);
  }

  /** Sends the group's messages written, the first until it is answered, then the next. */
  async #sendInTurn(conversationId: string, queue: Array<{ clientMessageId: string; body: string }>) {
    for (let next = queue[0]; next; next = queue[0]) {
      const { clientMessageId, body } = next;
      const answer = await this.request({ action: 'send', conversationId, clientMessageId, body });
      if (answer.type === 'error' && answer.code === 'forbidden')
        this.refused.push({ conversationId, clientMessageId });
      queue.shift();
    }
  }

  #transmit(request: PendingRequest): void {
    clearTimeout(request.timer);
    if (!this.isOpen) return; // sent again when the connection opens
    this.#socket?.send(JSON.stringify(request.frame));
    request.timer = setTimeout(() => this.#transmit(request), ANSWER_TIMEOUT_MS);
  }

  async #open(): Promise<void> {
    if (this.#closed) return;
    const target = new URL(this.#options.url);
    target.searchParams.set('token', await this.#options.token());
    target.searchParams.set('deviceId', this.deviceId);
    const socket = new WebSocket(target);
    this.#socket = socket;
    socket.on('message', (data) => this.#onFrame(data.toString()));
    socket.on('error', () => undefined); // the close that follows reconnects
    socket.once('open', () => {
      if (this.#socket !== socket) return;
      for (const request of this.#pending.values()) this.#transmit(request);
      void this.#catchUp().catch(() => undefined);
    });
    socket.once('close', () => {
      if (this.#socket !== socket || this.#closed) return;
      this.#socket = undefined;
      const delay = Math.min(RECONNECT_MS.max, RECONNECT_MS.initial * 2 ** this.#attempt++);
      this.#reconnectTimer = setTimeout(() => void this.#open(), delay);
    });
    socket.once('open', () => {
      this.#attempt = 0;
      for (const resolve of this.#openWaiters.splice(0)) resolve();
    });
  }

  /** The groups it is or was in, from its conversation list and what it holds, each synced. */
  async #catchUp(): Promise<void> {
    const groups = new Set(this.timelines.keys());
    let since: string | undefined;
    for (let more = true; more; ) {
      const page = await this.request({ action: 'conversations', ...(since ? { since } : {}) });
      if (page.type !== 'conversations') return;
      for (const entry of page.conversations as Array<{ conversationId: string }>) {
        if (entry.conversationId.startsWith('grp:')) groups.add(entry.conversationId);
      }
      since = page.cursor as string;
      more = page.hasMore === true;
    }
    await Promise.all([...groups].map((conversationId) => this.#sync(conversationId)));
  }

  /** Syncs the group after the last seq held, after any sync of it already running. */
  #sync(conversationId: string): Promise<void> {
    const previous = this.#syncs.get(conversationId) ?? Promise.resolve();
    const next = previous.then(async () => {
      for (let more = true; more; ) {
        const afterSeq = this.#lastHeld(conversationId);
        const page = await this.request({ action: 'sync', conversationId, afterSeq });
        if (page.type !== 'history') return;
        const messages = page.messages as Message[];
        this.#hold(conversationId, messages);
        more = page.hasMore === true && messages.length > 0;
      }
    });
    const settled = next.catch(() => undefined);
    this.#syncs.set(conversationId, settled);
    return settled;
  }

  #lastHeld(conversationId: string): number {
    return this.timelines.get(conversationId)?.at(-1)?.seq ?? 0;
  }

  /** Appends, in seq order, the messages after the last one held. */
  #hold(conversationId: string, messages: Message[]): void {
    const timeline = this.timelines.get(conversationId) ?? [];
    this.timelines.set(conversationId, timeline);
    for (const message of [...messages].sort((a, b) => a.seq - b.seq)) {
      if (message.seq > (timeline.at(-1)?.seq ?? 0)) timeline.push(message);
    }
  }

  #onFrame(text: string): void {
    let frame: Answer;
    try {
      frame = JSON.parse(text) as Answer;
    } catch {
      return;
    }
    recordFrame(frame, this.key, this);
    const requestId = frame.requestId as string | undefined;
    const request = requestId ? this.#pending.get(requestId) : undefined;
    if (request && frame.type !== 'message') {
      if (frame.type === 'error' && RETRIED_CODES.has(frame.code as string)) {
        // Backing off as the SDK does, so that a failing route is not asked five times a second.
        clearTimeout(request.timer);
        request.retries = (request.retries ?? 0) + 1;
        const delay = Math.min(RECONNECT_MS.max, RECONNECT_MS.initial * 2 ** request.retries);
        request.timer = setTimeout(() => this.#transmit(request), delay);
      } else {
        clearTimeout(request.timer);
        this.#pending.delete(requestId as string);
        request.resolve(frame);
      }
    }
    if (frame.type === 'message') {
      const message = frame as unknown as Message;
      const last = this.#lastHeld(message.conversationId);
      if (message.seq === last + 1) this.#hold(message.conversationId, [message]);
      else if (message.seq > last + 1) void this.#sync(message.conversationId);
    }
    this.#options.onFrame?.();
  }
}
