/**
 * The client's options and events, and how its parts report to the app.
 */
import { userIdSchema } from '@parley/protocol';
import type { BackoffOptions } from './backoff.js';
import type { BlockChange } from './blocks.js';
import type { ConnectionState } from './connection.js';
import type { ParleyError } from './errors.js';
import type { ParleyStorage } from './storage.js';
import type { ChatMessage, ConversationView, PresenceView, TypingEvent } from './views.js';
import type { WebSocketConstructor } from './websocket.js';

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
  /** A user was blocked or unblocked, on this device or another of the same user (protocol 1.3). */
  block: BlockChange;
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
   * After this long without a frame either way, the client sends a `ping`, so that API
   * Gateway, which closes a connection idle for 10 minutes, keeps it open. A ping with no
   * answer within `requestTimeoutMs` means the connection is dead: the client closes it and
   * reconnects. AWS does not document that the server's frames count: should the gateway
   * close a connection that only received for longer than this, the client counts only its
   * own frames from then on. Default 8 minutes (a minute inside the limit after a background tab's
   * timer fires a minute late; docs/adr/0009-keep-alive.md); 0 turns it off.
   *
   * @example
   * new ParleyClient({ url, token, deviceId, keepAliveMs: 4 * 60_000 });
   */
  keepAliveMs?: number;
  /**
   * How long the client gathers the `delivered` and `read` acks of a conversation before it
   * sends one ack of the highest seq of each kind (a `read` alone when it covers
   * `delivered`). Longer sends fewer acks in a busy conversation; shorter shows the peers
   * their ticks sooner. Default 250 ms: a burst of messages and the read of an open
   * conversation right after them go as one ack.
   *
   * @example
   * new ParleyClient({ url, token, deviceId, ackWindowMs: 1_000 });
   */
  ackWindowMs?: number;
  /** After this long without a keystroke, typing stops by itself. Default 5 s. */
  typingIdleMs?: number;
  /** The clock, for tests. */
  now?: () => number;
  /** Uniform in [0, 1), for the backoff jitter; for tests. */
  random?: () => number;
}

/** Where `send` goes: to a user, or into a conversation (one-to-one `dm:…` or a group `grp:…`). */
export type SendTarget = { to: string } | { conversationId: string };

/** Reports an event of the client to the app. */
export type EmitEvent = <Name extends keyof ParleyClientEvents>(
  event: Name,
  payload: ParleyClientEvents[Name],
) => void;

/** The WebSocket class to use, once the options that cannot work are refused. */
export function checkedWebSocket(options: ParleyClientOptions): WebSocketConstructor {
  const deviceId = userIdSchema.safeParse(options.deviceId);
  if (!deviceId.success) throw new TypeError(`deviceId: ${deviceId.error.issues[0]?.message}`);
  const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!WebSocketClass)
    throw new TypeError('WebSocket: none in this environment; pass one (e.g. from the ws package)');
  const { keepAliveMs } = options;
  if (keepAliveMs !== undefined && !(Number.isFinite(keepAliveMs) && keepAliveMs >= 0)) {
    throw new TypeError('keepAliveMs: must be a number of milliseconds, 0 or more (0 turns it off)');
  }
  const { ackWindowMs } = options;
  if (ackWindowMs !== undefined && !(Number.isFinite(ackWindowMs) && ackWindowMs >= 0)) {
    throw new TypeError('ackWindowMs: must be a number of milliseconds, 0 or more');
  }
  return WebSocketClass;
}
