/**
 * Sends the outbox: per conversation, one item in flight at a time, in the order written,
 * each with its `clientMessageId` until the server answers `sent`. A group's creation is an
 * item of the group's conversation too, so the messages written into a group created
 * offline never overtake its creation; it goes as `createGroup` with the group's id until
 * the server answers `groupChanged`. A refusal the server will repeat (bad_request,
 * forbidden, too_large) makes the item `failed`; any other error sends it again after a
 * backoff, and a lost connection on the next open.
 *
 * The server remembers a `clientMessageId` for IDEMPOTENCY_KEY_DAYS only. A message written
 * more than a day ago may have been stored long ago with its answer lost, so on a new
 * connection it waits until the catch-up has read its conversation: if it is there, the
 * catch-up confirms it and it is never sent again (docs/adr/0009-keep-alive.md).
 */
import type { GroupChangedFrame, Message, SentFrame } from '@parley/protocol';
import { type Backoff, KeyedWaits } from './backoff.js';
import type { EmitEvent } from './client-options.js';
import type { ReconnectingConnection } from './connection.js';
import type { Conversations } from './conversations.js';
import { codeOf, isDisconnect, isFinal, type ParleyError, ParleyErrorCode, toParleyError } from './errors.js';
import type { Identity } from './identity.js';
import type { Outbox, OutboxEntry, OutboxGroupItem, OutboxItem } from './outbox.js';
import type { Persistence } from './persistence.js';
import { type ChatMessage, viewOfPending } from './views.js';

/**
 * Messages written longer ago than this wait for the catch-up before they go again. A day,
 * far inside the server's memory of keys (IDEMPOTENCY_KEY_DAYS), so that a device clock off
 * by hours, or a message stored a while after it was written, still finds its key there.
 */
export const CHECK_BEFORE_RESEND_AFTER_MS = 24 * 60 * 60 * 1000;

/** What the sender needs of the client. */
export interface OutboxSenderOptions {
  identity: Identity;
  outbox: Outbox;
  connection: Pick<ReconnectingConnection, 'request' | 'isOpen'>;
  conversations: Conversations;
  persistence: Persistence;
  /** The delays before a message is sent again after an error. */
  backoff: Backoff;
  emit: EmitEvent;
  now: () => number;
  /**
   * A group's creation was answered (the last seq it made), or refused: true when a call
   * was waiting for it (a refusal is then that call's error, not an `error` event).
   */
  creationSettled?: (item: OutboxGroupItem, outcome: { seq: number } | { error: ParleyError }) => boolean;
}

/**
 * The sending of the outbox.
 *
 * @example
 * outbox.add(item);
 * await sender.queued(item); // saved, reported as pending, sent when possible
 * connection.on('open', () => sender.flushAll());
 */
export class OutboxSender {
  readonly #options: OutboxSenderOptions;
  /** The server refused `echo` (it is older than protocol 1.5): sends go without it. */
  #echoRefused = false;
  /** Conversations whose outbox is being sent (one message in flight each). */
  readonly #flushing = new Set<string>();
  /** Conversations waiting out a backoff before their next message goes again. */
  readonly #retryWaits: KeyedWaits;
  /** Conversations the catch-up of this connection has read: their old messages may go. */
  readonly #caughtUp = new Set<string>();

  constructor(options: OutboxSenderOptions) {
    this.#options = options;
    this.#retryWaits = new KeyedWaits(options.backoff);
  }

  /** An item was added to the outbox: saves it, reports it pending, and sends it when it can. */
  async queued(item: OutboxEntry): Promise<ChatMessage> {
    await this.#options.persistence.saveOutbox();
    const message = this.#pendingView(item);
    this.#options.emit('message', message);
    this.#options.conversations.scheduleListChanged();
    this.flush(item.conversationId);
    return message;
  }

  /** Puts a failed message back in line, with its `clientMessageId`. */
  async retry(clientMessageId: string): Promise<void> {
    const item = this.#options.outbox.retry(clientMessageId);
    if (!item) return;
    await this.#options.persistence.saveOutbox();
    this.#options.emit('message', this.#pendingView(item));
    this.flush(item.conversationId);
  }

  /** A new connection: old messages wait for its catch-up again. */
  opened(): void {
    this.#caughtUp.clear();
  }

  /** The catch-up has read the conversation: its old messages that are still here go out. */
  caughtUp(conversationId: string): void {
    this.#caughtUp.add(conversationId);
    this.flush(conversationId);
  }

