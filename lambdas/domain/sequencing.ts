/**
 * Sequencing, the heart of Parley: each message gets the next gapless `seq` of its
 * conversation exactly once, however often and from however many devices it is sent.
 *
 * Read the last seq (strongly consistent), then claim `seq + 1` and the idempotency key
 * in one conditional transaction. A taken idempotency key is a duplicate: answer with the
 * first send. A taken seq means another sender won the race: read again and retry, with
 * full-jitter backoff and a bound. Publishing to the stream comes after the commit, and a
 * duplicate publishes again, so a client retry repairs a publish that failed.
 */
import { SequencingContentionError } from './errors.js';
import type { EventPublisher, MessageStore } from './ports.js';
import type { Message } from './protocol.js';

export interface SendMessageInput {
  conversationId: string;
  senderId: string;
  senderDeviceId: string;
  clientMessageId: string;
  body: string;
}

export interface SendMessageResult {
  message: Message;
  duplicate: boolean;
  /** Transactions that lost a race before this one won; 0 on the quiet path. */
  retries: number;
}

export interface SequencingDeps {
  messages: MessageStore;
  publisher: EventPublisher;
  newMessageId: () => string;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  /** Transactions tried before giving up with `internal`. */
  maxAttempts: number;
  /** Backoff cap grows as base * 2^attempt, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_SEQUENCING = { maxAttempts: 25, baseDelayMs: 10, maxDelayMs: 250 } as const;

/** Full jitter: a uniform delay between 0 and the exponential cap. */
export function backoffDelay(
  attempt: number,
  deps: Pick<SequencingDeps, 'random' | 'baseDelayMs' | 'maxDelayMs'>,
) {
  const cap = Math.min(deps.maxDelayMs, deps.baseDelayMs * 2 ** attempt);
  return Math.floor(deps.random() * cap);
}

export async function sendMessage(deps: SequencingDeps, input: SendMessageInput): Promise<SendMessageResult> {
  for (let attempt = 0; attempt < deps.maxAttempts; attempt++) {
    const lastSeq = await deps.messages.lastSeq(input.conversationId);
    const message: Message = {
      conversationId: input.conversationId,
      seq: lastSeq + 1,
      messageId: deps.newMessageId(),
      clientMessageId: input.clientMessageId,
      senderId: input.senderId,
      senderDeviceId: input.senderDeviceId,
      body: input.body,
      serverTs: deps.now(),
    };
    const outcome = await deps.messages.storeMessage(message);
    switch (outcome.status) {
      case 'stored':
        await deps.publisher.publish({ type: 'message', ...message });
        return { message, duplicate: false, retries: attempt };
      case 'duplicate': {
        const original = await deps.messages.getMessage(input.conversationId, outcome.original.seq);
        if (!original) {
          // The key and its message are written in one transaction, so this cannot happen
          // unless the table was edited by hand.
          throw new Error(`idempotency item points to missing seq ${outcome.original.seq}`);
        }
        await deps.publisher.publish({ type: 'message', ...original });
        return { message: original, duplicate: true, retries: attempt };
      }
      case 'seq_taken':
      case 'conflict':
        if (attempt + 1 < deps.maxAttempts) await deps.sleep(backoffDelay(attempt, deps));
    }
  }
  throw new SequencingContentionError(
    `could not claim a seq in ${input.conversationId} after ${deps.maxAttempts} attempts`,
  );
}
