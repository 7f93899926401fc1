/**
 * Sending into a group, on the in-memory ports: members only, the membership read in each
 * attempt between reading the seq and claiming it (docs/adr/0007-groups.md), and the
 * sender counting as having received and read its own message.
 */
import type { SentFrame } from '@parley/protocol';
import { describe, expect, it, vi } from 'vitest';
import { createLastSeqCache } from '../../lambdas/domain/sequencing.js';
import { createAckHandler } from '../../lambdas/handlers/ack.js';
import { createSendHandler } from '../../lambdas/handlers/send.js';
import { addMember, createGroup, fillTo, frameFrom, GROUP, removeMember } from './support/group-members.js';
import { answerOf, createInMemoryTestDeps, errorOf, invoke, NOW } from './support/harness.js';

const sendFrame = (overrides: Record<string, unknown> = {}) => ({
  action: 'send',
  requestId: 'r1',
  conversationId: GROUP,
  clientMessageId: 'c-1',
  body: 'hello',
  ...overrides,
});

const FORBIDDEN = {
  type: 'error',
  requestId: 'r1',
  code: 'forbidden',
  message: `conversationId: you are not a member of ${GROUP}`,
};

/** alice, bob and carol in the group (created at seq 1), holding messages up to `lastSeq`. */
async function groupOfThree(lastSeq = 1) {
  const test = createInMemoryTestDeps();
  await createGroup(test.ports, ['alice', 'bob', 'carol']);
  await fillTo(test.ports, lastSeq);
  return test;
}

const textsFrom = async (test: Awaited<ReturnType<typeof groupOfThree>>, senderId: string) =>
  (await test.ports.messages.listMessages(GROUP, 0, 100)).messages.filter(
    (message) => message.senderId === senderId && message.kind === 'text',
  );

describe('a send into a group', () => {
  it('stores a text message with kind text at the next seq and publishes it', async () => {
    const test = await groupOfThree(3);

    const result = await invoke(createSendHandler(test.provider), frameFrom('bob', sendFrame()));

    expect(answerOf<SentFrame>(result)).toMatchObject({ type: 'sent', conversationId: GROUP, seq: 4 });
    expect(await test.ports.messages.getMessage(GROUP, 4)).toEqual({
      conversationId: GROUP,
      seq: 4,
      messageId: '01MSG0001',
      clientMessageId: 'c-1',
      senderId: 'bob',
      senderDeviceId: 'phone',
      kind: 'text',
      body: 'hello',
      serverTs: NOW,
    });
    expect(test.ports.publisher.records[0]).toMatchObject({
      partitionKey: GROUP,
      event: { type: 'message', seq: 4, kind: 'text' },
    });
  });

  it('raises the sender’s own delivered and read watermarks to its message', async () => {
    const test = await groupOfThree(3);

    await invoke(createSendHandler(test.provider), frameFrom('bob', sendFrame()));

    expect(await test.ports.receipts.listReceipts(GROUP)).toEqual([
      { userId: 'bob', deliveredSeq: 4, readSeq: 4 },
    ]);
    // Own watermarks are not news to anyone: no receipt is published for them.
    expect(test.ports.publisher.events.map((event) => event.type)).toEqual(['message']);
  });

  it('moves everyone, with one groupReceipt of each kind, when the sender held the lowest watermarks', async () => {
    const test = createInMemoryTestDeps();
    await createGroup(test.ports, ['alice', 'bob']);
    await fillTo(test.ports, 3);
    await test.ports.receipts.raiseWatermark(GROUP, 'bob', 'read', 3);
    await test.ports.receipts.raiseWatermark(GROUP, 'bob', 'delivered', 3);

    await invoke(createSendHandler(test.provider), frameFrom('alice', sendFrame()));

    expect(await test.ports.groups.getEveryone(GROUP)).toEqual({ deliveredSeq: 3, readSeq: 3 });
    expect(test.ports.publisher.events).toEqual([
      expect.objectContaining({ type: 'message', seq: 4 }),
      { type: 'groupReceipt', conversationId: GROUP, kind: 'read', seq: 3 },
      { type: 'groupReceipt', conversationId: GROUP, kind: 'delivered', seq: 3 },
    ]);
  });

  it('reads neither the roster nor the watermarks when a member sends into a caught-up group', async () => {
    const test = createInMemoryTestDeps();
    await createGroup(test.ports, ['alice', 'bob', 'carol']);
    await invoke(createSendHandler(test.provider), frameFrom('bob', sendFrame({ clientMessageId: 'c-0' })));
    const ack = { action: 'ack', requestId: 'r2', conversationId: GROUP, kind: 'read', seq: 2 };
    for (const userId of ['alice', 'carol'])
      await invoke(createAckHandler(test.provider), frameFrom(userId, ack));
    const listReceipts = vi.spyOn(test.ports.receipts, 'listReceipts');

    await invoke(createSendHandler(test.provider), frameFrom('alice', sendFrame()));

    expect(listReceipts).not.toHaveBeenCalled();
    expect(await test.ports.groups.getEveryoneState(GROUP)).toMatchObject({
      everyone: { deliveredSeq: 2, readSeq: 2 },
      holders: { delivered: 2, read: 2 },
    });
  });

  it('answers a resend with the first send, and its seq', async () => {
    const test = await groupOfThree(2);
    const send = createSendHandler(test.provider);
    await invoke(send, frameFrom('carol', sendFrame()));

    const again = await invoke(send, frameFrom('carol', sendFrame()));

    expect(answerOf<SentFrame>(again)).toMatchObject({ seq: 3, duplicate: true });
    expect(await textsFrom(test, 'carol')).toHaveLength(1);
  });

  it('refuses a user who was never a member as forbidden and stores nothing', async () => {
    const test = await groupOfThree(2);

    const result = await invoke(createSendHandler(test.provider), frameFrom('dave', sendFrame()));

    expect(errorOf(result)).toEqual(FORBIDDEN);
    expect(await test.ports.messages.lastSeq(GROUP)).toBe(2);
    expect(test.ports.publisher.records).toEqual([]);
  });

  it('refuses a former member as forbidden and stores nothing', async () => {
    const test = await groupOfThree(2);
    await removeMember(test.ports, 'carol');

    const result = await invoke(createSendHandler(test.provider), frameFrom('carol', sendFrame()));

    expect(errorOf(result)).toEqual(FORBIDDEN);
    expect(await test.ports.messages.lastSeq(GROUP)).toBe(3);
    expect(await test.ports.receipts.listReceipts(GROUP)).toEqual([]);
  });

  it('refuses a group that does not exist as forbidden', async () => {
    const test = createInMemoryTestDeps();

    const result = await invoke(createSendHandler(test.provider), frameFrom('alice', sendFrame()));

    expect(errorOf(result)).toEqual(FORBIDDEN);
    expect(await test.ports.messages.lastSeq(GROUP)).toBe(0);
  });

  it('accepts a member added back after leaving', async () => {
    const test = await groupOfThree(2);
    await removeMember(test.ports, 'carol');
    await addMember(test.ports, 'carol');

    const result = await invoke(createSendHandler(test.provider), frameFrom('carol', sendFrame()));

    expect(answerOf<SentFrame>(result)).toMatchObject({ seq: 5 });
  });
});

