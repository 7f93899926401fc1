/**
 * The Parley client: one device of one user. It keeps a connection open (reconnecting by
 * itself), sends what the user writes through a persisted outbox until the server
 * confirms it, keeps each conversation in `seq` order with no repeats and no gaps, catches
 * up after time away with the conversations cursor, acknowledges delivery by itself, and
 * reports everything as typed events. docs/protocol.md is the contract it speaks.
 *
 * This class is the facade: client-parts.ts makes the parts and wires them to each other.
 */

import {
  directConversationId,
  isGroupConversationId,
  membersOf,
  messageBodySchema,
  type PushAddress,
  type PushRegisteredFrame,
  type PushUnregisteredFrame,
  userIdSchema,
} from '@parley/protocol';
import type { ParleyClientEvents, ParleyClientOptions, SendTarget } from './client-options.js';
import { type ClientParts, makeClientParts } from './client-parts.js';
import { ConnectionState } from './connection.js';
import { TypedEmitter } from './emitter.js';
import { ParleyError, ParleyErrorCode } from './errors.js';
import type { CreatedGroup, CreateGroupOptions, GroupChange, GroupInfo } from './groups.js';
import { newClientMessageId, userIdOfToken } from './identity.js';
import type { OutboxItem } from './outbox.js';
import { checkedPushAddress } from './push.js';
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
  readonly #parts: ClientParts;
  #loaded: Promise<void> | undefined;

  constructor(options: ParleyClientOptions) {
    super();
    this.deviceId = options.deviceId;
    this.#parts = makeClientParts(options, (event, payload) => this.emit(event, payload));
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
    return this.#parts.identity.userId;
  }

  /** Where the connection stands. */
  get state(): ConnectionState {
    return this.#parts.connection.state;
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
    if (this.#parts.connection.state !== ConnectionState.Idle) return this.#loaded;
    this.#loaded = this.#parts.connection.start(() => this.#load());
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
    if (this.#parts.connection.state === ConnectionState.Closed) return;
    this.#parts.connection.close();
    this.#parts.sender.close();
    this.#parts.catchUp.close();
    this.#parts.retry.close();
    this.#parts.receipts.close();
    this.#parts.typing.close();
    this.#parts.groups.close();
    this.#parts.conversations.close();
    this.#parts.presence.close();
    await this.#loaded?.catch(() => undefined);
    await this.#parts.persistence.flush();
  }

  /**
   * Queues a message and sends it as soon as the connection allows, retrying with the
   * same `clientMessageId` until the server confirms it. Resolves once it is stored in
   * the outbox (status `pending`); `message` events report its progress. A body the server
   * would refuse (empty, over 4,096 characters, a lone surrogate) throws a `bad_request`
   * `ParleyError` and is not queued. Into a group (`{ conversationId: 'grp:…' }`), it goes
   * after the group's creation when that is still in the outbox.
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
    if (!membersOf(conversationId)?.includes(this.userId) && !isGroupConversationId(conversationId)) {
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
      createdAt: this.#parts.now(),
      status: 'pending',
      attempts: 0,
    };
    this.#parts.outbox.add(item);
    this.#parts.typing.forget(conversationId);
    return this.#parts.sender.queued(item);
  }

  /**
   * Creates a group with this user as admin: queued like a message (online or not), sent
   * before anything written into the group after it, and resolved once the server answers
   * (a resend after a lost answer creates nothing twice). A bad title or member list throws
   * a `bad_request` `ParleyError` naming the field, and queues nothing.
   *
   * @example
   * const { conversationId } = await client.createGroup({ title: 'Lunch', members: ['bob', 'carol'] });
   * await client.send({ conversationId }, 'pizza?');
   */
  async createGroup(options: CreateGroupOptions): Promise<CreatedGroup> {
    await this.#ready();
    return this.#parts.groups.create(options);
  }

  /**
   * Adds users to a group (admins only); those already in are left as they are. Resolves
   * with the seq of the `members-added` event, or null when nobody was added.
   *
   * @example
   * await client.addMembers('grp:7f3c', ['dave']);
   */
  async addMembers(conversationId: string, members: string[]): Promise<GroupChange> {
    await this.#ready();
    return this.#parts.groups.change({ action: 'addMembers', conversationId, members: [...members] });
  }

  /**
   * Removes a member (admins only); `leaveGroup` removes this user.
   *
   * @example
   * await client.removeMember('grp:7f3c', 'dave');
   */
  async removeMember(conversationId: string, userId: string): Promise<GroupChange> {
    await this.#ready();
    return this.#parts.groups.change({ action: 'removeMember', conversationId, userId });
  }

  /**
   * Leaves a group: this user gets nothing after its removal, and keeps what it had.
   *
   * @example
   * await client.leaveGroup('grp:7f3c');
   */
  async leaveGroup(conversationId: string): Promise<GroupChange> {
    return this.removeMember(conversationId, this.userId);
  }

  /**
   * Renames a group (admins only).
   *
   * @example
   * await client.setTitle('grp:7f3c', 'Dinner');
   */
  async setTitle(conversationId: string, title: string): Promise<GroupChange> {
    await this.#ready();
    return this.#parts.groups.change({ action: 'setTitle', conversationId, title });
  }

  /**
   * Makes a member admin, or not (admins only; the last admin cannot step down).
   *
   * @example
   * await client.setAdmin('grp:7f3c', 'bob', true);
   */
  async setAdmin(conversationId: string, userId: string, admin: boolean): Promise<GroupChange> {
    await this.#ready();
    return this.#parts.groups.change({ action: 'setAdmin', conversationId, userId, admin });
  }

  /**
   * A group's title, creator and every member (all pages), for its current members.
   *
   * @example
   * const { members } = await client.groupInfo('grp:7f3c');
   */
  async groupInfo(conversationId: string): Promise<GroupInfo> {
    await this.#ready();
    return this.#parts.groups.info(conversationId);
  }

  /**
   * Puts a failed message back in the outbox, with its `clientMessageId`.
   *
   * @example
   * client.on('message', (m) => m.status === MessageStatus.Failed && client.retry(m.clientMessageId));
   */
  async retry(clientMessageId: string): Promise<void> {
    await this.#parts.sender.retry(clientMessageId);
  }

  /**
   * The conversation's messages: stored ones by `seq`, then pending ones in the order written.
   *
   * @example
   * for (const m of client.messages('dm:alice:bob')) console.log(m.seq ?? '…', m.body);
   */
  messages(conversationId: string): ChatMessage[] {
    return this.#parts.conversations.messages(conversationId);
  }

  /**
   * The conversation list, newest first, with unread counts.
   *
   * @example
   * for (const c of client.conversations()) console.log(c.peerId, c.unread, c.lastMessage?.body);
   */
  conversations(): ConversationView[] {
    return this.#parts.conversations.list();
  }

  /**
   * Messages from others after this user's read watermark.
   *
   * @example
   * document.title = `(${client.unreadCount('dm:alice:bob')}) Parley`;
   */
  unreadCount(conversationId: string): number {
    return this.#parts.conversations.unreadCount(conversationId);
  }

  /**
   * Marks everything this device holds of the conversation as read, on all of the user's
   * devices (the server's `receipt` event clears the unread count everywhere). The count
   * here drops at once; the ack goes at the end of the `ackWindowMs` window.
   *
   * @example
   * await client.markRead('dm:alice:bob');
   */
  async markRead(conversationId: string): Promise<void> {
    await this.#parts.receipts.markRead(conversationId);
  }

  /**
   * Call on every keystroke: tells the peer the user is typing (at most every few
   * seconds), and that the user stopped after `typingIdleMs` without one.
   *
   * @example
   * input.addEventListener('input', () => client.typing(conversationId));
   */
  typing(conversationId: string): void {
    this.#parts.typing.keystroke(conversationId);
  }

  /**
   * Tells the peer the user stopped typing (sending a message does so too).
   *
   * @example
   * input.addEventListener('blur', () => client.stopTyping(conversationId));
   */
  stopTyping(conversationId: string): void {
    this.#parts.typing.stop(conversationId);
  }

  /**
   * Who is typing in the conversation now.
   *
   * @example
   * const typing = client.typingIn('dm:alice:bob'); // ['bob']
   */
  typingIn(conversationId: string): string[] {
    return this.#parts.typing.peersIn(conversationId);
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
    return this.#parts.presence.subscribe(userIds);
  }

  /**
   * The last presence known of a subscribed user.
   *
   * @example
   * client.presenceOf('bob')?.online;
   */
  presenceOf(userId: string): PresenceView | undefined {
    return this.#parts.presence.get(userId);
  }

  /**
   * Blocks a user (protocol 1.3): neither of you can write to the other in your one-to-one
   * conversation, its typing stops reaching you, and it sees your presence as a stranger's.
   * Your other devices learn it too (`block` event). Blocking yourself is `bad_request`.
   *
   * @example
   * await client.block('mallory');
   */
  async block(userId: string): Promise<void> {
    await this.#ready();
    await this.#parts.blocks.block(userId);
  }

  /**
   * Takes a block back.
   *
   * @example
   * await client.unblock('mallory');
   */
  async unblock(userId: string): Promise<void> {
    await this.#ready();
    await this.#parts.blocks.unblock(userId);
  }

  /**
   * The users you block, read from the server (every page); from then on the list is
   * read again on every reconnect, and `block` events report its changes.
   *
   * @example
   * const blocked = await client.blocks(); // ['mallory']
   */
  async blocks(): Promise<string[]> {
    await this.#ready();
    return this.#parts.blocks.list();
  }

  /**
   * Whether this device knows the user to be blocked: after `block()`, `blocks()` or a
   * `block` event.
   *
   * @example
   * sendButton.disabled = client.isBlocked('mallory');
   */
  isBlocked(userId: string): boolean {
    return this.#parts.blocks.has(userId);
  }

  /**
   * Registers where the server pushes to this device while it has no open connection
   * (protocol 1.4), replacing the device's earlier address; it outlives connections, so
   * register again only when the subscription or token changes. Needs a connection: while
   * offline it rejects with `connection_lost` (as `block` does); retry once `connected`.
   *
   * @example
   * await client.registerPush(webPushAddressOf(subscription.toJSON()));
   * await client.registerPush({ kind: 'apns', token: deviceTokenHex });
   */
  async registerPush(address: PushAddress): Promise<void> {
    const push = checkedPushAddress(address);
    await this.#ready();
    await this.#parts.connection.request<PushRegisteredFrame>({ action: 'registerPush', push });
  }

  /**
   * Stops pushes to this device (at sign-out, or when the user turns notifications off).
   * Resolves also when it had no registration; offline, rejects as `registerPush` does.
   *
   * @example
   * await client.unregisterPush();
   */
  async unregisterPush(): Promise<void> {
    await this.#ready();
    await this.#parts.connection.request<PushUnregisteredFrame>({ action: 'unregisterPush' });
  }

  /**
   * Skips the rest of the backoff wait and tries to connect now: for an app that learns
   * the network is back (the browser's `online` event, a return to the foreground).
   *
   * @example
   * window.addEventListener('online', () => client.reconnectNow());
   */
  reconnectNow(): void {
    this.#parts.connection.reconnectNow();
  }

  /**
   * Checks now that the connection works, rather than waiting for the keep-alive, which
   * notices a dead connection only after up to 16 minutes of silence: it pings and resolves
   * with `true` on the answer. With no answer within `requestTimeoutMs` it closes the
   * connection, reconnects and resolves with `false`; not connected, it resolves with `false`
   * and, when waiting out the backoff, tries to connect now (as `reconnectNow()`). Never
   * rejects. For an app that comes back to the foreground or learns the network changed.
   *
   * @example
   * document.addEventListener('visibilitychange', () => {
   *   if (document.visibilityState === 'visible') void client.checkConnection();
   * });
   * window.addEventListener('online', () => void client.checkConnection());
   */
  checkConnection(): Promise<boolean> {
    return this.#parts.connection.checkNow();
  }

  /**
   * How many messages wait in the outbox.
   *
   * @example
   * banner.textContent = `${client.pendingCount()} messages queued`;
   */
  pendingCount(): number {
    return this.#parts.outbox.pendingCount;
  }

  async #load(): Promise<void> {
    if (!this.#parts.identity.userId) {
      // Read once to learn the user; the first connection attempt uses this same token.
      this.#parts.identity.userId = userIdOfToken(await this.#parts.connection.firstToken());
    }
    const stored = await this.#parts.persistence.load();
    this.#parts.receipts.restore(stored.acks);
    this.#parts.outbox.restore(stored.outbox);
    this.#parts.catchUp.restore(stored.cursor);
    this.#parts.conversations.restore(stored.timelines);
    if (this.#parts.conversations.timelines.size > 0 || this.#parts.outbox.items().length > 0)
      this.#parts.conversations.scheduleListChanged();
  }

  async #ready(): Promise<void> {
    if (!this.#loaded) throw new ParleyError(ParleyErrorCode.Closed, 'call connect() first');
    await this.#loaded;
    if (this.#parts.connection.state === ConnectionState.Closed)
      throw new ParleyError(ParleyErrorCode.Closed, 'the client was closed');
  }

  #conversationWith(peerId: string): string {
    const checked = userIdSchema.safeParse(peerId);
    if (!checked.success)
      throw new ParleyError(ParleyErrorCode.BadRequest, `to: ${checked.error.issues[0]?.message}`);
    if (peerId === this.userId) throw new ParleyError(ParleyErrorCode.BadRequest, 'to: must be another user');
    return directConversationId(this.userId, peerId);
  }
}
