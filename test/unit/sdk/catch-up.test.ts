import { SYNC_MAX_LIMIT } from '@parley/protocol';
import { ParleyError, ParleyErrorCode } from '@parley/sdk';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CatchUp } from '../../../sdk/src/catch-up.js';
import { ALICE, WITH_BOB, WITH_CAROL } from './support/clients.js';
import { conversationsPage, message, summary } from './support/frames.js';
import { closeParts, conversationParts } from './support/parts.js';
import { ScriptedConnection } from './support/scripted-connection.js';

afterEach(closeParts);

/** A catch-up with the real conversations and persistence, over a scripted connection. */
function catchUpOf(cursor?: string) {
  const connection = new ScriptedConnection();
  const caughtUp = vi.fn();
  const parts = conversationParts({
    cursor: () => catchUp.cursor,
    onAdded: (timeline) => timeline.hasGap && catchUp.requestSync(timeline.conversationId),
  });
  const { conversations, persistence, report } = parts;
  const catchUp: CatchUp = new CatchUp({ connection, conversations, persistence, caughtUp, report });
  catchUp.restore(cursor);
  return { ...parts, catchUp, connection, caughtUp };
}

describe('the catch-up’s cursor', () => {
  it('asks for the whole list the first time, then page after page from each page’s cursor, and saves the last one before it says caughtUp', async () => {
    const { catchUp, connection, storage, caughtUp } = catchUpOf();

    const run = catchUp.run();
    const first = await connection.next();
    first.answer(
      conversationsPage({ conversations: [summary(WITH_BOB, 0)], cursor: 'page-1', hasMore: true }),
    );
    const second = await connection.next();
    second.answer(conversationsPage({ conversations: [summary(WITH_CAROL, 0)], cursor: 'page-2' }));
    await run;

    expect(first.frame).toEqual({ action: 'conversations', limit: 100 });
    expect(second.frame).toEqual({ action: 'conversations', since: 'page-1', limit: 100 });
    expect(catchUp.cursor).toBe('page-2');
    expect(await storage.load(`parley/${ALICE}/phone/cursor`)).toBe('page-2');
    expect(caughtUp).toHaveBeenCalledExactlyOnceWith([WITH_BOB, WITH_CAROL]);
  });

  it('asks from the restored cursor, and keeps the cursor of the last page read when a later page fails', async () => {
    const { catchUp, connection, caughtUp } = catchUpOf('cursor-7');

    const run = catchUp.run();
    const first = await connection.next();
    first.answer(conversationsPage({ conversations: [], cursor: 'cursor-8', hasMore: true }));
    const second = await connection.next();
    second.fail(new ParleyError(ParleyErrorCode.ConnectionLost, 'the connection closed'));

    await expect(run).rejects.toMatchObject({ code: ParleyErrorCode.ConnectionLost });
    expect(first.frame).toMatchObject({ since: 'cursor-7' });
    expect(second.frame).toMatchObject({ since: 'cursor-8' });
    expect(catchUp.cursor).toBe('cursor-8');
    expect(caughtUp).not.toHaveBeenCalled();
  });
});

describe('filling gaps', () => {
  it('syncs a listed conversation from the highest seq it holds in a row', async () => {
    const { catchUp, connection, conversations } = catchUpOf();

    const run = catchUp.run();
    (await connection.next()).answer(
      conversationsPage({ conversations: [summary(WITH_BOB, 3)], cursor: 'c' }),
    );
    await run;
    const sync = await connection.next();
    sync.answer({
      type: 'history',
      conversationId: WITH_BOB,
      messages: [message(1), message(2)],
      lastSeq: 3,
      hasMore: false,
      receipts: [],
    });
    await vi.waitFor(() => expect(conversations.get(WITH_BOB)?.hasGap).toBe(false));

    expect(sync.frame).toEqual({
      action: 'sync',
      conversationId: WITH_BOB,
      afterSeq: 0,
      limit: SYNC_MAX_LIMIT,
    });
    expect(conversations.messages(WITH_BOB).map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(connection.unanswered).toBe(0);
  });

  it('syncs once more after the running sync when asked meanwhile and a gap is left', async () => {
    const { catchUp, connection, conversations } = catchUpOf();
    conversations.receive(WITH_BOB, [message(5)]);

    const first = await connection.next();
    catchUp.requestSync(WITH_BOB);
    expect(connection.unanswered).toBe(0);
    first.answer({
      type: 'history',
      conversationId: WITH_BOB,
      messages: [message(1), message(2)],
      lastSeq: 5,
      hasMore: false,
      receipts: [],
    });
    const second = await connection.next();
    second.answer({
      type: 'history',
      conversationId: WITH_BOB,
      messages: [message(3), message(4)],
      lastSeq: 5,
      hasMore: false,
      receipts: [],
    });
    await vi.waitFor(() => expect(conversations.get(WITH_BOB)?.hasGap).toBe(false));

    expect(first.frame).toMatchObject({ afterSeq: 0 });
    expect(second.frame).toMatchObject({ afterSeq: 2 });
    expect(connection.unanswered).toBe(0);
  });

  it('takes seqs the server says are gone as no gap, asks after them, and never asks for them again', async () => {
    const { catchUp, connection, conversations } = catchUpOf();

    const run = catchUp.run();
    (await connection.next()).answer(
      conversationsPage({ conversations: [summary(WITH_BOB, 6, { lastMessage: null })], cursor: 'c' }),
    );
    await run;
    const first = await connection.next();
    first.answer({
      type: 'history',
      conversationId: WITH_BOB,
      messages: [],
      lastSeq: 6,
      goneThrough: 4,
      hasMore: true,
      receipts: [],
    });
    const second = await connection.next();
    second.answer({
      type: 'history',
      conversationId: WITH_BOB,
      messages: [message(5), message(6)],
      lastSeq: 6,
      hasMore: false,
      receipts: [],
    });
    await vi.waitFor(() => expect(conversations.get(WITH_BOB)?.hasGap).toBe(false));
    await catchUp.settled(WITH_BOB);

    expect(first.frame).toMatchObject({ afterSeq: 0 });
    expect(second.frame).toMatchObject({ afterSeq: 4 });
    expect(conversations.messages(WITH_BOB).map((m) => m.seq)).toEqual([5, 6]);
    expect(conversations.list()[0]?.goneThrough).toBe(4);
    expect(connection.unanswered).toBe(0);
  });

  it('shows a message whose sender was erased as erased, with no text, at its seq', async () => {
    const { conversations } = catchUpOf();

    const { body: _body, ...erased } = message(2);
    conversations.receive(WITH_BOB, [message(1), { ...erased, erased: true }]);

    expect(conversations.messages(WITH_BOB).map(({ seq, body, erased }) => ({ seq, body, erased }))).toEqual([
      { seq: 1, body: message(1).body, erased: undefined },
      { seq: 2, body: '', erased: true },
    ]);
  });

  it('does not sync while the connection is not open, and reports a failed sync other than a lost connection', async () => {
    const { catchUp, connection, report } = catchUpOf();
    connection.isOpen = false;
    catchUp.requestSync(WITH_BOB);
    expect(connection.unanswered).toBe(0);

    connection.isOpen = true;
    catchUp.requestSync(WITH_BOB);
    const refused = new ParleyError(ParleyErrorCode.Forbidden, 'conversationId: not one of yours');
    (await connection.next()).fail(refused);

    await vi.waitFor(() => expect(report).toHaveBeenCalledExactlyOnceWith(refused));
  });
});
