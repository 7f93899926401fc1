/**
 * Sequencing, the heart of Parley: each message gets the next gapless `seq` of its
 * conversation exactly once, however often and from however many devices it is sent.
 *
 * Read the last seq (strongly consistent), then claim `seq + 1` and the idempotency key
 * in one conditional transaction. A taken idempotency key is a duplicate: answer with the
 * first send. A taken seq means another sender won the race: read again and retry, with
 * full-jitter backoff and a bound. Publishing to the stream comes after the commit, and a
 * duplicate publishes again, so a client retry repairs a publish that failed.
 *
 * A warm instance remembers the last seq it committed in each conversation and claims the
 * next one without reading first. The guess is safe: seqs only grow, so it is at most the
 * real last seq, and the message's `attribute_not_exists` condition refuses a seq that is
 * taken; a refused guess is forgotten, and the send reads and tries again at once.
 *
 * Between the commit and the publish, the fast path may post the message to the members'
 * devices itself (docs/adr/0008-fast-path.md); the record then names the connections it
 * reached, and the fanout posts to the others. It starts with the send, so that its read of
 * the connections overlaps the claim. A duplicate does not post:
 * it cannot know what the first send reached, so its record names none, and the stream
 * posts to every device (a device drops a seq it has). A send that asks for no echo
 * (protocol 1.5) adds its own connection to the record's `reached`, unless it is a duplicate.
 *
 * A send may be refused by its `authorize` check, made in every attempt after the seq is
 * read or guessed and before it is claimed: in a group, the sender's membership. A removal
 * committed before that read is seen by it; one committed after it took the seq the send
 * was about to claim, so the claim fails and the next attempt checks again
 * (docs/adr/0007-groups.md).
 */

import type { Message } from '@parley/protocol';
import { LRUCache } from 'lru-cache';
import { type BackoffDeps, type BackoffPolicy, waitBeforeRetry } from './backoff.js';
import { SequencingContentionError } from './errors.js';
import type { EventPublisher, MessageStore } from './ports.js';

export interface SendMessageInput {
  conversationId: string;
  senderId: string;
  senderDeviceId: string;
  clientMessageId: string;
  body: string;
  /**
   * Checks already under way that must pass before anything is written (the rate limit, a
   * one-to-one conversation's blocks): awaited alongside the first read of the last seq,
   * so that their round trips overlap instead of adding up.
   */
  checks?: Promise<void>;
  /**
   * Throws to refuse the send; called in each attempt between reading (or guessing) the
   * last seq and claiming the next one.
   */
  authorize?: () => Promise<void>;
  /**
   * The sending connection, when the send asked for no echo (protocol 1.5): the record names
   * it among the connections reached, so that the fanout posts the message to every
   * connection but that one. A duplicate's record names none: it is delivered as ever.
   */
  noEchoTo?: string;
}

export interface SendMessageResult {
  message: Message;
  duplicate: boolean;
  /** Transactions that lost a race before this one won; 0 on the quiet path. */
  retries: number;
}

export interface SequencingDeps extends BackoffDeps, BackoffPolicy {
  messages: MessageStore;
  publisher: EventPublisher;
  newMessageId: () => string;
  now: () => number;
  /** Transactions tried before giving up with `internal`. */
  maxAttempts: number;
  /** The last seq this instance committed per conversation; without it, every send reads first. */
  lastSeqCache?: LastSeqCache;
  /**
   * The fast path: started with the send (it may read the conversation's connections while
   * the seq is claimed), then given the committed message to post to devices before it is
   * published; answers the connections it reached. None when absent. Never throws.
   */
  startFastPath?: (conversationId: string) => FastPath;
}

/** A fast path under way for one send; see `SequencingDeps.startFastPath`. */
export type FastPath = (message: Message) => Promise<string[]>;

/** The last seq an instance committed in each conversation it sent in lately. */
export interface LastSeqCache {
  get(conversationId: string): number | undefined;
  /**
   * A send in the conversation begins: the seq to guess from, or undefined when another send
   * of this instance in the conversation is under way (it would likely take the guess first,
   * and a refused guess costs a transaction). Each `begin` needs its `end`.
   */
  begin(conversationId: string): number | undefined;
  end(conversationId: string): void;
  /** Keeps the higher of the cached seq and `seq`. */
  remember(conversationId: string, seq: number): void;
  forget(conversationId: string): void;
}