describe('the membership check of a send, between reading the seq and claiming it', () => {
  it('refuses the send when the removal commits between the seq read and the membership read', async () => {
    const test = await groupOfThree(2);
    const lastSeq = test.ports.messages.lastSeq.bind(test.ports.messages);
    vi.spyOn(test.ports.messages, 'lastSeq').mockImplementationOnce(async (conversationId) => {
      const seq = await lastSeq(conversationId);
      await removeMember(test.ports, 'carol');
      return seq;
    });
    const storeMessage = vi.spyOn(test.ports.messages, 'storeMessage');

    const result = await invoke(createSendHandler(test.provider), frameFrom('carol', sendFrame()));

    expect(errorOf(result)).toEqual(FORBIDDEN);
    expect(storeMessage).not.toHaveBeenCalled();
    expect(await textsFrom(test, 'carol')).toEqual([]);
  });

  it('makes the claim fail when the removal commits after the membership read, and the next attempt refuses it', async () => {
    const test = await groupOfThree(2);
    const getMembership = test.ports.groups.getMembership.bind(test.ports.groups);
    const membershipReads = vi
      .spyOn(test.ports.groups, 'getMembership')
      .mockImplementationOnce(async (conversationId, userId) => {
        const membership = await getMembership(conversationId, userId);
        // The removal takes seq 3, the seq this send read as free and is about to claim.
        await removeMember(test.ports, 'carol');
        return membership;
      });
    const storeMessage = vi.spyOn(test.ports.messages, 'storeMessage');

    const result = await invoke(createSendHandler(test.provider), frameFrom('carol', sendFrame()));

    expect(errorOf(result)).toEqual(FORBIDDEN);
    expect(storeMessage).toHaveBeenCalledTimes(1);
    expect(await storeMessage.mock.results[0]?.value).toEqual({ status: 'seq_taken' });
    expect(membershipReads).toHaveBeenCalledTimes(2);
    expect((await test.ports.messages.getMessage(GROUP, 3))?.kind).toBe('member-removed');
    expect(await textsFrom(test, 'carol')).toEqual([]);
  });

  it('checks the membership after a seq guessed from the instance’s cache too', async () => {
    const test = await groupOfThree(2);
    const cache = createLastSeqCache();
    cache.remember(GROUP, 2);
    test.deps.sequencing.lastSeqCache = cache;
    await removeMember(test.ports, 'carol');
    const lastSeq = vi.spyOn(test.ports.messages, 'lastSeq');
    const membershipReads = vi.spyOn(test.ports.groups, 'getMembership');

    const result = await invoke(createSendHandler(test.provider), frameFrom('carol', sendFrame()));

    expect(errorOf(result)).toEqual(FORBIDDEN);
    expect(lastSeq).not.toHaveBeenCalled();
    expect(membershipReads).toHaveBeenCalledTimes(1);
  });
});
