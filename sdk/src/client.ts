/**
 * The Parley client: one device of one user. It keeps a connection open (reconnecting by
 * itself), sends what the user writes through a persisted outbox until the server
 * confirms it, keeps each conversation in `seq` order with no repeats and no gaps, catches
 * up after time away with the conversations cursor, acknowledges delivery by itself, and
 * reports everything as typed events. docs/protocol.md is the contract it speaks.
 */

import {
  type AckedFrame,
  type ConversationsPageFrame,
  directConversationId,
  type HistoryFrame,
  type Message,
  membersOf,
  messageBodySchema,
  PRESENCE_MAX_USERS,
  type PresenceFrame,
  type Receipt,
  type ReceiptKind,
  type SentFrame,
  type ServerFrame,
  SYNC_MAX_LIMIT,
  userIdSchema,
} from '@parley/protocol';
import { decodeJwt } from 'jose';
import { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF } from './backoff.js';
import { TypedEmitter } from './emitter.js';
import { DEFAULT_KEEP_ALIVE_MS, KeepAlive, type PingOutcome } from './keep-alive.js';
import { Outbox, type OutboxItem } from './outbox.js';
import { MemoryStorage, type ParleyStorage } from './storage.js';
import { type StoredTimeline, Timeline } from './timeline.js';
import { type WebSocketConstructor, type WebSocketLike, WS_OPEN } from './websocket.js';

/**
 * Where the connection stands.
 *
 * @example
 * client.on('state', (state) => banner.hidden = state === ConnectionState.Open);
 */
export enum ConnectionState {
  /** Made, `connect()` not called yet. */
  Idle = 'idle',
  /** Opening a connection. */
  Connecting = 'connecting',
  /** Connected: frames go out at once. */
  Open = 'open',
  /** Lost the connection; waiting out the backoff before the next attempt. */
  Reconnecting = 'reconnecting',
  /** `close()` was called; nothing more happens. */
  Closed = 'closed',
}

/**
 * Where one message stands, as its sender sees it.
 *
 * @example
 * const ticks = { [MessageStatus.Sent]: '✓', [MessageStatus.Delivered]: '✓✓' }[message.status];
 */
export enum MessageStatus {
  /** In the outbox, not confirmed by the server yet (a clock). */
  Pending = 'pending',
  /** Stored by the server (one tick); for a message from someone else: not read yet. */
  Sent = 'sent',
  /** On at least one of the recipient's devices (two ticks). */
  Delivered = 'delivered',
  /** Read by the recipient (two coloured ticks); for a message from someone else: read by you. */
  Read = 'read',
  /** Refused by the server; it will not be sent again unless retried. */
  Failed = 'failed',
}

/**
 * The error codes of docs/protocol.md, plus the client's own.
 *
 * @example
 * client.on('error', (error) => error.code === ParleyErrorCode.Forbidden && alert(error.message));
 */
export enum ParleyErrorCode {
  BadRequest = 'bad_request',
  TooLarge = 'too_large',
  Forbidden = 'forbidden',
  RateLimited = 'rate_limited',
  Internal = 'internal',
  /** No answer within `requestTimeoutMs`. */
  Timeout = 'timeout',
  /** The connection closed before the answer came. */
  ConnectionLost = 'connection_lost',
  /** The client is closed. */
  Closed = 'closed',
}

/**
 * An error answer from the server, or a request the client gave up on.
 *
 * @example
 * try { await client.subscribePresence(['bob']); } catch (error) { if (error instanceof ParleyError) console.log(error.code); }
 */
export class ParleyError extends Error {
  readonly code: ParleyErrorCode | string;
  constructor(code: ParleyErrorCode | string, message: string) {
    super(message);
    this.name = 'ParleyError';
    this.code = code;
  }
}

/**
 * A message as an app shows it: stored (with a `seq`) or still in the outbox.
 *
 * @example
 * client.on('message', (m: ChatMessage) => render(m.clientMessageId, m.body, m.status));
 */
export interface ChatMessage {
  conversationId: string;
  clientMessageId: string;
  /** Absent while pending. */
  seq?: number;
  messageId?: string;
  senderId: string;
  senderDeviceId?: string;
  body: string;
  /** When the server stored it; absent while pending. */
  serverTs?: number;
  /** When it was written (the server's time once stored). */
  createdAt: number;
  /** Sent by this user, from any of its devices. */
  mine: boolean;
  status: MessageStatus;
  /** Why the server refused it, when failed. */
  error?: string;
}

/**
 * One entry of the conversation list.
 *
 * @example
 * client.on('conversations', (list: ConversationView[]) => list.forEach((c) => console.log(c.peerId, c.unread)));
 */
export interface ConversationView {
  conversationId: string;
  /** The other member. */
  peerId: string;
  lastMessage?: ChatMessage;
  lastSeq: number;
  /** Messages from the peer after this user's read watermark. */
  unread: number;
  updatedAt: number;
}

/**
 * A user's presence.
 *
 * @example
 * client.on('presence', (users: PresenceView[]) => users.forEach((u) => dot(u.userId, u.online)));
 */
export interface PresenceView {
  userId: string;
  online: boolean;
  /** When the user's last connection closed; null while online or never seen. */
  lastSeen: number | null;
}

/**
 * A peer started or stopped typing.
 *
 * @example
 * client.on('typing', (e: TypingEvent) => (indicator.hidden = !e.typing));
 */
export interface TypingEvent {
  conversationId: string;
  userId: string;
  typing: boolean;
}

/**
 * The events of a client and their payloads.
 *
 * @example
 * const off = client.on('state', (state: ParleyClientEvents['state']) => console.log(state));
 */
export interface ParleyClientEvents extends Record<string, unknown> {
  state: ConnectionState;
  /** A message was added, or its status changed. */
  message: ChatMessage;
  /** The conversation list changed (newest first). */
  conversations: ConversationView[];
  typing: TypingEvent;
  presence: PresenceView[];
  /**
   * The catch-up after a (re)connect has read what changed since the stored cursor, and
   * saved the new cursor: the ids of the conversations that moved, each now being synced.
   */
  caughtUp: { moved: string[] };
  /** Something failed that no call is waiting for: a message refused, a catch-up that failed. */
  error: ParleyError;
}

/**
 * How to build a client.
 *
 * @example
 * const options: ParleyClientOptions = { url: 'ws://127.0.0.1:3001', token: () => fetchToken(), deviceId: 'phone' };
 */
