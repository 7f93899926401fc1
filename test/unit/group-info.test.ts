/**
 * `groupInfo` and the membership routes through their handlers, on the in-memory ports:
 * the pages of members, and the frames the routes answer and refuse.
 */
import { type GroupFrame, MAX_FRAME_BYTES } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { addMembers, removeMember } from '../../lambdas/domain/groups.js';
import { createCreateGroupHandler } from '../../lambdas/handlers/create-group.js';
import { createGroupInfoHandler } from '../../lambdas/handlers/group-info.js';
import { createRemoveMemberHandler } from '../../lambdas/handlers/remove-member.js';
import { aliceGroup, BOB, GROUP, groupTest, longIds } from './support/groups.js';
import { answerOf, createInMemoryTestDeps, errorOf, invoke, messageEvent } from './support/harness.js';

/** Handler deps sharing the ports of a group test, so that a group made through the domain is there. */
function handlersOver(test: ReturnType<typeof groupTest>) {
  return createInMemoryTestDeps({ ports: test.ports }).provider;
}

const groupInfo = async (test: ReturnType<typeof groupTest>, after?: string) =>
  invoke(
    createGroupInfoHandler(handlersOver(test)),
    messageEvent({
      action: 'groupInfo',
      requestId: 'r1',
      conversationId: GROUP,
      ...(after ? { after } : {}),
    }),
  );

describe('groupInfo', () => {
  it('answers the members in user id order with their roles and receipts, never below what came before they joined', async () => {
    const test = groupTest();
    await aliceGroup(test, ['carol', 'bob']);
    await test.ports.messages.storeMessage({
      conversationId: GROUP,
      seq: 2,
      messageId: 'm2',
      clientMessageId: 'c2',
      senderId: 'alice',
      senderDeviceId: 'phone',
      kind: 'text',
      body: 'hi',
      serverTs: 1,
    });
    await test.ports.receipts.raiseWatermark(GROUP, 'bob', 'read', 2);
    await test.ports.receipts.raiseWatermark(GROUP, 'bob', 'delivered', 2);
    await addMembers(
      test.deps,
      { userId: 'alice', deviceId: 'phone' },
      { conversationId: GROUP, members: ['dave'] },
    );

    const answer = answerOf<GroupFrame>(await groupInfo(test));

    expect(answer).toEqual({
      type: 'group',
      requestId: 'r1',
      conversationId: GROUP,
      title: 'Lunch',
      createdBy: 'alice',
      lastSeq: 3,
      memberCount: 4,
      members: [
        { userId: 'alice', admin: true, joinedSeq: 1, deliveredSeq: 0, readSeq: 0 },
        { userId: 'bob', admin: false, joinedSeq: 1, deliveredSeq: 2, readSeq: 2 },
        { userId: 'carol', admin: false, joinedSeq: 1, deliveredSeq: 0, readSeq: 0 },
        { userId: 'dave', admin: false, joinedSeq: 3, deliveredSeq: 2, readSeq: 2 },
      ],
      hasMore: false,
    });
  });

  it('pages 1,024 members with 64-character ids in frames that fit, continuing after the last user id', async () => {
    const test = groupTest();
    const members = longIds(1023);
    await aliceGroup(test, members);

    const pages: GroupFrame[] = [];
    let after: string | undefined;
    do {
      const result = await groupInfo(test, after);
      expect(Buffer.byteLength(result.body ?? '')).toBeLessThanOrEqual(MAX_FRAME_BYTES);
      const page = answerOf<GroupFrame>(result);
      pages.push(page);
      after = page.members.at(-1)?.userId;
      if (!page.hasMore) break;
    } while (pages.length < 10);

    expect(pages.length).toBeGreaterThan(1);
    expect(pages[0]?.hasMore).toBe(true);
    expect(pages.flatMap((page) => page.members.map((member) => member.userId))).toEqual(
      ['alice', ...members].sort(),
    );
    expect(pages.every((page) => page.memberCount === 1024)).toBe(true);
  });

  it('refuses a former member, a stranger and an unknown group as forbidden', async () => {
    const test = groupTest();
    await aliceGroup(test);
    await removeMember(test.deps, BOB, { conversationId: GROUP, userId: 'bob' });
    const provider = handlersOver(test);
    const askAs = (userId: string, conversationId = GROUP) => {
      const event = messageEvent({ action: 'groupInfo', requestId: 'r1', conversationId });
      event.requestContext.authorizer = { ...event.requestContext.authorizer, userId };
      return invoke(createGroupInfoHandler(provider), event);
    };

    for (const answer of [await askAs('bob'), await askAs('erin'), await askAs('alice', 'grp:nowhere')]) {
      expect(errorOf(answer)).toMatchObject({ code: 'forbidden', requestId: 'r1' });
    }
  });
});

describe('the membership routes', () => {
  it('answer groupChanged with the seq and duplicate flag of the change', async () => {
    const test = groupTest();
    const handler = createCreateGroupHandler(handlersOver(test));
    const frame = {
      action: 'createGroup',
      requestId: 'r7',
      conversationId: GROUP,
      title: 'Lunch',
      members: ['bob'],
    };

    const first = answerOf(await invoke(handler, messageEvent(frame)));
    const again = answerOf(await invoke(handler, messageEvent({ ...frame, requestId: 'r8' })));

    expect(first).toEqual({
      type: 'groupChanged',
      requestId: 'r7',
      conversationId: GROUP,
      seq: 1,
      duplicate: false,
    });
    expect(again).toEqual({
      type: 'groupChanged',
      requestId: 'r8',
      conversationId: GROUP,
      seq: 1,
      duplicate: true,
    });
  });

  it('refuse a bad frame as bad_request naming the field, and a domain refusal with its code', async () => {
    const test = groupTest();
    await aliceGroup(test);
    const handler = createRemoveMemberHandler(handlersOver(test));

    const badId = await invoke(
      handler,
      messageEvent({ action: 'removeMember', requestId: 'r1', conversationId: 'dm:a:b', userId: 'bob' }),
    );
    const missing = await invoke(
      handler,
      messageEvent({ action: 'removeMember', requestId: 'r2', conversationId: GROUP }),
    );

    expect(errorOf(badId)).toMatchObject({
      code: 'bad_request',
      requestId: 'r1',
      message: expect.stringMatching(/^conversationId: /),
    });
    expect(errorOf(missing)).toMatchObject({
      code: 'bad_request',
      requestId: 'r2',
      message: expect.stringMatching(/^userId: /),
    });
    expect(await test.ports.messages.lastSeq(GROUP)).toBe(1);
  });
});
