/**
 * `sync` in a group, on the in-memory ports: the caller's window of the conversation (from
 * the seq that added it, up to its removal), its own receipt and `everyone`.
 */
import type { HistoryFrame } from '@parley/protocol';
import { describe, expect, it, vi } from 'vitest';
import { createSyncHandler } from '../../lambdas/handlers/sync.js';
import {
  addMember,
  createGroup,
  fillTo,
  frameFrom,
  GROUP,
  removeMember,
  setEveryone,
} from './support/group-members.js';
import { answerOf, createInMemoryTestDeps, errorOf, invoke } from './support/harness.js';

const syncFrame = (afterSeq: number, limit?: number) => ({
  action: 'sync',
  requestId: 'r3',
  conversationId: GROUP,
  afterSeq,
  ...(limit === undefined ? {} : { limit }),
});

/**
 * alice and bob from seq 1; carol added at 4 and removed at 8; messages up to 10:
 * 1 created, 2-3 text, 4 carol added, 5-7 text, 8 carol removed, 9-10 text.
 */
async function groupWithHistory() {
  const test = createInMemoryTestDeps();
  await createGroup(test.ports, ['alice', 'bob']);
  await fillTo(test.ports, 3);
  await addMember(test.ports, 'carol');
  await fillTo(test.ports, 7);
  await removeMember(test.ports, 'carol');
  await fillTo(test.ports, 10);
  const sync = async (userId: string, afterSeq: number, limit?: number) =>
    invoke(createSyncHandler(test.provider), frameFrom(userId, syncFrame(afterSeq, limit)));
  return { ...test, sync };
}

const seqsOf = (history: HistoryFrame) => history.messages.map((message) => message.seq);

