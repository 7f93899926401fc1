/**
 * The Parley client: one device of one user. It keeps a connection open (reconnecting by
 * itself), sends what the user writes through a persisted outbox until the server
 * confirms it, keeps each conversation in `seq` order with no repeats and no gaps, catches
 * up after time away with the conversations cursor, acknowledges delivery by itself, and
 * reports everything as typed events. docs/protocol.md is the contract it speaks.
 *
 * This class wires the parts, each owning its own state: the connection (transport only),
 * the outbox sender, the catch-up, the receipts, typing, presence, the conversations and
 * their persistence.
 */

import {
  directConversationId,
  membersOf,
  messageBodySchema,
  type ServerFrame,
  userIdSchema,
} from '@parley/protocol';
import { Backoff } from './backoff.js';
import { CatchUp } from './catch-up.js';
import {
  checkedWebSocket,
  type EmitEvent,
  type ParleyClientEvents,
  type ParleyClientOptions,
  type SendTarget,
} from './client-options.js';
import { ConnectionState, ReconnectingConnection } from './connection.js';
import { Conversations } from './conversations.js';
import { TypedEmitter } from './emitter.js';
import { codeOf, ParleyError, ParleyErrorCode, toParleyError } from './errors.js';
import { type Identity, newClientMessageId, userIdOfToken } from './identity.js';
import { DEFAULT_KEEP_ALIVE_MS } from './keep-alive.js';
import { Outbox, type OutboxItem } from './outbox.js';
import { OutboxSender } from './outbox-sender.js';
import { Persistence } from './persistence.js';
import { Presence } from './presence.js';
import { Receipts } from './receipts.js';
import { MemoryStorage } from './storage.js';
import { Typing } from './typing.js';
import type { ChatMessage, ConversationView, PresenceView } from './views.js';

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
  readonly #identity: Identity;
  readonly #now: () => number;
  readonly #connection: ReconnectingConnection;
  readonly #outbox: Outbox;
  readonly #persistence: Persistence;
  readonly #conversations: Conversations;
  readonly #sender: OutboxSender;
  readonly #catchUp: CatchUp;
  readonly #receipts: Receipts;
  readonly #typing: Typing;
  readonly #presence: Presence;
  #loaded: Promise<void> | undefined;

  constructor(options: ParleyClientOptions) {
    super();
    const WebSocketClass = checkedWebSocket(options);
    this.deviceId = options.deviceId;
    // With a token provider the user is known once `connect()` has read the first token.
    const userId = typeof options.token === 'string' ? userIdOfToken(options.token) : '';
    const identity: Identity = { userId, deviceId: options.deviceId };
    this.#identity = identity;
    this.#now = options.now ?? Date.now;
    const emit: EmitEvent = (event, payload) => this.emit(event, payload);
    const report = (error: unknown) => this.emit('error', toParleyError(error));
    const backoff = new Backoff(options.reconnect, options.random ?? Math.random);
    const connection = new ReconnectingConnection({
      url: options.url,
      deviceId: options.deviceId,
      token: options.token,
      WebSocket: WebSocketClass,
      backoff,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      keepAliveMs: options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS,
      now: this.#now,
    });
    this.#connection = connection;
    const outbox = new Outbox(options.outboxLimit ?? 1_000);
    this.#outbox = outbox;
    const persistence = new Persistence({
      storage: options.storage ?? new MemoryStorage(),
      identity,
      outbox,
      state: () => ({
        timelines: this.#conversations.timelines,
        cursor: this.#catchUp.cursor,
        acks: this.#receipts.unconfirmed(),
      }),
      report,
    });
    this.#persistence = persistence;
    this.#typing = new Typing({
      identity,
      send: (frame) => connection.send(frame),
      idleMs: options.typingIdleMs ?? 5_000,
      now: this.#now,
      changed: (event) => this.emit('typing', event),
    });
    const conversations = new Conversations({
      identity,
      outbox,
      persistence,
      emit,
      onPeerMessage: (conversationId, peerId) => this.#typing.receive(conversationId, peerId, false),
      onAdded: (timeline) => {
        if (timeline.hasGap) this.#catchUp.requestSync(timeline.conversationId);
        this.#receipts.scheduleDelivered(timeline);
      },
    });
    this.#conversations = conversations;
    const caughtUp = (moved: string[]) => this.emit('caughtUp', { moved });
    this.#catchUp = new CatchUp({ connection, conversations, persistence, caughtUp, report });
    this.#receipts = new Receipts({ identity, connection, conversations, persistence, backoff, report });
    this.#presence = new Presence({ connection, changed: (users) => this.emit('presence', users) });
    this.#sender = new OutboxSender({
      identity,
      outbox,
      connection,
      conversations,
      persistence,
      backoff,
      emit,
    });
    connection.on('state', (state) => this.emit('state', state));
    connection.on('open', () => void this.#onOpen());
    connection.on('lost', () => this.#typing.clearPeers());
    connection.on('frame', (frame) => this.#onFrame(frame));
    connection.on('error', report);
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
    return this.#identity.userId;
  }

  /** Where the connection stands. */
  get state(): ConnectionState {
    return this.#connection.state;
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
    if (this.#connection.state !== ConnectionState.Idle) return this.#loaded;
    this.#loaded = this.#connection.start(() => this.#load());
    try {
      await this.#loaded;
    } catch (error) {
      // Storage or the token provider failed: nothing started, so connect() may be called again.
      this.#loaded = undefined;
      throw error;
    }
  }

  /**
   * Closes the connection for good, after saving what is not saved yet. Pending requests
   * fail with `closed`; the outbox stays stored for the next client.
   *
   * @example
   * await client.close();
   */
  async close(): Promise<void> {
    if (this.#connection.state === ConnectionState.Closed) return;
    this.#connection.close();
    this.#sender.close();
    this.#receipts.close();
    this.#typing.close();
    this.#conversations.close();
    await this.#loaded?.catch(() => undefined);
    await this.#persistence.flush();
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
    this.#typing.forget(conversationId);
    return this.#sender.queued(item);
  }

  /**
   * Puts a failed message back in the outbox, with its `clientMessageId`.
   *
   * @example
   * client.on('message', (m) => m.status === MessageStatus.Failed && client.retry(m.clientMessageId));
   */
  async retry(clientMessageId: string): Promise<void> {
    await this.#sender.retry(clientMessageId);
  }

  /**
   * The conversation's messages: stored ones by `seq`, then pending ones in the order written.
   *
   * @example
   * for (const m of client.messages('dm:alice:bob')) console.log(m.seq ?? '…', m.body);
   */
  messages(conversationId: string): ChatMessage[] {
    return this.#conversations.messages(conversationId);
  }

  /**
   * The conversation list, newest first, with unread counts.
   *
   * @example
   * for (const c of client.conversations()) console.log(c.peerId, c.unread, c.lastMessage?.body);
   */
  conversations(): ConversationView[] {
    return this.#conversations.list();
  }

  /**
   * Messages from others after this user's read watermark.
   *
   * @example
   * document.title = `(${client.unreadCount('dm:alice:bob')}) Parley`;
   */
  unreadCount(conversationId: string): number {
    return this.#conversations.unreadCount(conversationId);
  }

  /**
   * Marks everything this device holds of the conversation as read, on all of the user's
   * devices (the server's `receipt` event clears the unread count everywhere).
   *
   * @example
   * await client.markRead('dm:alice:bob');
   */
  async markRead(conversationId: string): Promise<void> {
    await this.#receipts.markRead(conversationId);
  }

  /**
   * Call on every keystroke: tells the peer the user is typing (at most every few
   * seconds), and that the user stopped after `typingIdleMs` without one.
   *
   * @example
   * input.addEventListener('input', () => client.typing(conversationId));
   */
  typing(conversationId: string): void {
    this.#typing.keystroke(conversationId);
  }

  /**
   * Tells the peer the user stopped typing (sending a message does so too).
   *
   * @example
   * input.addEventListener('blur', () => client.stopTyping(conversationId));
   */
  stopTyping(conversationId: string): void {
    this.#typing.stop(conversationId);
  }

  /**
   * Who is typing in the conversation now.
   *
   * @example
   * const typing = client.typingIn('dm:alice:bob'); // ['bob']
   */
  typingIn(conversationId: string): string[] {
    return this.#typing.peersIn(conversationId);
  }

  /**
   * Subscribes this connection to the users' presence (and again after every reconnect).
   * Resolves with their presence now; `presence` events bring the changes.
   *
   * @example
   * const [bob] = await client.subscribePresence(['bob']);
   * console.log(bob.online ? 'online' : `last seen ${bob.lastSeen}`);
   */
  subscribePresence(userIds: string[]): Promise<PresenceView[]> {
    return this.#presence.subscribe(userIds);
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
    this.#connection.reconnectNow();
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

  async #load(): Promise<void> {
    if (!this.#identity.userId) {
      // Read once to learn the user; the first connection attempt uses this same token.
      this.#identity.userId = userIdOfToken(await this.#connection.firstToken());
    }
    const stored = await this.#persistence.load();
    this.#receipts.restore(stored.acks);
    this.#outbox.restore(stored.outbox);
    this.#catchUp.restore(stored.cursor);
    this.#conversations.restore(stored.timelines);
    if (this.#conversations.timelines.size > 0 || this.#outbox.items().length > 0)
      this.#conversations.scheduleListChanged();
  }

  async #ready(): Promise<void> {
    if (!this.#loaded) throw new ParleyError(ParleyErrorCode.Closed, 'call connect() first');
    await this.#loaded;
    if (this.#connection.state === ConnectionState.Closed)
      throw new ParleyError(ParleyErrorCode.Closed, 'the client was closed');
  }

  /** A new connection: what waits goes out, then the catch-up, the acks and the presence subscriptions. */
  async #onOpen(): Promise<void> {
    // Queued messages first: they are what the user is waiting for.
    this.#sender.flushAll();
    try {
      await this.#catchUp.run();
      // What was read or received while the connection was down is acknowledged now.
      this.#receipts.resendUnconfirmed();
      for (const timeline of this.#conversations.timelines.values())
        this.#receipts.scheduleDelivered(timeline);
      await this.#presence.resubscribe();
    } catch (error) {
      // A lost connection retries all of this on the next open.
      if (codeOf(error) !== ParleyErrorCode.ConnectionLost) this.emit('error', toParleyError(error));
    }
  }

  /** An event of the server, handed to the part it concerns. */
  #onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'message':
        this.#conversations.receive(frame.conversationId, [frame]);
        break;
      case 'receipt': {
        const timeline = this.#conversations.timeline(frame.conversationId);
        const change = { userId: frame.userId, kind: frame.kind, seq: frame.seq };
        this.#conversations.applyReceipts(timeline, [change]);
        if (timeline.hasGap) this.#catchUp.requestSync(frame.conversationId);
        break;
      }
      case 'typing':
        this.#typing.receive(frame.conversationId, frame.userId, frame.state === 'start');
        break;
      case 'presence':
        this.#presence.apply(frame.users);
        break;
      case 'error':
        this.emit('error', new ParleyError(frame.code, frame.message));
        break;
    }
  }

  #conversationWith(peerId: string): string {
    const checked = userIdSchema.safeParse(peerId);
    if (!checked.success)
      throw new ParleyError(ParleyErrorCode.BadRequest, `to: ${checked.error.issues[0]?.message}`);
    if (peerId === this.userId) throw new ParleyError(ParleyErrorCode.BadRequest, 'to: must be another user');
    return directConversationId(this.userId, peerId);
  }
}
