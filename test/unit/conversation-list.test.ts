/**
 * The conversation list: the merge of events into an entry, the cursors, and the
 * conversations handler on the in-memory ports. What the DynamoDB store asks of DynamoDB is
 * in `dynamodb-conversation-list-store.test.ts`.
 */
import type { ConversationSummary, ConversationsPageFrame } from '@parley/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { applyToEntry, decodeCursor, encodeCursor } from '../../lambdas/domain/conversation-list.js';
import { INTERNAL_ERROR_MESSAGE } from '../../lambdas/domain/errors.js';
import { createConversationsHandler } from '../../lambdas/handlers/conversations.js';
import { createInMemoryPorts, type InMemoryPorts } from '../support/in-memory/index.js';
import {
  CONVERSATION,
  message,
  messageEventOf,
  receiptEvent,
  state,
} from './support/conversation-entries.js';
import { answerOf, createInMemoryTestDeps, errorOf, invoke, messageEvent, NOW } from './support/harness.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('applying events to a conversation-list entry', () => {
  it('creates the entry with the first message', () => {
    expect(applyToEntry(CONVERSATION, undefined, [messageEventOf(1)])).toEqual(state(1));
  });

  it('raises the last seq and the last message with a newer message', () => {
    expect(applyToEntry(CONVERSATION, state(3, [3, 2]), [messageEventOf(4)])).toEqual(state(4, [3, 2]));
  });

  it('keeps the newest message of several, in whatever order they come', () => {
    expect(applyToEntry(CONVERSATION, state(1), [messageEventOf(3), messageEventOf(2)])).toEqual(state(3));
  });

  it.each([
    ['an older message', 2],
    ['the same message again', 3],
  ])('changes nothing for %s', (_case, seq) => {
    expect(applyToEntry(CONVERSATION, state(3), [messageEventOf(seq)])).toBeUndefined();
  });

  it('raises a member’s delivered watermark', () => {
    expect(applyToEntry(CONVERSATION, state(5), [receiptEvent('bob', 'delivered', 4)])).toEqual(
      state(5, [0, 0], [4, 0]),
    );
  });

  it('lifts delivered with read', () => {
    expect(applyToEntry(CONVERSATION, state(5, [0, 0], [2, 1]), [receiptEvent('bob', 'read', 4)])).toEqual(
      state(5, [0, 0], [4, 4]),
    );
  });

  it('keeps a delivered watermark above a lower read', () => {
    expect(applyToEntry(CONVERSATION, state(5, [0, 0], [5, 1]), [receiptEvent('bob', 'read', 3)])).toEqual(
      state(5, [0, 0], [5, 3]),
    );
  });

  it.each([
    ['a lower delivered receipt', receiptEvent('bob', 'delivered', 2)],
    ['a lower read receipt', receiptEvent('bob', 'read', 1)],
    ['a repeated read receipt', receiptEvent('bob', 'read', 3)],
    ['a receipt of someone who is not a member', receiptEvent('carol', 'read', 5)],
  ])('changes nothing for %s', (_case, event) => {
    expect(applyToEntry(CONVERSATION, state(5, [0, 0], [4, 3]), [event])).toBeUndefined();
  });

  it('never creates an entry for a receipt alone', () => {
    expect(applyToEntry(CONVERSATION, undefined, [receiptEvent('bob', 'read', 1)])).toBeUndefined();
  });

  it('creates an entry for a message and the receipts that came with it', () => {
    expect(
      applyToEntry(CONVERSATION, undefined, [messageEventOf(1), receiptEvent('bob', 'read', 1)]),
    ).toEqual(state(1, [0, 0], [1, 1]));
  });

  it('leaves the current entry as it was', () => {
    const current = state(3, [3, 3], [1, 0]);
    const copy = structuredClone(current);

    applyToEntry(CONVERSATION, current, [messageEventOf(4), receiptEvent('bob', 'read', 4)]);

    expect(current).toEqual(copy);
  });
});

