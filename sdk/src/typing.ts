/**
 * Typing indicators, both ways: this user's (a `start` at most every 3 s while keystrokes
 * come, a `stop` after an idle wait), and the peers' (shown until their `stop`, their
 * message, a lost connection, or 8 s without a `start`).
 */
import type { Identity } from './identity.js';
import type { TypingEvent } from './views.js';

/** A peer that stops sending `typing` is taken to have stopped after this long. */
const TYPING_EXPIRY_MS = 8_000;
/** A `start` is repeated at most this often while the user keeps typing. */
const TYPING_REPEAT_MS = 3_000;

/** What typing needs of the client. */
export interface TypingOptions {
  identity: Identity;
  /** Sends a frame that gets no answer, if connected. */
  send: (frame: Record<string, unknown>) => void;
  /** After this long without a keystroke, the user stopped typing. */
  idleMs: number;
  now: () => number;
  /** A peer started or stopped typing. */
  changed: (event: TypingEvent) => void;
}

/**
 * The typing state of this user and of the peers.
 *
 * @example
 * typing.keystroke('dm:alice:bob'); // sends start now, stop after the idle wait
 * typing.peersIn('dm:alice:bob'); // ['bob']
 */
export class Typing {
  readonly #options: TypingOptions;
  /** conversationId → userId → when the peer's indicator lapses. */
  readonly #peers = new Map<string, Map<string, ReturnType<typeof setTimeout>>>();
  /** conversationId → this user's typing: when the last `start` went, and the idle wait. */
  readonly #own = new Map<string, { lastStartAt: number; idleTimer: ReturnType<typeof setTimeout> }>();

  constructor(options: TypingOptions) {
    this.#options = options;
  }

  /** The user pressed a key in the conversation. */
  keystroke(conversationId: string): void {
    const now = this.#options.now();
    const current = this.#own.get(conversationId);
    if (current) clearTimeout(current.idleTimer);
    const idleTimer = setTimeout(() => this.stop(conversationId), this.#options.idleMs);
    const lastStartAt = !current || now - current.lastStartAt >= TYPING_REPEAT_MS ? now : current.lastStartAt;
    this.#own.set(conversationId, { lastStartAt, idleTimer });
    if (lastStartAt === now) this.#send(conversationId, 'start');
  }

  /** The user stopped typing: says so, if it had said start. */
  stop(conversationId: string): void {
    const current = this.#own.get(conversationId);
    if (!current) return;
    clearTimeout(current.idleTimer);
    this.#own.delete(conversationId);
    this.#send(conversationId, 'stop');
  }

  /**
   * The user sent a message: the peer stops showing "typing" when the message arrives, so
   * no `stop` goes, and the next keystroke starts afresh.
   */
  forget(conversationId: string): void {
    const current = this.#own.get(conversationId);
    if (!current) return;
    clearTimeout(current.idleTimer);
    this.#own.delete(conversationId);
  }

  /** A peer's typing frame, or its message (which ends its typing). */
  receive(conversationId: string, userId: string, typing: boolean): void {
    if (userId === this.#options.identity.userId) return;
    let users = this.#peers.get(conversationId);
    const wasTyping = users?.has(userId) ?? false;
    clearTimeout(users?.get(userId));
    if (typing) {
      if (!users) {
        users = new Map();
        this.#peers.set(conversationId, users);
      }
      users.set(
        userId,
        setTimeout(() => this.receive(conversationId, userId, false), TYPING_EXPIRY_MS),
      );
    } else {
      users?.delete(userId);
    }
    if (wasTyping !== typing) this.#options.changed({ conversationId, userId, typing });
  }

  /** Who is typing in the conversation now. */
  peersIn(conversationId: string): string[] {
    return [...(this.#peers.get(conversationId)?.keys() ?? [])];
  }

  /** The connection was lost: nobody is known to type any more; say so, as a stop would. */
  clearPeers(): void {
    const typing = [...this.#peers].flatMap(([conversationId, users]) =>
      [...users.keys()].map((userId) => ({ conversationId, userId })),
    );
    for (const { conversationId, userId } of typing) this.receive(conversationId, userId, false);
  }

  close(): void {
    for (const { idleTimer } of this.#own.values()) clearTimeout(idleTimer);
    for (const users of this.#peers.values()) for (const timer of users.values()) clearTimeout(timer);
  }

  #send(conversationId: string, state: 'start' | 'stop'): void {
    // No answer comes for typing (but an error might, which the client reports).
    this.#options.send({ action: 'typing', conversationId, state });
  }
}