export interface ParleyClientOptions {
  /** The WebSocket URL, without query: `wss://…/prod` in AWS, `ws://127.0.0.1:3001` locally. */
  url: string;
  /**
   * The JWT, or a function that returns a fresh one: called before every connection
   * attempt, so that an expired token is replaced without a new client.
   */
  token: string | (() => string | Promise<string>);
  /** Stable across this device's reconnects and restarts: 1 to 64 of `[A-Za-z0-9_-]`. */
  deviceId: string;
  /** Where the outbox, cursor and messages are kept. Default: memory. */
  storage?: ParleyStorage;
  /** The WebSocket class: the browser's by default; pass `ws`'s `WebSocket` in Node. */
  WebSocket?: WebSocketConstructor;
  reconnect?: BackoffOptions;
  /** Unsent messages kept at most. Default 1,000. */
  outboxLimit?: number;
  /** How long to wait for an answer. Default 10 s. */
  requestTimeoutMs?: number;
  /**
   * After this long without sending a frame, the client sends a `ping`, so that API
   * Gateway, which closes a connection idle for 10 minutes, keeps it open. A ping with no
   * answer within `requestTimeoutMs` means the connection is dead: the client closes it and
   * reconnects. Only frames the client sends count, since AWS does not document that the
   * server's count. Default 5 minutes (half the limit: background timers may fire late);
   * 0 turns it off.
   *
   * @example
   * new ParleyClient({ url, token, deviceId, keepAliveMs: 4 * 60_000 });
   */
  keepAliveMs?: number;
  /** After this long without a keystroke, typing stops by itself. Default 5 s. */
  typingIdleMs?: number;
  /** The clock, for tests. */
  now?: () => number;
  /** Uniform in [0, 1), for the backoff jitter; for tests. */
  random?: () => number;
}

type SendTarget = { to: string } | { conversationId: string };

interface PendingRequest {
  resolve: (frame: ServerFrame) => void;
  reject: (error: ParleyError) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** One open socket, the requests waiting on it, and what keeps it alive. */
interface Session {
  socket: WebSocketLike;
  pending: Map<string, PendingRequest>;
  openedAt: number;
  keepAlive: KeepAlive;
}

/** Errors after which the same frame will never succeed. */
const FINAL_ERRORS = new Set<string>([
  ParleyErrorCode.BadRequest,
  ParleyErrorCode.Forbidden,
  ParleyErrorCode.TooLarge,
]);
/** A peer that stops sending `typing` is taken to have stopped after this long. */
const TYPING_EXPIRY_MS = 8_000;
/** A `start` is repeated at most this often while the user keeps typing. */
const TYPING_REPEAT_MS = 3_000;

function newClientMessageId(): string {
  const crypto = globalThis.crypto;
  if (crypto?.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}

/**
 * A Parley client for one device of one user.
 *
 * @example
 * import WebSocket from 'ws';
 * const client = new ParleyClient({ url: 'ws://127.0.0.1:3001', token, deviceId: 'laptop', WebSocket });
 * client.on('message', (message) => console.log(message.senderId, message.body, message.status));
 * await client.connect();
 * await client.send({ to: 'bob' }, 'hello');
 */
export class ParleyClient extends TypedEmitter<ParleyClientEvents> {
  readonly deviceId: string;
  #userId: string;
  #state = ConnectionState.Idle;
  readonly #options: Required<
    Pick<ParleyClientOptions, 'outboxLimit' | 'requestTimeoutMs' | 'typingIdleMs' | 'keepAliveMs'>
  > &
    ParleyClientOptions;
  readonly #storage: ParleyStorage;
  readonly #WebSocket: WebSocketConstructor;
  readonly #now: () => number;
  readonly #random: () => number;

  #outbox: Outbox;
  readonly #timelines = new Map<string, Timeline>();
  #cursor: string | undefined;
  readonly #presence = new Map<string, PresenceView>();
  readonly #presenceSubscriptions = new Set<string>();
  /** conversationId → userId → when the typing indicator lapses. */
  readonly #typing = new Map<string, Map<string, ReturnType<typeof setTimeout>>>();
  /** conversationId → our own typing state. */
  readonly #ownTyping = new Map<string, { lastStartAt: number; idleTimer: ReturnType<typeof setTimeout> }>();

  #session: Session | undefined;
  /** The socket being opened, until it opens or fails: `close()` abandons it. */
  #connecting: WebSocketLike | undefined;
  #attempt = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #requestCounter = 0;
  /** Conversations whose outbox is being sent (one message in flight each). */
  readonly #flushing = new Set<string>();
  readonly #retryTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Conversations with a sync in flight, and whether another is wanted after it. */
  readonly #syncing = new Map<string, { again: boolean }>();
  readonly #ackTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /**
   * Acks the server has not confirmed yet, per conversation and kind: saved with the
   * timelines, sent again after a retryable error and on every open, until `acked` comes.
   * Repeating an ack is what makes the server publish a receipt whose first publish failed.
   */
  readonly #unconfirmedAcks = new Map<string, Partial<Record<ReceiptKind, number>>>();
  readonly #ackRetries = new Map<string, { attempts: number; timer?: ReturnType<typeof setTimeout> }>();
  #saveTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #dirtyTimelines = new Set<string>();
  #saving: Promise<void> = Promise.resolve();
  #listTimer: ReturnType<typeof setTimeout> | undefined;
  #loaded: Promise<void> | undefined;
  #firstToken: string | undefined;

  constructor(options: ParleyClientOptions) {
    super();
    if (!userIdSchema.safeParse(options.deviceId).success) {
      throw new TypeError('deviceId: must be 1 to 64 characters of A-Z, a-z, 0-9, _ or -');
    }
    const WebSocketClass =
      options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WebSocketClass)
      throw new TypeError('WebSocket: none in this environment; pass one (e.g. from the ws package)');
    this.#WebSocket = WebSocketClass;
    if (
      options.keepAliveMs !== undefined &&
      !(Number.isFinite(options.keepAliveMs) && options.keepAliveMs >= 0)
    ) {
      throw new TypeError('keepAliveMs: must be a number of milliseconds, 0 or more (0 turns it off)');
    }
    this.#options = {
      outboxLimit: 1_000,
      requestTimeoutMs: 10_000,
      typingIdleMs: 5_000,
      ...options,
      keepAliveMs: options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS,
    };
    this.#storage = options.storage ?? new MemoryStorage();
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.deviceId = options.deviceId;
    // With a token provider the user is known once `connect()` has read the first token.
    this.#userId = typeof options.token === 'string' ? userIdOfToken(options.token) : '';
    this.#outbox = new Outbox(this.#options.outboxLimit);
  }