describe('conversation cursors', () => {
  it.each([0, 1, NOW, 9_007_199_254_740_991])('reads %i back from its cursor', (updatedAt) => {
    expect(decodeCursor(encodeCursor(updatedAt))).toBe(updatedAt);
  });

  it('gives an opaque, versioned, URL-safe text', () => {
    expect(encodeCursor(NOW)).toMatch(/^c1\.[A-Za-z0-9_-]+$/);
    expect(encodeCursor(NOW)).not.toContain(String(NOW));
  });

  it.each([
    ['an empty text', ''],
    ['a text of another kind', 'abc'],
    ['the prefix alone', 'c1.'],
    ['another version', `c2.${Buffer.from('5').toString('base64url')}`],
    ['a bare number', String(NOW)],
    ['a negative time', `c1.${Buffer.from('-5').toString('base64url')}`],
    ['a fractional time', `c1.${Buffer.from('12.5').toString('base64url')}`],
    ['an exponent', `c1.${Buffer.from('1e12').toString('base64url')}`],
    ['a time of 17 digits', `c1.${Buffer.from('1'.repeat(17)).toString('base64url')}`],
  ])('refuses %s', (_case, cursor) => {
    expect(decodeCursor(cursor)).toBeUndefined();
  });
});

/** An entry of `userId` for a conversation with `other`, changed at `updatedAt`. */
function storedEntry(userId: string, other: string, updatedAt: number, lastSeq = 1) {
  const conversationId = userId < other ? `dm:${userId}:${other}` : `dm:${other}:${userId}`;
  const members = conversationId.split(':').slice(1);
  return {
    userId,
    summary: {
      conversationId,
      members,
      lastSeq,
      lastMessage: message(lastSeq, conversationId),
      receipts: members.map((member) => ({ userId: member, deliveredSeq: 0, readSeq: 0 })),
      updatedAt,
    } satisfies ConversationSummary,
  };
}
/** These entries are stored without a kind, as a 1.0 server wrote them: they are answered as dm. */
const summaryOf = (entry: ReturnType<typeof storedEntry>) => ({ ...entry.summary, kind: 'dm' });