describe('sync in a group', () => {
  it('answers a current member every message after afterSeq, with its own receipt and everyone', async () => {
    const test = await groupWithHistory();
    await test.ports.receipts.raiseWatermark(GROUP, 'alice', 'delivered', 9);
    await test.ports.receipts.raiseWatermark(GROUP, 'bob', 'read', 6);
    await setEveryone(test.ports.groups, { deliveredSeq: 6, readSeq: 0 });

    const history = answerOf<HistoryFrame>(await test.sync('alice', 6));

    expect(history).toMatchObject({
      type: 'history',
      requestId: 'r3',
      conversationId: GROUP,
      lastSeq: 10,
      hasMore: false,
      receipts: [{ userId: 'alice', deliveredSeq: 9, readSeq: 0 }],
      everyone: { deliveredSeq: 6, readSeq: 0 },
    });
    expect(seqsOf(history)).toEqual([7, 8, 9, 10]);
    expect(history.messages[1]).toMatchObject({ kind: 'member-removed', userId: 'carol' });
  });

  it('reads the caller’s own watermarks only, not every member’s', async () => {
    const test = await groupWithHistory();
    const listReceipts = vi.spyOn(test.ports.receipts, 'listReceipts');
    const getGroup = vi.spyOn(test.ports.groups, 'getGroup');

    await test.sync('bob', 0);

    expect(listReceipts).not.toHaveBeenCalled();
    expect(getGroup).not.toHaveBeenCalled();
  });

  it('answers from the seq that added the member when afterSeq is below it', async () => {
    const test = await groupWithHistory();
    const dave = await addMember(test.ports, 'dave');

    const history = answerOf<HistoryFrame>(await test.sync('dave', 0));

    expect(dave).toBe(11);
    expect(seqsOf(history)).toEqual([11]);
    expect(history).toMatchObject({ lastSeq: 11, hasMore: false });
    // The messages before it joined count as received and read.
    expect(history.receipts).toEqual([{ userId: 'dave', deliveredSeq: 10, readSeq: 10 }]);
  });

  it('answers a former member its window up to its removal, removal included, and no further', async () => {
    const test = await groupWithHistory();

    const history = answerOf<HistoryFrame>(await test.sync('carol', 0));

    expect(seqsOf(history)).toEqual([4, 5, 6, 7, 8]);
    expect(history).toMatchObject({ lastSeq: 8, hasMore: false });
  });

  it('pages a former member’s window with hasMore until its removal', async () => {
    const test = await groupWithHistory();

    const first = answerOf<HistoryFrame>(await test.sync('carol', 0, 3));
    const second = answerOf<HistoryFrame>(await test.sync('carol', 6, 3));

    expect(seqsOf(first)).toEqual([4, 5, 6]);
    expect(first).toMatchObject({ lastSeq: 8, hasMore: true });
    expect(seqsOf(second)).toEqual([7, 8]);
    expect(second).toMatchObject({ lastSeq: 8, hasMore: false });
  });

  it('answers nothing past a removal that commits between its membership read and its page read', async () => {
    const test = await groupWithHistory();
    const listMessages = test.ports.messages.listMessages.bind(test.ports.messages);
    vi.spyOn(test.ports.messages, 'listMessages').mockImplementationOnce(async (...args) => {
      await removeMember(test.ports, 'bob'); // 11, after sync read bob as a member
      await fillTo(test.ports, 12);
      return listMessages(...args);
    });

    const history = answerOf<HistoryFrame>(await test.sync('bob', 9));

    expect(seqsOf(history)).toEqual([10, 11]);
    expect(history.messages[1]).toMatchObject({ kind: 'member-removed', userId: 'bob' });
    expect(history).toMatchObject({ lastSeq: 11, hasMore: false });
  });

  it('answers a member removed and added back between its two reads only its windows', async () => {
    const test = await groupWithHistory();
    const listMessages = test.ports.messages.listMessages.bind(test.ports.messages);
    vi.spyOn(test.ports.messages, 'listMessages').mockImplementationOnce(async (...args) => {
      await removeMember(test.ports, 'bob'); // 11
      await fillTo(test.ports, 12);
      await addMember(test.ports, 'bob'); // 13
      return listMessages(...args);
    });

    const history = answerOf<HistoryFrame>(await test.sync('bob', 9));

    expect(seqsOf(history)).toEqual([10, 11, 13]);
    expect(history).toMatchObject({ lastSeq: 13, hasMore: false });
  });

  it('answers a former member nothing after its removal, and caps everyone there', async () => {
    const test = await groupWithHistory();
    await setEveryone(test.ports.groups, { deliveredSeq: 5, readSeq: 10 });

    const history = answerOf<HistoryFrame>(await test.sync('carol', 8));

    expect(history).toMatchObject({
      messages: [],
      lastSeq: 8,
      hasMore: false,
      everyone: { deliveredSeq: 5, readSeq: 8 },
    });
  });

  it('passes on the seqs gone past the retention period, and caps them at a former member’s removal', async () => {
    const test = await groupWithHistory();
    const listMessages = vi.spyOn(test.ports.messages, 'listMessages');
    listMessages.mockResolvedValue({ messages: [], lastSeq: 10, goneThrough: 9 });

    const member = answerOf<HistoryFrame>(await test.sync('alice', 0));
    const former = answerOf<HistoryFrame>(await test.sync('carol', 3));

    expect(member).toMatchObject({ messages: [], goneThrough: 9, hasMore: true });
    expect(former).toMatchObject({ messages: [], goneThrough: 8, lastSeq: 8, hasMore: false });
  });

  it.each([
    ['a user who was never a member', 'dave', GROUP],
    ['a group that does not exist', 'alice', 'grp:none'],
  ])('refuses %s as forbidden', async (_who, userId, conversationId) => {
    const test = await groupWithHistory();

    const result = await invoke(
      createSyncHandler(test.provider),
      frameFrom(userId, { ...syncFrame(0), conversationId }),
    );

    expect(errorOf(result)).toEqual({
      type: 'error',
      requestId: 'r3',
      code: 'forbidden',
      message: `conversationId: you are not a member of ${conversationId}`,
    });
  });
});