/** A `LastSeqCache` of at most `maxConversations`, forgetting the least recently used first. */
export function createLastSeqCache(maxConversations = 10_000): LastSeqCache {
  const seqs = new LRUCache<string, number>({ max: maxConversations });
  /** Sends under way, by conversation. */
  const busy = new Map<string, number>();
  return {
    get: (conversationId) => seqs.get(conversationId),
    begin(conversationId) {
      const others = busy.get(conversationId) ?? 0;
      busy.set(conversationId, others + 1);
      return others === 0 ? seqs.get(conversationId) : undefined;
    },
    end(conversationId) {
      const left = (busy.get(conversationId) ?? 1) - 1;
      if (left > 0) busy.set(conversationId, left);
      else busy.delete(conversationId);
    },
    remember(conversationId, seq) {
      seqs.set(conversationId, Math.max(seq, seqs.get(conversationId) ?? seq));
    },
    forget(conversationId) {
      seqs.delete(conversationId);
    },
  };
}

export const DEFAULT_SEQUENCING = { maxAttempts: 25, baseDelayMs: 10, maxDelayMs: 250 } as const;

export async function sendMessage(deps: SequencingDeps, input: SendMessageInput): Promise<SendMessageResult> {
  const cache = deps.lastSeqCache;
  const guess = cache?.begin(input.conversationId);
  const fastPath = deps.startFastPath?.(input.conversationId);
  try {
    return await claimSeq(deps, input, guess, fastPath);
  } finally {
    cache?.end(input.conversationId);
  }
}

async function claimSeq(
  deps: SequencingDeps,
  input: SendMessageInput,
  firstGuess: number | undefined,
  fastPath: FastPath | undefined,
): Promise<SendMessageResult> {
  const cache = deps.lastSeqCache;
  let guess = firstGuess;
  for (let attempt = 0; attempt < deps.maxAttempts; attempt++) {
    const guessed = guess !== undefined;
    const [lastSeq] = await Promise.all([guess ?? deps.messages.lastSeq(input.conversationId), input.checks]);
    guess = undefined;
    await input.authorize?.();
    const message: Message = {
      conversationId: input.conversationId,
      seq: lastSeq + 1,
      messageId: deps.newMessageId(),
      clientMessageId: input.clientMessageId,
      senderId: input.senderId,
      senderDeviceId: input.senderDeviceId,
      kind: 'text',
      body: input.body,
      serverTs: deps.now(),
    };
    const outcome = await deps.messages.storeMessage(message);
    switch (outcome.status) {
      case 'stored': {
        cache?.remember(input.conversationId, message.seq);
        const posted = (await fastPath?.(message)) ?? [];
        // The fast path never posts to the sending device, so the two never name the same connection.
        const reached = input.noEchoTo ? [...posted, input.noEchoTo] : posted;
        await deps.publisher.publish({
          type: 'message',
          ...message,
          ...(reached.length > 0 ? { reached } : {}),
        });
        return { message, duplicate: false, retries: attempt };
      }
      case 'duplicate': {
        const original = await deps.messages.getMessage(input.conversationId, outcome.original.seq);
        if (!original) {
          // The key and its message are written together, but under a retention period the
          // message can be gone while its key waits for DynamoDB's deletion: answer the
          // first send's seq as ever, and publish nothing, since nothing is left to deliver.
          const { seq, messageId, serverTs } = outcome.original;
          const { body: _body, authorize: _authorize, checks: _checks, noEchoTo: _noEchoTo, ...sent } = input;
          return { message: { ...sent, seq, messageId, serverTs }, duplicate: true, retries: attempt };
        }
        await deps.publisher.publish({ type: 'message', ...original });
        return { message: original, duplicate: true, retries: attempt };
      }
      case 'seq_taken':
      case 'conflict':
        if (guessed) cache?.forget(input.conversationId);
        // A stale guess lost to no one racing now: read and try again at once.
        if (guessed && outcome.status === 'seq_taken') break;
        if (attempt + 1 < deps.maxAttempts) await waitBeforeRetry(attempt, deps, deps);
    }
  }
  throw new SequencingContentionError(
    `could not claim a seq in ${input.conversationId} after ${deps.maxAttempts} attempts`,
  );
}
