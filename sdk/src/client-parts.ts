/**
 * The parts of a client, made and wired to one another: what follows when messages arrive,
 * when a connection opens, and which part each event of the server goes to. Each part owns
 * its own state: the connection (transport only), the outbox and its sender, the catch-up,
 * the receipts, typing, presence, groups, the conversations and their persistence. The
 * facade (`ParleyClient`, client.ts) holds them and offers the app its methods.
 */
import { isGroupConversationId, type ServerFrame } from '@parley/protocol';
import { Backoff } from './backoff.js';
import { Blocks } from './blocks.js';
import { CatchUp } from './catch-up.js';
import { checkedWebSocket, type EmitEvent, type ParleyClientOptions } from './client-options.js';
import { ReconnectingConnection } from './connection.js';
import { Conversations } from './conversations.js';
import { codeOf, isDisconnect, ParleyError, toParleyError } from './errors.js';
import { Groups } from './groups.js';
import { type Identity, userIdOfToken } from './identity.js';
import { DEFAULT_KEEP_ALIVE_MS } from './keep-alive.js';
import { Outbox } from './outbox.js';
import { OutboxSender } from './outbox-sender.js';
import { Persistence } from './persistence.js';
import { Presence } from './presence.js';
import { DEFAULT_ACK_WINDOW_MS, Receipts } from './receipts.js';
import { TransientRetry } from './retry.js';
import { MemoryStorage } from './storage.js';
import { Typing } from './typing.js';

/** The parts of one client. */
export interface ClientParts {
  identity: Identity;
  now: () => number;
  connection: ReconnectingConnection;
  outbox: Outbox;
  persistence: Persistence;
  conversations: Conversations;
  sender: OutboxSender;
  catchUp: CatchUp;
  receipts: Receipts;
  typing: Typing;
  presence: Presence;
  groups: Groups;
  blocks: Blocks;
  /** Retries the requests of an open (presence, blocks) that fail for a transient reason. */
  retry: TransientRetry;
  /** Counts the opened connections: a retry ends once another has opened. */
  opens: number;
}

/**
 * Makes the parts of a client from its options, reporting to the app through `emit`.
 *
 * @example
 * const parts = makeClientParts(options, (event, payload) => this.emit(event, payload));
 */
export function makeClientParts(options: ParleyClientOptions, emit: EmitEvent): ClientParts {
  const WebSocketClass = checkedWebSocket(options);
  // With a token provider the user is known once `connect()` has read the first token.
  const userId = typeof options.token === 'string' ? userIdOfToken(options.token) : '';
  const identity: Identity = { userId, deviceId: options.deviceId };
  const now = options.now ?? Date.now;
  const report = (error: unknown) => emit('error', toParleyError(error));
  const backoff = new Backoff(options.reconnect, options.random ?? Math.random);
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const connection = new ReconnectingConnection({
    url: options.url,
    deviceId: options.deviceId,
    token: options.token,
    WebSocket: WebSocketClass,
    backoff,
    requestTimeoutMs,
    keepAliveMs: options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS,
    now,
  });
  const outbox = new Outbox(options.outboxLimit ?? 1_000);
  const persistence = new Persistence({
    storage: options.storage ?? new MemoryStorage(),
    identity,
    outbox,
    state: () => ({
      timelines: parts.conversations.timelines,
      cursor: parts.catchUp.cursor,
      acks: parts.receipts.unconfirmed(),
    }),
    report,
  });
  const typing = new Typing({
    identity,
    send: (frame) => connection.send(frame),
    idleMs: options.typingIdleMs ?? 5_000,
    now,
    changed: (event) => emit('typing', event),
  });
  const conversations = new Conversations({
    identity,
    outbox,
    persistence,
    emit,
    onPeerMessage: (conversationId, peerId) => typing.receive(conversationId, peerId, false),
    onAdded: (timeline) => {
      if (timeline.hasGap) parts.catchUp.requestSync(timeline.conversationId);
      parts.receipts.scheduleDelivered(timeline);
      parts.groups.learn(timeline);
    },
  });
  const caughtUp = (moved: string[]) => emit('caughtUp', { moved });
  const sender = new OutboxSender({
    ...{ identity, outbox, connection, conversations, persistence, backoff, emit, now },
    creationSettled: (item, outcome) => parts.groups.settled(item, outcome),
  });
  const parts: ClientParts = {
    ...{ identity, now, connection, outbox, persistence, conversations, sender, typing },
    catchUp: new CatchUp({
      ...{ connection, conversations, persistence, caughtUp, report, backoff },
      reported: (conversationId, receipts) => parts.receipts.learn(conversationId, receipts),
    }),
    receipts: new Receipts({
      ...{ identity, connection, conversations, persistence },
      windowMs: options.ackWindowMs ?? DEFAULT_ACK_WINDOW_MS,
      confirmTimeoutMs: requestTimeoutMs,
    }),
    presence: new Presence({ connection, changed: (users) => emit('presence', users) }),
    groups: new Groups({ identity, connection, outbox, sender, conversations, now, report }),
    blocks: new Blocks({ connection, changed: (change) => emit('block', change) }),
    retry: new TransientRetry(backoff),
    opens: 0,
  };
  connection.on('state', (state) => emit('state', state));
  connection.on('open', () => {
    parts.opens += 1;
    void onOpen(parts, report);
  });
  connection.on('lost', () => typing.clearPeers());
  connection.on('frame', (frame) => onServerEvent(parts, frame, emit));
  connection.on('error', report);
  return parts;
}

