/**
 * The conversations and persistence of alice's phone, real ones over memory storage, for
 * the unit tests of the client's parts that read and change them (catch-up, receipts…).
 * `closeParts()` in `afterEach` stops their timers and waits for their saves.
 */
import { MemoryStorage } from '@parley/sdk';
import { vi } from 'vitest';
import { Conversations } from '../../../../sdk/src/conversations.js';
import { Outbox } from '../../../../sdk/src/outbox.js';
import { Persistence, type UnconfirmedAcks } from '../../../../sdk/src/persistence.js';
import type { Timeline } from '../../../../sdk/src/timeline.js';
import { ALICE } from './clients.js';

const made: Array<{ conversations: Conversations; persistence: Persistence }> = [];

/** What the persistence saves besides the timelines, and what follows new messages. */
export interface PartsOptions {
  cursor?: () => string | undefined;
  acks?: () => UnconfirmedAcks;
  onAdded?: (timeline: Timeline) => void;
}

export function conversationParts(options: PartsOptions = {}) {
  const identity = { userId: ALICE, deviceId: 'phone' };
  const outbox = new Outbox(10);
  const storage = new MemoryStorage();
  const report = vi.fn();
  const persistence: Persistence = new Persistence({
    storage,
    identity,
    outbox,
    state: () => ({
      timelines: conversations.timelines,
      cursor: options.cursor?.(),
      acks: options.acks?.() ?? [],
    }),
    report,
  });
  const conversations: Conversations = new Conversations({
    identity,
    outbox,
    persistence,
    emit: () => {},
    onPeerMessage: () => {},
    onAdded: (timeline) => options.onAdded?.(timeline),
  });
  made.push({ conversations, persistence });
  return { identity, storage, persistence, conversations, report };
}

export async function closeParts(): Promise<void> {
  for (const { conversations, persistence } of made) {
    conversations.close();
    await persistence.flush();
  }
  made.length = 0;
}