describe('the conversations handler', () => {
  const frame = (overrides: Record<string, unknown> = {}) => ({
    action: 'conversations',
    requestId: 'r4',
    ...overrides,
  });
  const BOB = storedEntry('alice', 'bob', NOW - 30, 7);
  const CAROL = storedEntry('alice', 'carol', NOW - 20, 2);
  const DAVE = storedEntry('alice', 'dave', NOW - 10, 4);

  /**
   * In-memory ports whose conversation lists hold alice's three entries and one of bob's,
   * each written when the store's clock read its `updatedAt`; and a spy on the list reads.
   */
  async function lists(entries = [BOB, CAROL, storedEntry('bob', 'erin', NOW - 15), DAVE]) {
    let now = 0;
    const ports = createInMemoryPorts({ now: () => now });
    for (const { userId, summary } of entries) {
      now = summary.updatedAt;
      const { updatedAt: _updatedAt, ...state } = summary;
      await ports.conversationList.update(userId, summary.conversationId, () => state);
    }
    return { ports, listChangedSince: vi.spyOn(ports.conversationList, 'listChangedSince') };
  }
  const listsOfAliceAndBob = () => lists();

  async function ask(overrides: Record<string, unknown> = {}, ports?: InMemoryPorts) {
    const { provider } = createInMemoryTestDeps({ ports: ports ?? (await lists()).ports });
    return invoke(createConversationsHandler(provider), messageEvent(frame(overrides)));
  }

  it('answers all of the caller’s conversations without since, oldest change first', async () => {
    const result = await ask();

    expect(result.statusCode).toBe(200);
    expect(answerOf<ConversationsPageFrame>(result)).toEqual({
      type: 'conversations',
      requestId: 'r4',
      conversations: [summaryOf(BOB), summaryOf(CAROL), summaryOf(DAVE)],
      cursor: encodeCursor(NOW - 10),
      hasMore: false,
    });
  });

  it('reads one page of the caller’s entries changed after the cursor, of 50 by default', async () => {
    const { ports, listChangedSince } = await listsOfAliceAndBob();

    await ask({ since: encodeCursor(NOW - 25) }, ports);

    expect(listChangedSince.mock.calls).toEqual([['alice', NOW - 25, 50]]);
  });

  it('answers only what changed after the cursor', async () => {
    const page = answerOf<ConversationsPageFrame>(await ask({ since: encodeCursor(NOW - 30) }));

    expect(page.conversations.map((entry) => entry.conversationId)).toEqual([
      'dm:alice:carol',
      'dm:alice:dave',
    ]);
    expect(decodeCursor(page.cursor)).toBe(NOW - 10);
  });

  it('pages by limit, says more follow, and picks up the rest with the cursor it answered', async () => {
    const { ports, listChangedSince } = await listsOfAliceAndBob();

    const first = answerOf<ConversationsPageFrame>(await ask({ limit: 2 }, ports));
    const second = answerOf<ConversationsPageFrame>(await ask({ limit: 2, since: first.cursor }, ports));

    expect(first.conversations.map((entry) => entry.conversationId)).toEqual([
      'dm:alice:bob',
      'dm:alice:carol',
    ]);
    expect(first.hasMore).toBe(true);
    expect(listChangedSince.mock.calls[0]?.[2]).toBe(2);
    expect(second.conversations.map((entry) => entry.conversationId)).toEqual(['dm:alice:dave']);
    expect(second.hasMore).toBe(false);
  });

  it('answers the same cursor when nothing changed since', async () => {
    const since = encodeCursor(NOW - 10);

    const page = answerOf<ConversationsPageFrame>(await ask({ since }));

    expect(page).toEqual({
      type: 'conversations',
      requestId: 'r4',
      conversations: [],
      cursor: since,
      hasMore: false,
    });
  });

  it('answers a user with no conversations an empty list and a cursor from the start', async () => {
    const page = answerOf<ConversationsPageFrame>(await ask({}, (await lists([])).ports));

    expect(page).toEqual({
      type: 'conversations',
      requestId: 'r4',
      conversations: [],
      cursor: encodeCursor(0),
      hasMore: false,
    });
  });

  it.each([
    ['that is not a cursor', 'abc'],
    ['of another version', `c2.${Buffer.from('5').toString('base64url')}`],
    ['holding no time', `c1.${Buffer.from('yesterday').toString('base64url')}`],
  ])('refuses a since %s with bad_request and reads nothing', async (_case, since) => {
    const { ports, listChangedSince } = await listsOfAliceAndBob();

    const result = await ask({ since }, ports);

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'r4',
      code: 'bad_request',
      message: 'since: must be a cursor from an earlier answer',
    });
    expect(listChangedSince).not.toHaveBeenCalled();
  });

  it.each([
    {
      name: 'an empty since',
      frame: { since: '' },
      message: 'since: must be a cursor from an earlier answer',
    },
    {
      name: 'a since of 201 characters',
      frame: { since: 'c'.repeat(201) },
      message: 'since: must be a cursor from an earlier answer',
    },
    { name: 'a since that is a number', frame: { since: NOW }, message: 'since: must be a string' },
    { name: 'a limit of 0', frame: { limit: 0 }, message: 'limit: must be 1 to 100' },
    { name: 'a limit of 101', frame: { limit: 101 }, message: 'limit: must be 1 to 100' },
    { name: 'a fractional limit', frame: { limit: 2.5 }, message: 'limit: must be an integer' },
    { name: 'an unknown field', frame: { after: 3 }, message: 'after: is not a field of this action' },
  ])('refuses $name with bad_request and reads nothing', async ({ frame: overrides, message: text }) => {
    const { ports, listChangedSince } = await listsOfAliceAndBob();

    const result = await ask(overrides, ports);

    expect(errorOf(result)).toEqual({ type: 'error', requestId: 'r4', code: 'bad_request', message: text });
    expect(listChangedSince).not.toHaveBeenCalled();
  });

  it('accepts a limit of 100', async () => {
    const { ports, listChangedSince } = await listsOfAliceAndBob();

    const page = answerOf<ConversationsPageFrame>(await ask({ limit: 100 }, ports));

    expect(page.conversations).toHaveLength(3);
    expect(listChangedSince.mock.calls[0]?.[2]).toBe(100);
  });

  it('answers internal when the list cannot be read', async () => {
    const { ports, listChangedSince } = await listsOfAliceAndBob();
    listChangedSince.mockRejectedValue(new Error('InternalServerError'));

    const result = await ask({}, ports);

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'r4',
      code: 'internal',
      message: INTERNAL_ERROR_MESSAGE,
    });
  });
});