/** A new connection: what waits goes out, then the catch-up, the acks and the presence subscriptions. */
async function onOpen(parts: ClientParts, report: (error: unknown) => void): Promise<void> {
  const opened = parts.opens;
  const stillCurrent = () => parts.opens === opened && parts.connection.isOpen;
  // Queued messages first: they are what the user is waiting for.
  parts.sender.opened();
  parts.sender.flushAll();
  try {
    await parts.catchUp.run();
    for (const conversationId of parts.outbox.conversationsWithPending())
      void releaseOld(parts, conversationId);
    // What was read or received while the connection was down is acknowledged now.
    parts.receipts.resendUnconfirmed();
    for (const timeline of parts.conversations.timelines.values()) parts.receipts.scheduleDelivered(timeline);
    await parts.retry.run(() => parts.presence.resubscribe(), stillCurrent);
    await parts.retry.run(() => parts.blocks.refresh(), stillCurrent);
  } catch (error) {
    // A lost connection retries all of this on the next open; a closed client wants nothing more.
    if (!isDisconnect(codeOf(error))) report(error);
  }
}

/**
 * Lets the conversation's old messages go once its sync is done, if it left no gap: a
 * message already stored has then come back from the server and left the outbox.
 */
async function releaseOld(parts: ClientParts, conversationId: string): Promise<void> {
  await parts.catchUp.settled(conversationId);
  if (!parts.conversations.timeline(conversationId).hasGap) parts.sender.caughtUp(conversationId);
}

/** An event of the server, handed to the part it concerns. */
function onServerEvent(parts: ClientParts, frame: ServerFrame, emit: EmitEvent): void {
  const { conversations, catchUp } = parts;
  switch (frame.type) {
    case 'message':
      conversations.receive(frame.conversationId, [frame]);
      if (!isGroupConversationId(frame.conversationId)) parts.presence.heardFrom(frame.senderId);
      break;
    case 'receipt': {
      const timeline = conversations.timeline(frame.conversationId);
      conversations.applyReceipts(timeline, [{ userId: frame.userId, kind: frame.kind, seq: frame.seq }]);
      parts.receipts.learnEvent(frame.conversationId, frame.userId, frame.kind, frame.seq);
      if (timeline.hasGap) catchUp.requestSync(frame.conversationId);
      break;
    }
    case 'groupReceipt': {
      const timeline = conversations.timeline(frame.conversationId);
      const everyone = frame.kind === 'read' ? { readSeq: frame.seq } : { deliveredSeq: frame.seq };
      conversations.applyEveryone(timeline, everyone);
      if (timeline.hasGap) catchUp.requestSync(frame.conversationId);
      break;
    }
    case 'typing':
      parts.typing.receive(frame.conversationId, frame.userId, frame.state === 'start');
      break;
    case 'presence':
      parts.presence.apply(frame.users);
      break;
    case 'blocked':
    case 'unblocked':
      parts.blocks.apply(frame);
      break;
    case 'error':
      emit('error', new ParleyError(frame.code, frame.message));
      break;
  }
}