  /**
   * The user this client acts for: the token's `sub`. Known from construction with a
   * token string; with a token provider, once `connect()` has resolved (empty before).
   *
   * @example
   * await client.connect();
   * header.textContent = client.userId;
   */
  get userId(): string {
    return this.#userId;
  }

  /** Where the connection stands. */
  get state(): ConnectionState {
    return this.#state;
  }

  /**
   * Loads what was stored, then connects, and keeps reconnecting until `close()`. Resolves
   * once the stored state is loaded: messages can be read and sent from then on, online
   * or not.
   *
   * @example
   * await client.connect();
   * client.messages('dm:alice:bob'); // what this device held when it last ran
   */
  async connect(): Promise<void> {
    if (this.#state !== ConnectionState.Idle) return this.#loaded;
    this.#setState(ConnectionState.Connecting);
    this.#loaded = this.#load();
    try {
      await this.#loaded;
    } catch (error) {
      // Storage or the token provider failed: nothing started, so connect() may be called again.
      this.#loaded = undefined;
      if (!this.#closed()) this.#setState(ConnectionState.Idle);
      throw error;
    }
    // close() may have been called while loading.
    if (this.#closed()) return;
    void this.#open();
  }

  /**
   * Closes the connection for good, after saving what is not saved yet. Pending requests
   * fail with `closed`; the outbox stays stored for the next client.
   *
   * @example
   * await client.close();
   */
  async close(): Promise<void> {
    if (this.#state === ConnectionState.Closed) return;
    this.#setState(ConnectionState.Closed);
    clearTimeout(this.#reconnectTimer);
    for (const timer of this.#retryTimers.values()) clearTimeout(timer);
    for (const timer of this.#ackTimers.values()) clearTimeout(timer);
    for (const { timer } of this.#ackRetries.values()) clearTimeout(timer);
    for (const { idleTimer } of this.#ownTyping.values()) clearTimeout(idleTimer);
    for (const users of this.#typing.values()) for (const timer of users.values()) clearTimeout(timer);
    clearTimeout(this.#listTimer);
    // A handshake under way would otherwise open a connection after close().
    this.#connecting?.close(1000, 'client closed');
    this.#connecting = undefined;
    const session = this.#session;
    this.#session = undefined;
    if (session) {
      session.keepAlive.stop();
      this.#failPending(session, new ParleyError(ParleyErrorCode.Closed, 'the client was closed'));
      session.socket.close(1000, 'client closed');
    }
    await this.#loaded?.catch(() => undefined);
    await this.#flushSaves();
  }

  /**
   * Queues a message and sends it as soon as the connection allows, retrying with the
   * same `clientMessageId` until the server confirms it. Resolves once it is stored in
   * the outbox (status `pending`); `message` events report its progress. A body the server
   * would refuse (empty, over 4,096 characters, a lone surrogate) throws a `bad_request`
   * `ParleyError` and is not queued.
   *
   * @example
   * const pending = await client.send({ to: 'bob' }, 'see you at 8');
   * client.on('message', (m) => m.clientMessageId === pending.clientMessageId && console.log(m.status));
   */
  async send(target: SendTarget, body: string): Promise<ChatMessage> {
    await this.#ready();
    // Refused now, rather than queued to fail: the server would answer bad_request.
    const checked = messageBodySchema.safeParse(body);
    if (!checked.success) {
      throw new ParleyError(ParleyErrorCode.BadRequest, `body: ${checked.error.issues[0]?.message}`);
    }
    const conversationId = 'to' in target ? this.#conversationWith(target.to) : target.conversationId;
    if (!membersOf(conversationId)?.includes(this.userId)) {
      throw new ParleyError(
        ParleyErrorCode.Forbidden,
        `conversationId: ${conversationId} is not one of yours`,
      );
    }
    const item: OutboxItem = {
      clientMessageId: newClientMessageId(),
      conversationId,
      ...('to' in target ? { to: target.to } : {}),
      body,
      senderId: this.userId,
      createdAt: this.#now(),
      status: 'pending',
      attempts: 0,
    };
    this.#outbox.add(item);
    // The peer stops showing "typing" when the message arrives; the next keystroke starts afresh.
    const typing = this.#ownTyping.get(conversationId);
    if (typing) {
      clearTimeout(typing.idleTimer);
      this.#ownTyping.delete(conversationId);
    }
    await this.#saveOutbox();
    const message = this.#viewOfPending(item);
    this.emit('message', message);
    this.#scheduleListChanged();
    this.#flush(conversationId);
    return message;
  }

  /**
   * Puts a failed message back in the outbox, with its `clientMessageId`.
   *
   * @example
   * client.on('message', (m) => m.status === MessageStatus.Failed && client.retry(m.clientMessageId));
   */
  async retry(clientMessageId: string): Promise<void> {
    const item = this.#outbox.retry(clientMessageId);
    if (!item) return;
    await this.#saveOutbox();
    this.emit('message', this.#viewOfPending(item));
    this.#flush(item.conversationId);
  }

  /**
   * The conversation's messages: stored ones by `seq`, then pending ones in the order written.
   *
   * @example
   * for (const m of client.messages('dm:alice:bob')) console.log(m.seq ?? '…', m.body);
   */
  messages(conversationId: string): ChatMessage[] {
    const timeline = this.#timelines.get(conversationId);
    const stored = timeline ? timeline.messages().map((message) => this.#viewOf(timeline, message)) : [];
    const storedIds = new Set(stored.map((message) => message.clientMessageId));
    const pending = this.#outbox
      .items()
      .filter((item) => item.conversationId === conversationId && !storedIds.has(item.clientMessageId))
      .map((item) => this.#viewOfPending(item));
    return [...stored, ...pending];
  }

  /**
   * The conversation list, newest first, with unread counts.
   *
   * @example
   * for (const c of client.conversations()) console.log(c.peerId, c.unread, c.lastMessage?.body);
   */
  conversations(): ConversationView[] {
    const ids = new Set([
      ...this.#timelines.keys(),
      ...this.#outbox.items().map((item) => item.conversationId),
    ]);
    return [...ids]
      .map((conversationId) => this.#conversationView(conversationId))
      .sort((a, b) => b.updatedAt - a.updatedAt);
  }

  /**
   * Messages from others after this user's read watermark.
   *
   * @example
   * document.title = `(${client.unreadCount('dm:alice:bob')}) Parley`;
   */
  unreadCount(conversationId: string): number {
    const timeline = this.#timelines.get(conversationId);
    if (!timeline) return 0;
    const readSeq = timeline.receiptOf(this.userId).readSeq;
    let unread = 0;
    for (const message of timeline.messages())
      if (message.seq > readSeq && message.senderId !== this.userId) unread++;
    // Messages this device has not fetched yet still count: assume they are the peer's.
    const unseen = timeline.lastSeq - Math.max(readSeq, timeline.messages().at(-1)?.seq ?? 0);
    return unread + Math.max(0, unseen);
  }

  /**
   * Marks everything this device holds of the conversation as read, on all of the user's
   * devices (the server's `receipt` event clears the unread count everywhere).
   *
   * @example
   * await client.markRead('dm:alice:bob');
   */
  async markRead(conversationId: string): Promise<void> {
    const timeline = this.#timelines.get(conversationId);
    if (!timeline) return;
    const seq = timeline.contiguousSeq;
    if (seq <= timeline.receiptOf(this.userId).readSeq) return;
    // Shown as read at once; the server's answer confirms it, now or after a reconnect.
    this.#applyReceipts(timeline, [{ userId: this.userId, kind: 'read', seq }]);
    await this.#ack(conversationId, 'read', seq);
  }

  /**
   * Call on every keystroke: tells the peer the user is typing (at most every few
   * seconds), and that the user stopped after `typingIdleMs` without one.
   *
   * @example
   * input.addEventListener('input', () => client.typing(conversationId));
   */
  typing(conversationId: string): void {
    const now = this.#now();
    const current = this.#ownTyping.get(conversationId);
    if (current) clearTimeout(current.idleTimer);
    const idleTimer = setTimeout(() => this.stopTyping(conversationId), this.#options.typingIdleMs);
    const lastStartAt = !current || now - current.lastStartAt >= TYPING_REPEAT_MS ? now : current.lastStartAt;
    this.#ownTyping.set(conversationId, { lastStartAt, idleTimer });
    if (lastStartAt === now) this.#sendTyping(conversationId, 'start');
  }

  /**
   * Tells the peer the user stopped typing (sending a message does so too).
   *
   * @example
   * input.addEventListener('blur', () => client.stopTyping(conversationId));
   */
  stopTyping(conversationId: string): void {
    const current = this.#ownTyping.get(conversationId);
    if (!current) return;
    clearTimeout(current.idleTimer);
    this.#ownTyping.delete(conversationId);
    this.#sendTyping(conversationId, 'stop');
  }

  /**
   * Who is typing in the conversation now.
   *
   * @example
   * const typing = client.typingIn('dm:alice:bob'); // ['bob']
   */
  typingIn(conversationId: string): string[] {
    return [...(this.#typing.get(conversationId)?.keys() ?? [])];
  }

  /**
   * Subscribes this connection to the users' presence (and again after every reconnect).
   * Resolves with their presence now; `presence` events bring the changes.
   *
   * @example
   * const [bob] = await client.subscribePresence(['bob']);
   * console.log(bob.online ? 'online' : `last seen ${bob.lastSeen}`);
   */
  async subscribePresence(userIds: string[]): Promise<PresenceView[]> {
    for (const userId of userIds) this.#presenceSubscriptions.add(userId);
    if (this.#state !== ConnectionState.Open)
      return userIds.map((userId) => this.presenceOf(userId) ?? unknownPresence(userId));
    const answer = await this.#request<PresenceFrame>({ action: 'subscribePresence', userIds });
    this.#applyPresence(answer.users);
    return answer.users;
  }

  /**
   * The last presence known of a subscribed user.
   *
   * @example
   * client.presenceOf('bob')?.online;
   */
  presenceOf(userId: string): PresenceView | undefined {
    return this.#presence.get(userId);
  }

  /**
   * Skips the rest of the backoff wait and tries to connect now: for an app that learns
   * the network is back (the browser's `online` event, a return to the foreground).
   *
   * @example
   * window.addEventListener('online', () => client.reconnectNow());
   */
  reconnectNow(): void {
    if (this.#state !== ConnectionState.Reconnecting) return;
    clearTimeout(this.#reconnectTimer);
    void this.#open();
  }

  /**
   * How many messages wait in the outbox.
   *
   * @example
   * banner.textContent = `${client.pendingCount()} messages queued`;
   */
  pendingCount(): number {
    return this.#outbox.pendingCount;
  }

  // ---------------------------------------------------------------------------------------
  // Connection
  // ---------------------------------------------------------------------------------------

  async #open(): Promise<void> {
    if (this.#state === ConnectionState.Closed) return;
    this.#setState(ConnectionState.Connecting);
    let token: string;
    try {
      token = this.#firstToken ?? (await this.#tokenNow());
      this.#firstToken = undefined;
    } catch (error) {
      this.#report(error);
      this.#scheduleReconnect();
      return;
    }
    if (this.#closed()) return;
    const separator = this.#options.url.includes('?') ? '&' : '?';
    const url = `${this.#options.url}${separator}token=${encodeURIComponent(token)}&deviceId=${encodeURIComponent(this.deviceId)}`;
    let socket: WebSocketLike;
    try {
      socket = new this.#WebSocket(url);
    } catch (error) {
      this.#report(error);
      this.#scheduleReconnect();
      return;
    }
    this.#connecting = socket;
    const session: Session = {
      socket,
      pending: new Map(),
      openedAt: 0,
      keepAlive: new KeepAlive(this.#options.keepAliveMs, {
        ping: () => this.#ping(session),
        dead: () => this.#endDeadSession(session),
      }),
    };
    socket.onopen = () => {
      if (this.#connecting === socket) this.#connecting = undefined;
      if (this.#state === ConnectionState.Closed) {
        socket.close(1000, 'client closed');
        return;
      }
      session.openedAt = this.#now();
      this.#session = session;
      session.keepAlive.start();
      this.#setState(ConnectionState.Open);
      void this.#onOpen();
    };
    socket.onmessage = (event) => {
      if (this.#session !== session) return;
      this.#onFrame(session, typeof event.data === 'string' ? event.data : String(event.data));
    };
    socket.onerror = () => {
      // Always followed by a close, which decides what happens next.
    };
    socket.onclose = () => {
      if (this.#connecting === socket) this.#connecting = undefined;
      this.#onClose(session);
    };
  }

  #onClose(session: Session): void {
    session.keepAlive.stop();
    const wasCurrent = this.#session === session;
    if (wasCurrent) this.#session = undefined;
    this.#failPending(session, new ParleyError(ParleyErrorCode.ConnectionLost, 'the connection closed'));
    if (this.#state === ConnectionState.Closed) return;
    if (!wasCurrent && this.#state !== ConnectionState.Connecting) return;
    // A connection that stayed up long enough was a success: count the attempts afresh.
    const minUptime = this.#options.reconnect?.minUptimeMs ?? DEFAULT_BACKOFF.minUptimeMs;
    if (session.openedAt && this.#now() - session.openedAt >= minUptime) this.#attempt = 0;
    // Nobody is known to type any more; say so, as a stop would.
    const typing = [...this.#typing].flatMap(([conversationId, users]) =>
      [...users.keys()].map((userId) => ({ conversationId, userId })),
    );
    for (const { conversationId, userId } of typing) this.#receiveTyping(conversationId, userId, false);
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#state === ConnectionState.Closed) return;
    this.#setState(ConnectionState.Reconnecting);
    const delay = backoffDelay(this.#attempt, this.#options.reconnect, this.#random);
    this.#attempt += 1;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => void this.#open(), delay);
  }

  async #onOpen(): Promise<void> {
    // Queued messages first: they are what the user is waiting for.
    for (const conversationId of this.#outbox.conversationsWithPending()) this.#flush(conversationId);
    try {
      await this.#catchUp();
      // What was read or received while the connection was down is acknowledged now.
      for (const [conversationId, acks] of this.#unconfirmedAcks) {
        for (const kind of Object.keys(acks) as ReceiptKind[]) void this.#sendAck(conversationId, kind);
      }
      for (const timeline of this.#timelines.values()) this.#scheduleDeliveredAck(timeline);
      const watched = [...this.#presenceSubscriptions];
      for (let start = 0; start < watched.length; start += PRESENCE_MAX_USERS) {
        const userIds = watched.slice(start, start + PRESENCE_MAX_USERS);
        const answer = await this.#request<PresenceFrame>({ action: 'subscribePresence', userIds });
        this.#applyPresence(answer.users);
      }
    } catch (error) {
      // A lost connection retries all of this on the next open.
      if (!(error instanceof ParleyError && error.code === ParleyErrorCode.ConnectionLost))
        this.#report(error);
    }
  }

  /** The keep-alive's ping: any answer, an error one too, shows the connection works. */
  async #ping(session: Session): Promise<PingOutcome> {
    if (this.#session !== session) return 'closed';
    try {
      await this.#request({ action: 'ping' });
      return 'answered';
    } catch (error) {
      const code = error instanceof ParleyError ? error.code : undefined;
      if (code === ParleyErrorCode.Timeout) return 'no-answer';
      if (code === ParleyErrorCode.ConnectionLost || code === ParleyErrorCode.Closed) return 'closed';
      return 'answered';
    }
  }

  /**
   * No pong came: the socket may not notice a dead network for many minutes, so the client
   * stops listening to it, closes it and reconnects now, with the usual backoff.
   */
  #endDeadSession(session: Session): void {
    if (this.#session !== session) return;
    session.socket.onmessage = null;
    session.socket.onclose = null;
    session.socket.close(4000, 'no pong');
    this.#onClose(session);
  }

  #failPending(session: Session, error: ParleyError): void {
    for (const [requestId, pending] of session.pending) {
      clearTimeout(pending.timer);
      session.pending.delete(requestId);
      pending.reject(error);
    }
  }

  /** Read through a method: TypeScript would narrow the field across an await. */
  #closed(): boolean {
    return this.#state === ConnectionState.Closed;
  }

  #setState(state: ConnectionState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
  }

  /** Sends a frame that expects an answer, and resolves with the answer. */
  #request<Answer extends ServerFrame>(frame: Record<string, unknown>): Promise<Answer> {
    const session = this.#session;
    if (!session || session.socket.readyState !== WS_OPEN) {
      return Promise.reject(new ParleyError(ParleyErrorCode.ConnectionLost, 'not connected'));
    }
    this.#requestCounter += 1;
    const requestId = `${this.deviceId.slice(0, 40)}-${this.#requestCounter}`;
    return new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => {
        session.pending.delete(requestId);
        reject(
          new ParleyError(
            ParleyErrorCode.Timeout,
            `no answer to ${String(frame.action)} within ${this.#options.requestTimeoutMs} ms`,
          ),
        );
      }, this.#options.requestTimeoutMs);
      session.pending.set(requestId, { resolve: resolve as (frame: ServerFrame) => void, reject, timer });
      try {
        session.socket.send(JSON.stringify({ ...frame, requestId }));
        session.keepAlive.sent();
      } catch (error) {
        clearTimeout(timer);
        session.pending.delete(requestId);
        reject(
          new ParleyError(
            ParleyErrorCode.ConnectionLost,
            error instanceof Error ? error.message : 'send failed',
          ),
        );
      }
    });
  }

  #onFrame(session: Session, text: string): void {
    let frame: ServerFrame;
    try {
      frame = JSON.parse(text) as ServerFrame;
    } catch {
      return;
    }
    const requestId = 'requestId' in frame ? frame.requestId : undefined;
    if (typeof requestId === 'string') {
      const pending = session.pending.get(requestId);
      // An answer nobody waits for (late, or a second one) changes nothing.
      if (!pending) return;
      session.pending.delete(requestId);
      clearTimeout(pending.timer);
      if (frame.type === 'error') pending.reject(new ParleyError(frame.code, frame.message));
      else pending.resolve(frame);
      return;
    }
    switch (frame.type) {
      case 'message':
        this.#receiveMessages(frame.conversationId, [frame]);
        break;
      case 'receipt': {
        const timeline = this.#timeline(frame.conversationId);
        this.#applyReceipts(timeline, [{ userId: frame.userId, kind: frame.kind, seq: frame.seq }]);
        if (timeline.hasGap) this.#requestSync(frame.conversationId);
        break;
      }
      case 'typing':
        this.#receiveTyping(frame.conversationId, frame.userId, frame.state === 'start');
        break;
      case 'presence':
        this.#applyPresence(frame.users);
        break;
      case 'error':
        this.emit('error', new ParleyError(frame.code, frame.message));
        break;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Outbox
  // ---------------------------------------------------------------------------------------

  /** Sends the conversation's pending messages one at a time, in the order written. */
  #flush(conversationId: string): void {
    if (this.#flushing.has(conversationId) || this.#state !== ConnectionState.Open) return;
    if (this.#retryTimers.has(conversationId)) return;
    this.#flushing.add(conversationId);
    void this.#flushLoop(conversationId).finally(() => this.#flushing.delete(conversationId));
  }

  async #flushLoop(conversationId: string): Promise<void> {
    for (;;) {
      const item = this.#outbox.nextFor(conversationId);
      if (!item || this.#state !== ConnectionState.Open) return;
      item.attempts += 1;
      try {
        const sent = await this.#request<SentFrame>({
          action: 'send',
          ...(item.to ? { to: item.to } : { conversationId: item.conversationId }),
          clientMessageId: item.clientMessageId,
          body: item.body,
        });
        await this.#confirmSent(item, sent);
      } catch (error) {
        const code = error instanceof ParleyError ? error.code : ParleyErrorCode.Internal;
        if (FINAL_ERRORS.has(code)) {
          this.#outbox.markFailed(
            item.clientMessageId,
            error instanceof Error ? error.message : String(error),
          );
          await this.#saveOutbox();
          this.emit('message', this.#viewOfPending(item));
          this.emit('error', error instanceof ParleyError ? error : new ParleyError(code, String(error)));
          continue;
        }
        // Retryable: the same clientMessageId goes again after a backoff, or on reconnect.
        if (code !== ParleyErrorCode.ConnectionLost && code !== ParleyErrorCode.Closed) {
          const delay = backoffDelay(item.attempts, this.#options.reconnect, this.#random);
          this.#retryTimers.set(
            conversationId,
            setTimeout(() => {
              this.#retryTimers.delete(conversationId);
              this.#flush(conversationId);
            }, delay),
          );
        }
        return;
      }
    }
  }

  async #confirmSent(item: OutboxItem, sent: SentFrame): Promise<void> {
    const message: Message = {
      conversationId: sent.conversationId,
      seq: sent.seq,
      messageId: sent.messageId,
      clientMessageId: item.clientMessageId,
      senderId: this.userId,
      senderDeviceId: this.deviceId,
      body: item.body,
      serverTs: sent.serverTs,
    };
    // The `message` event may have come first and stored it already: either way, once.
    this.#receiveMessages(sent.conversationId, [message]);
  }

  // ---------------------------------------------------------------------------------------
  // Conversations
  // ---------------------------------------------------------------------------------------

  #receiveMessages(conversationId: string, messages: Message[]): void {
    const timeline = this.#timeline(conversationId);
    let added = false;
    const confirmed: string[] = [];
    for (const message of messages) {
      if (this.#outbox.get(message.clientMessageId)?.senderId === message.senderId) {
        if (this.#outbox.remove(message.clientMessageId)) confirmed.push(message.clientMessageId);
      }
      if (!timeline.add(message)) continue;
      added = true;
      this.emit('message', this.#viewOf(timeline, message));
      if (message.senderId !== this.userId) this.#receiveTyping(conversationId, message.senderId, false);
    }
    if (confirmed.length > 0) void this.#saveOutbox();
    if (!added) return;
    this.#timelineChanged(timeline);
    if (timeline.hasGap) this.#requestSync(conversationId);
    this.#scheduleDeliveredAck(timeline);
  }

  /** Acks `delivered` up to the contiguous seq, once per change, shortly after a burst. */
  #scheduleDeliveredAck(timeline: Timeline): void {
    const { conversationId } = timeline;
    if (this.#ackTimers.has(conversationId)) return;
    this.#ackTimers.set(
      conversationId,
      setTimeout(() => {
        this.#ackTimers.delete(conversationId);
        const seq = timeline.contiguousSeq;
        const fromOthers = timeline.messages().some((m) => m.senderId !== this.userId && m.seq <= seq);
        if (!fromOthers || seq <= timeline.receiptOf(this.userId).deliveredSeq) return;
        void this.#ack(conversationId, 'delivered', seq);
      }, 50),
    );
  }

  /** Records the ack as unconfirmed, then sends it if the connection is open. */
  async #ack(conversationId: string, kind: ReceiptKind, seq: number): Promise<void> {
    const acks = this.#unconfirmedAcks.get(conversationId) ?? {};
    acks[kind] = Math.max(seq, acks[kind] ?? 0);
    this.#unconfirmedAcks.set(conversationId, acks);
    this.#scheduleSave();
    if (this.#state === ConnectionState.Open) await this.#sendAck(conversationId, kind);
  }

  /**
   * Sends the unconfirmed ack of that kind. A lost connection leaves it for the next open; a
   * retryable error sends it again after a backoff; a final error drops it.
   */
  async #sendAck(conversationId: string, kind: ReceiptKind): Promise<void> {
    const seq = this.#unconfirmedAcks.get(conversationId)?.[kind];
    if (seq === undefined) return;
    const retryKey = `${conversationId} ${kind}`;
    const retry = this.#ackRetries.get(retryKey);
    if (retry?.timer) return; // a retry is already waiting
    let settled: number | undefined;
    try {
      const answer = await this.#request<AckedFrame>({ action: 'ack', conversationId, seq, kind });
      this.#applyReceipts(this.#timeline(conversationId), [{ userId: this.userId, kind, seq: answer.seq }]);
      settled = answer.seq;
      this.#ackRetries.delete(retryKey);
    } catch (error) {
      const code = error instanceof ParleyError ? error.code : undefined;
      if (code === ParleyErrorCode.ConnectionLost || code === ParleyErrorCode.Closed) return;
      if (code !== undefined && FINAL_ERRORS.has(code)) {
        settled = seq;
        this.#ackRetries.delete(retryKey);
        this.#report(error);
      } else {
        const attempts = (retry?.attempts ?? 0) + 1;
        const delay = backoffDelay(attempts, this.#options.reconnect, this.#random);
        const timer = setTimeout(() => {
          this.#ackRetries.set(retryKey, { attempts });
          if (this.#state === ConnectionState.Open) void this.#sendAck(conversationId, kind);
        }, delay);
        this.#ackRetries.set(retryKey, { attempts, timer });
        return;
      }
    }
    const acks = this.#unconfirmedAcks.get(conversationId);
    if (acks && (acks[kind] ?? 0) <= settled) {
      delete acks[kind];
      if (acks.read === undefined && acks.delivered === undefined)
        this.#unconfirmedAcks.delete(conversationId);
      this.#scheduleSave();
    }
  }

  /** Catches up after a (re)connect: the list since the stored cursor, then each moved conversation. */
  async #catchUp(): Promise<void> {
    let since = this.#cursor;
    const moved: string[] = [];
    for (;;) {
      const page = await this.#request<ConversationsPageFrame>({
        action: 'conversations',
        ...(since ? { since } : {}),
        limit: 100,
      });
      for (const summary of page.conversations) {
        moved.push(summary.conversationId);
        const timeline = this.#timeline(summary.conversationId);
        if (summary.lastMessage) this.#receiveMessages(summary.conversationId, [summary.lastMessage]);
        this.#applyReceipts(timeline, receiptChanges(summary.receipts));
        if (timeline.applySummary(summary)) this.#timelineChanged(timeline);
        if (timeline.hasGap) this.#requestSync(summary.conversationId);
      }
      since = page.cursor;
      this.#cursor = page.cursor;
      this.#scheduleSave();
      if (!page.hasMore) break;
    }
    // Conversations held locally may also have gaps (a sync cut short by a disconnect).
    for (const timeline of this.#timelines.values())
      if (timeline.hasGap) this.#requestSync(timeline.conversationId);
    await this.#flushSaves();
    this.emit('caughtUp', { moved });
  }

  /** Fills the conversation from its contiguous seq; a second request while one runs runs once more after it. */
  #requestSync(conversationId: string): void {
    const running = this.#syncing.get(conversationId);
    if (running) {
      running.again = true;
      return;
    }
    if (this.#state !== ConnectionState.Open) return;
    const marker = { again: false };
    this.#syncing.set(conversationId, marker);
    void this.#syncLoop(conversationId, marker)
      .catch((error: unknown) => {
        if (!(error instanceof ParleyError && error.code === ParleyErrorCode.ConnectionLost))
          this.#report(error);
      })
      .finally(() => {
        this.#syncing.delete(conversationId);
        if (marker.again && this.#timeline(conversationId).hasGap) this.#requestSync(conversationId);
      });
  }

  async #syncLoop(conversationId: string, marker: { again: boolean }): Promise<void> {
    const timeline = this.#timeline(conversationId);
    for (;;) {
      const afterSeq = timeline.contiguousSeq;
      // A request made while this page is out may need what the page does not bring: it
      // is taken up once the loop ends (see #requestSync), so it is cleared only here.
      marker.again = false;
      const page = await this.#request<HistoryFrame>({
        action: 'sync',
        conversationId,
        afterSeq,
        limit: SYNC_MAX_LIMIT,
      });
      timeline.noteLastSeq(page.lastSeq);
      this.#receiveMessages(conversationId, page.messages);
      this.#applyReceipts(timeline, receiptChanges(page.receipts));
      // Stop when the page brought nothing new, so a server that keeps saying hasMore cannot loop us.
      if (!page.hasMore || timeline.contiguousSeq === afterSeq || !timeline.hasGap) return;
    }
  }

  #timeline(conversationId: string): Timeline {
    let timeline = this.#timelines.get(conversationId);
    if (!timeline) {
      timeline = new Timeline(conversationId);
      this.#timelines.set(conversationId, timeline);
    }
    return timeline;
  }

  /** Marks the timeline for saving and the list as changed. */
  #timelineChanged(timeline: Timeline): void {
    this.#dirtyTimelines.add(timeline.conversationId);
    this.#scheduleSave();
    this.#scheduleListChanged();
  }

  /**
   * Moves watermarks, and reports the messages whose status they changed: the sender's
   * messages up to a peer's new watermark, or the peer's up to this user's read one.
   */
  #applyReceipts(
    timeline: Timeline,
    changes: Array<{ userId: string; kind: ReceiptKind; seq: number }>,
  ): void {
    let moved = false;
    for (const change of changes) {
      const before = timeline.receiptOf(change.userId);
      if (!timeline.applyReceipt(change.userId, change.kind, change.seq)) continue;
      moved = true;
      const after = timeline.receiptOf(change.userId);
      const from = Math.min(before.deliveredSeq, before.readSeq);
      const to = Math.max(after.deliveredSeq, after.readSeq);
      const ownReceipt = change.userId === this.userId;
      for (const message of timeline.messages()) {
        if (message.seq <= from || message.seq > to) continue;
        if ((message.senderId === this.userId) !== ownReceipt)
          this.emit('message', this.#viewOf(timeline, message));
      }
    }
    if (moved) this.#timelineChanged(timeline);
  }

  #scheduleListChanged(): void {
    if (this.#listTimer) return;
    this.#listTimer = setTimeout(() => {
      this.#listTimer = undefined;
      this.emit('conversations', this.conversations());
    }, 0);
  }

  #conversationView(conversationId: string): ConversationView {
    const timeline = this.#timelines.get(conversationId);
    const members = membersOf(conversationId) ?? [];
    const peerId = members.find((member) => member !== this.userId) ?? this.userId;
    const pending = this.#outbox.items().filter((item) => item.conversationId === conversationId);
    const lastStored = timeline?.lastMessage;
    const lastPending = pending.at(-1);
    const lastMessage = lastPending
      ? this.#viewOfPending(lastPending)
      : lastStored && timeline
        ? this.#viewOf(timeline, lastStored)
        : undefined;
    return {
      conversationId,
      peerId,
      ...(lastMessage ? { lastMessage } : {}),
      lastSeq: timeline?.lastSeq ?? 0,
      unread: this.unreadCount(conversationId),
      updatedAt: Math.max(timeline?.updatedAt ?? 0, lastPending?.createdAt ?? 0),
    };
  }

  #viewOf(timeline: Timeline, message: Message): ChatMessage {
    const mine = message.senderId === this.userId;
    let status: MessageStatus;
    if (mine) {
      const peers = (membersOf(timeline.conversationId) ?? []).filter((member) => member !== this.userId);
      const receipts = peers.map((peer) => timeline.receiptOf(peer));
      status =
        receipts.length > 0 && receipts.every((receipt) => receipt.readSeq >= message.seq)
          ? MessageStatus.Read
          : receipts.length > 0 && receipts.every((receipt) => receipt.deliveredSeq >= message.seq)
            ? MessageStatus.Delivered
            : MessageStatus.Sent;
    } else {
      status =
        timeline.receiptOf(this.userId).readSeq >= message.seq ? MessageStatus.Read : MessageStatus.Sent;
    }
    return {
      conversationId: message.conversationId,
      clientMessageId: message.clientMessageId,
      seq: message.seq,
      messageId: message.messageId,
      senderId: message.senderId,
      senderDeviceId: message.senderDeviceId,
      body: message.body,
      serverTs: message.serverTs,
      createdAt: message.serverTs,
      mine,
      status,
    };
  }

  #viewOfPending(item: OutboxItem): ChatMessage {
    return {
      conversationId: item.conversationId,
      clientMessageId: item.clientMessageId,
      senderId: item.senderId,
      senderDeviceId: this.deviceId,
      body: item.body,
      createdAt: item.createdAt,
      mine: true,
      status: item.status === 'failed' ? MessageStatus.Failed : MessageStatus.Pending,
      ...(item.error ? { error: item.error } : {}),
    };
  }

  #conversationWith(peerId: string): string {
    if (!userIdSchema.safeParse(peerId).success) {
      throw new ParleyError(
        ParleyErrorCode.BadRequest,
        'to: must be 1 to 64 characters of A-Z, a-z, 0-9, _ or -',
      );
    }
    if (peerId === this.userId) throw new ParleyError(ParleyErrorCode.BadRequest, 'to: must be another user');
    return directConversationId(this.userId, peerId);
  }

  // ---------------------------------------------------------------------------------------
  // Typing and presence
  // ---------------------------------------------------------------------------------------

  #sendTyping(conversationId: string, state: 'start' | 'stop'): void {
    const session = this.#session;
    if (!session || session.socket.readyState !== WS_OPEN) return;
    // No answer comes for typing (but an error might, which #onFrame reports).
    session.socket.send(JSON.stringify({ action: 'typing', conversationId, state }));
    session.keepAlive.sent();
  }

  #receiveTyping(conversationId: string, userId: string, typing: boolean): void {
    if (userId === this.userId) return;
    let users = this.#typing.get(conversationId);
    const wasTyping = users?.has(userId) ?? false;
    clearTimeout(users?.get(userId));
    if (typing) {
      if (!users) {
        users = new Map();
        this.#typing.set(conversationId, users);
      }
      users.set(
        userId,
        setTimeout(() => this.#receiveTyping(conversationId, userId, false), TYPING_EXPIRY_MS),
      );
    } else {
      users?.delete(userId);
    }
    if (wasTyping !== typing) this.emit('typing', { conversationId, userId, typing });
  }

  #applyPresence(users: PresenceView[]): void {
    for (const user of users) this.#presence.set(user.userId, user);
    this.emit('presence', users);
  }

  // ---------------------------------------------------------------------------------------
  // Storage
  // ---------------------------------------------------------------------------------------

  async #ready(): Promise<void> {
    if (!this.#loaded) throw new ParleyError(ParleyErrorCode.Closed, 'call connect() first');
    await this.#loaded;
    if (this.#state === ConnectionState.Closed)
      throw new ParleyError(ParleyErrorCode.Closed, 'the client was closed');
  }

  #key(name: string): string {
    return `parley/${this.userId}/${this.deviceId}/${name}`;
  }

  async #load(): Promise<void> {
    if (!this.#userId) {
      // Read once to learn the user; the first connection attempt uses this same token.
      this.#firstToken = await this.#tokenNow();
      this.#userId = userIdOfToken(this.#firstToken);
    }
    const [outbox, cursor, index, acks] = await Promise.all([
      this.#storage.load(this.#key('outbox')),
      this.#storage.load(this.#key('cursor')),
      this.#storage.load(this.#key('conversations')),
      this.#storage.load(this.#key('acks')),
    ]);
    if (Array.isArray(acks)) {
      for (const [conversationId, kinds] of acks as Array<[string, Partial<Record<ReceiptKind, number>>]>) {
        this.#unconfirmedAcks.set(conversationId, kinds);
      }
    }
    this.#outbox = new Outbox(
      this.#options.outboxLimit,
      Array.isArray(outbox) ? (outbox as OutboxItem[]) : [],
    );
    this.#cursor = typeof cursor === 'string' ? cursor : undefined;
    const ids = Array.isArray(index) ? (index as string[]) : [];
    const stored = await Promise.all(ids.map((id) => this.#storage.load(this.#key(`conversation/${id}`))));
    for (const timeline of stored) {
      if (timeline && typeof timeline === 'object') {
        const restored = Timeline.fromJSON(timeline as StoredTimeline);
        this.#timelines.set(restored.conversationId, restored);
      }
    }
    if (this.#timelines.size > 0 || this.#outbox.items().length > 0) this.#scheduleListChanged();
  }

  async #tokenNow(): Promise<string> {
    return typeof this.#options.token === 'string' ? this.#options.token : await this.#options.token();
  }

  /** The outbox is saved before `send` resolves: it is the promise that nothing is lost. */
  async #saveOutbox(): Promise<void> {
    const snapshot = structuredClone(this.#outbox.toJSON());
    this.#saving = this.#saving
      .then(() => this.#storage.save(this.#key('outbox'), snapshot))
      .catch((error: unknown) => this.#report(error));
    await this.#saving;
  }

  /** Timelines and the cursor are saved in a batch shortly after they change. */
  #scheduleSave(): void {
    if (this.#saveTimer) return;
    this.#saveTimer = setTimeout(() => {
      this.#saveTimer = undefined;
      void this.#saveTimelines();
    }, 100);
  }

  async #saveTimelines(): Promise<void> {
    const dirty = [...this.#dirtyTimelines];
    this.#dirtyTimelines.clear();
    const snapshots = dirty.flatMap((id) => {
      const timeline = this.#timelines.get(id);
      return timeline ? [[id, timeline.toJSON()] as const] : [];
    });
    const index = [...this.#timelines.keys()];
    const cursor = this.#cursor;
    const acks = structuredClone([...this.#unconfirmedAcks]);
    this.#saving = this.#saving
      .then(async () => {
        await Promise.all(
          snapshots.map(([id, value]) => this.#storage.save(this.#key(`conversation/${id}`), value)),
        );
        await this.#storage.save(this.#key('conversations'), index);
        if (cursor !== undefined) await this.#storage.save(this.#key('cursor'), cursor);
        await this.#storage.save(this.#key('acks'), acks);
      })
      .catch((error: unknown) => this.#report(error));
    await this.#saving;
  }

  async #flushSaves(): Promise<void> {
    if (this.#saveTimer) {
      clearTimeout(this.#saveTimer);
      this.#saveTimer = undefined;
      await this.#saveTimelines();
    }
    await this.#saving;
  }

  #report(error: unknown): void {
    this.emit(
      'error',
      error instanceof ParleyError
        ? error
        : new ParleyError(ParleyErrorCode.Internal, error instanceof Error ? error.message : String(error)),
    );
  }
}

/** A member's watermarks as the changes `#applyReceipts` takes. */
function receiptChanges(receipts: Receipt[]): Array<{ userId: string; kind: ReceiptKind; seq: number }> {
  return receipts.flatMap((receipt) => [
    { userId: receipt.userId, kind: 'delivered' as const, seq: receipt.deliveredSeq },
    { userId: receipt.userId, kind: 'read' as const, seq: receipt.readSeq },
  ]);
}

function unknownPresence(userId: string): PresenceView {
  return { userId, online: false, lastSeen: null };
}

/** The user id a token is for (its `sub`), read without verifying: the server verifies. */
function userIdOfToken(token: string): string {
  let sub: unknown;
  try {
    sub = decodeJwt(token).sub;
  } catch {
    throw new TypeError('token: not a JWT');
  }
  if (typeof sub !== 'string' || !userIdSchema.safeParse(sub).success) {
    throw new TypeError('token: its sub claim must be a user id');
  }
  return sub;
}
