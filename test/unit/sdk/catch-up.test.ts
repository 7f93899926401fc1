import { SYNC_MAX_LIMIT } from '@parley/protocol';
import { ParleyError, ParleyErrorCode } from '@parley/sdk';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Backoff } from '../../../sdk/src/backoff.js';
import { CatchUp } from '../../../sdk/src/catch-up.js';
import {
  ALICE,
  answerCatchUp,
  cleanUpSdkTest,
  createClient,
  nextEvent,
  record,
  WITH_BOB,
  WITH_CAROL,
} from './support/clients.js';
import { type ClientFrame, startFakeServer } from './support/fake-server.js';
import { conversationsPage, errorAnswer, historyAnswer, message, summary } from './support/frames.js';
import { ManualTimers } from './support/manual-timers.js';
import { closeParts, conversationParts } from './support/parts.js';
import { ScriptedConnection } from './support/scripted-connection.js';

afterEach(closeParts);
afterEach(cleanUpSdkTest);

/** A catch-up with the real conversations and persistence, over a scripted connection. */
function catchUpOf(cursor?: string) {
  const connection = new ScriptedConnection();
  const caughtUp = vi.fn();
  const parts = conversationParts({
    cursor: () => catchUp.cursor,
    onAdded: (timeline) => timeline.hasGap && catchUp.requestSync(timeline.conversationId),
  });
  const { conversations, persistence, report } = parts;
  const timers = new ManualTimers();
  const backoff = new Backoff({ initialDelayMs: 500, maxDelayMs: 30_000 }, () => 0.5, timers);
  const catchUp: CatchUp = new CatchUp({ connection, conversations, persistence, caughtUp, report, backoff });
  catchUp.restore(cursor);
  return { ...parts, catchUp, connection, caughtUp, timers };
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

describe('retrying what the server failed, refused as over the limit, or left unanswered', () => {
  const overLimit = () =>
    new ParleyError(ParleyErrorCode.RateLimited, 'over the limit of 20 conversations a second; retry in 1 s');

  it.each([
    ['rate_limited', overLimit],
    ['internal', () => new ParleyError(ParleyErrorCode.Internal, 'the server failed')],
    ['timeout', () => new ParleyError(ParleyErrorCode.Timeout, 'no answer to conversations within 10000 ms')],
  ])(
    'reads the list again after a backoff when a page fails with %s, from the same cursor, and reports nothing',
    async (_code, failure) => {
      const { catchUp, connection, caughtUp, report, timers } = catchUpOf('cursor-7');

      const run = catchUp.run();
      (await connection.next()).fail(failure());
      await vi.waitFor(() => expect(timers.waiting).toEqual([250]));
      expect(connection.unanswered).toBe(0);
      timers.fireAll();
      const again = await connection.next();
      again.answer(conversationsPage({ conversations: [summary(WITH_BOB, 0)], cursor: 'cursor-8' }));
      await run;

      expect(again.frame).toMatchObject({ action: 'conversations', since: 'cursor-7' });
      expect(caughtUp).toHaveBeenCalledExactlyOnceWith([WITH_BOB]);
      expect(report).not.toHaveBeenCalled();
    },
  );

  it('waits longer after each failure in a row', async () => {
    const { catchUp, connection, timers } = catchUpOf();

    const run = catchUp.run();
    for (let failures = 0; failures < 3; failures += 1) {
      (await connection.next()).fail(overLimit());
      await vi.waitFor(() => expect(timers.waiting).toHaveLength(1));
      timers.fireAll();
    }
    (await connection.next()).answer(conversationsPage({ conversations: [], cursor: 'c' }));
    await run;

    // Full jitter at 0.5 of 500 ms × 2^attempt.
    expect(timers.requested).toEqual([250, 500, 1_000]);
  });

  it('gives up with connection_lost when the connection closes during the wait, and asks nothing more', async () => {
    const { catchUp, connection, timers } = catchUpOf();

    const run = catchUp.run();
    (await connection.next()).fail(overLimit());
    await vi.waitFor(() => expect(timers.waiting).toHaveLength(1));
    connection.isOpen = false;
    timers.fireAll();

    await expect(run).rejects.toMatchObject({ code: ParleyErrorCode.ConnectionLost });
    expect(connection.unanswered).toBe(0);
  });

  it('leaves a waiting run to the run of a newer connection', async () => {
    const { catchUp, connection, timers, caughtUp } = catchUpOf();

    const first = catchUp.run();
    (await connection.next()).fail(overLimit());
    await vi.waitFor(() => expect(timers.waiting).toHaveLength(1));
    const second = catchUp.run();
    timers.fireAll();
    await expect(first).rejects.toMatchObject({ code: ParleyErrorCode.ConnectionLost });
    (await connection.next()).answer(conversationsPage({ conversations: [], cursor: 'c' }));
    await second;

    expect(caughtUp).toHaveBeenCalledTimes(1);
    expect(connection.unanswered).toBe(0);
  });

  it('does not retry a final refusal: it rejects with it at once', async () => {
    const { catchUp, connection, timers } = catchUpOf();
    const refused = new ParleyError(ParleyErrorCode.BadRequest, 'since: not a cursor of this server');

    const run = catchUp.run();
    (await connection.next()).fail(refused);

    await expect(run).rejects.toBe(refused);
    expect(timers.requested).toEqual([]);
  });

  it('stops waiting and asks nothing once the client is closed', async () => {
    const { catchUp, connection, timers } = catchUpOf();

    const run = catchUp.run();
    (await connection.next()).fail(overLimit());
    await vi.waitFor(() => expect(timers.waiting).toHaveLength(1));
    catchUp.close();

    await expect(run).rejects.toMatchObject({ code: ParleyErrorCode.Closed });
    expect(timers.waiting).toEqual([]);
    catchUp.requestSync(WITH_BOB);
    expect(connection.unanswered).toBe(0);
  });

  it('syncs a conversation again after a backoff when its sync fails, from where it stands, until the gap is filled', async () => {
    const { catchUp, connection, conversations, report, timers } = catchUpOf();
    conversations.receive(WITH_BOB, [message(3)]);

    (await connection.next()).fail(overLimit());
    await vi.waitFor(() => expect(timers.waiting).toEqual([250]));
    // A gap found meanwhile waits for the retry instead of asking now.
    catchUp.requestSync(WITH_BOB);
    expect(connection.unanswered).toBe(0);
    timers.fireAll();
    const again = await connection.next();
    again.answer(historyAnswer(again.frame as ClientFrame, [message(1), message(2)], { lastSeq: 3 }));
    await vi.waitFor(() => expect(conversations.get(WITH_BOB)?.hasGap).toBe(false));

    expect(again.frame).toMatchObject({ action: 'sync', conversationId: WITH_BOB, afterSeq: 0 });
    expect(conversations.messages(WITH_BOB).map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(report).not.toHaveBeenCalled();
  });

  it('does not sync again when the gap was filled while it waited', async () => {
    const { connection, conversations, timers } = catchUpOf();
    conversations.receive(WITH_BOB, [message(2)]);

    (await connection.next()).fail(new ParleyError(ParleyErrorCode.Internal, 'the server failed'));
    await vi.waitFor(() => expect(timers.waiting).toHaveLength(1));
    conversations.receive(WITH_BOB, [message(1)]);
    timers.fireAll();

    expect(conversations.get(WITH_BOB)?.hasGap).toBe(false);
    expect(connection.unanswered).toBe(0);
  });

  it('drops the waits of a sync when a new connection’s catch-up begins, and syncs what is still missing after the list', async () => {
    const { catchUp, connection, conversations, timers } = catchUpOf();
    conversations.receive(WITH_BOB, [message(2)]);
    (await connection.next()).fail(overLimit());
    await vi.waitFor(() => expect(timers.waiting).toHaveLength(1));

    const run = catchUp.run();
    expect(timers.waiting).toEqual([]);
    (await connection.next()).answer(conversationsPage({ conversations: [], cursor: 'c' }));
    await run;
    const sync = await connection.next();

    expect(sync.frame).toMatchObject({ action: 'sync', conversationId: WITH_BOB, afterSeq: 0 });
  });
});

describe('a client whose catch-up the server refuses as over the limit', () => {
  it('reads the list again on the same connection, and is caught up without reconnecting', async () => {
    const server = await startFakeServer();
    const client = await createClient(server);
    const caughtUp = nextEvent(client, 'caughtUp');
    const errors = record(client, 'error');
    await client.connect();
    const connection = await server.nextConnection();

    const refused = await connection.nextFrame();
    connection.answer(
      refused,
      errorAnswer(refused, 'rate_limited', 'over the limit of 20 conversations a second; retry in 1 s'),
    );
    const again = await answerCatchUp(connection);
    await caughtUp;

    expect(again).toMatchObject({ action: 'conversations' });
    expect(again.requestId).not.toBe(refused.requestId);
    expect(server.connections).toHaveLength(1);
    expect(errors).toEqual([]);
  });

  it('reports nothing when the app closes the client during a catch-up it is retrying', async () => {
    const server = await startFakeServer();
    const client = await createClient(server);
    const errors = record(client, 'error');
    await client.connect();
    const connection = await server.nextConnection();

    const refused = await connection.nextFrame();
    connection.answer(refused, errorAnswer(refused, 'internal', 'the server failed'));
    await connection.nextFrame(); // the list read again, which the close leaves unanswered
    await client.close();

    expect(errors).toEqual([]);
  });
});