  /** Sends every conversation's pending messages: for a new connection. */
  flushAll(): void {
    for (const conversationId of this.#options.outbox.conversationsWithPending()) this.flush(conversationId);
  }

  /** Sends the conversation's pending messages one at a time, in the order written. */
  flush(conversationId: string): void {
    if (this.#flushing.has(conversationId) || !this.#options.connection.isOpen) return;
    if (this.#retryWaits.has(conversationId)) return;
    this.#flushing.add(conversationId);
    void this.#flushLoop(conversationId).finally(() => this.#flushing.delete(conversationId));
  }

  close(): void {
    this.#retryWaits.cancelAll();
  }

  async #flushLoop(conversationId: string): Promise<void> {
    const { outbox, connection } = this.#options;
    for (;;) {
      const item = outbox.nextFor(conversationId);
      if (!item || !connection.isOpen || this.#waitsForCatchUp(item)) return;
      item.attempts += 1;
      try {
        if (item.kind === 'group-created') await this.#create(item);
        else this.#confirm(item, await this.#send(item));
      } catch (error) {
        if (isFinal(codeOf(error))) {
          await this.#fail(item, error);
          continue;
        }
        // Retryable: the same clientMessageId goes again after a backoff, or on reconnect.
        if (!isDisconnect(codeOf(error))) this.#retryLater(conversationId, item.attempts);
        return;
      }
    }
  }

  /** An old message whose conversation the catch-up has not read yet on this connection. */
  #waitsForCatchUp(item: OutboxEntry): boolean {
    if (item.kind === 'group-created' || this.#caughtUp.has(item.conversationId)) return false;
    return this.#options.now() - item.createdAt >= CHECK_BEFORE_RESEND_AFTER_MS;
  }

  async #send(item: OutboxItem): Promise<SentFrame> {
    const frame = {
      action: 'send',
      ...(item.to ? { to: item.to } : { conversationId: item.conversationId }),
      clientMessageId: item.clientMessageId,
      body: item.body,
    };
    if (!this.#echoRefused) {
      try {
        // Protocol 1.5: the `sent` answer gives this device its message (`#confirm`), so the
        // server spares the post of the same message back to this connection.
        return await this.#options.connection.request<SentFrame>({ ...frame, echo: false });
      } catch (error) {
        if (!refusesEcho(error)) throw error;
        // A server older than 1.5 refuses the field, and stores nothing: send as 1.4 did, and
        // from now on, rather than fail every message while a backend is rolled back.
        this.#echoRefused = true;
      }
    }
    return this.#options.connection.request<SentFrame>(frame);
  }

  /**
   * Creates the group; a repeat after a lost answer gets the first answer (`duplicate`).
   * Its events come as `message` events, as to every member (or, if one is missed, as the
   * gap before the group's next message).
   */
  async #create(item: OutboxGroupItem): Promise<void> {
    const { connection, outbox, persistence, conversations } = this.#options;
    const answer = await connection.request<GroupChangedFrame>({
      action: 'createGroup',
      conversationId: item.conversationId,
      title: item.title,
      members: item.members,
    });
    const seq = answer.seq ?? 1;
    outbox.remove(item.clientMessageId);
    await persistence.saveOutbox();
    conversations.scheduleListChanged();
    this.#options.creationSettled?.(item, { seq });
  }

  /**
   * The server stored it: the message joins its timeline (and leaves the outbox) once. This
   * is how the sending device gets its own message: it asks for no echo (`#send`). A seq
   * past the ones it holds is a gap, filled by `sync` as for any message.
   */
  #confirm(item: OutboxItem, sent: SentFrame): void {
    const { identity } = this.#options;
    const message: Message = {
      conversationId: sent.conversationId,
      seq: sent.seq,
      messageId: sent.messageId,
      clientMessageId: item.clientMessageId,
      senderId: identity.userId,
      senderDeviceId: identity.deviceId,
      kind: 'text',
      body: item.body,
      serverTs: sent.serverTs,
    };
    // A `message` event may still come (a resend answered `duplicate` is posted to every
    // device): whichever comes first stores it, once.
    this.#options.conversations.receive(sent.conversationId, [message]);
  }

  async #fail(item: OutboxEntry, error: unknown): Promise<void> {
    this.#options.outbox.markFailed(
      item.clientMessageId,
      error instanceof Error ? error.message : String(error),
    );
    await this.#options.persistence.saveOutbox();
    this.#options.emit('message', this.#pendingView(item));
    const refused = toParleyError(error);
    const awaited =
      item.kind === 'group-created' && this.#options.creationSettled?.(item, { error: refused });
    if (!awaited) this.#options.emit('error', refused);
  }

  #retryLater(conversationId: string, attempts: number): void {
    this.#retryWaits.wait(conversationId, attempts, () => this.flush(conversationId));
  }

  #pendingView(item: OutboxEntry): ChatMessage {
    return viewOfPending(item, this.#options.identity.deviceId);
  }
}

/** How a 1.0 to 1.4 server refuses a field it does not know (`protocol/src/client-frames.ts`). */
const ECHO_UNKNOWN = 'echo: is not a field of this action';

function refusesEcho(error: unknown): boolean {
  return codeOf(error) === ParleyErrorCode.BadRequest && (error as ParleyError).message === ECHO_UNKNOWN;
}
