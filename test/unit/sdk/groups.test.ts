import { GROUP_MAX_MEMBERS } from '@parley/protocol';
import { ConnectionState, MemoryStorage, MessageStatus, ParleyError, ParleyErrorCode } from '@parley/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ALICE,
  answerCatchUp,
  BOB,
  CAROL,
  cleanUpSdkTest,
  connectedClient,
  createClient,
  expectNothingSent,
  offlineClient,
  processed,
  record,
  until,
} from './support/clients.js';
import { startFakeServer } from './support/fake-server.js';
import {
  errorAnswer,
  GROUP,
  groupChangedAnswer,
  groupEvent,
  messageEvent,
  sentAnswer,
} from './support/frames.js';

afterEach(cleanUpSdkTest);

describe('createGroup', () => {
  it('sends createGroup with a grp: UUID id, shows the group at once, and resolves with the answer', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    const creating = client.createGroup({ title: 'Lunch', members: [BOB, CAROL] });
    const frame = await connection.nextFrame();
    const id = String(frame.conversationId);
    expect(frame).toEqual({
      action: 'createGroup',
      requestId: expect.any(String),
      conversationId: expect.stringMatching(/^grp:[0-9a-f-]{36}$/),
      title: 'Lunch',
      members: [BOB, CAROL],
    });
    await until(client, () => client.conversations().length === 1);
    expect(client.conversations()[0]).toMatchObject({
      conversationId: id,
      kind: 'group',
      peerId: '',
      title: 'Lunch',
      memberCount: 3,
      member: true,
    });
    expect(client.messages(id)).toEqual([
      expect.objectContaining({
        kind: 'group-created',
        title: 'Lunch',
        members: [ALICE, BOB, CAROL],
        body: '',
        status: MessageStatus.Pending,
      }),
    ]);

    connection.answer(frame, groupChangedAnswer(frame, 1));
    expect(await creating).toEqual({ conversationId: id, seq: 1 });
    expect(client.pendingCount()).toBe(0);
  });

  it('shows the stored group-created event, not the pending one, once the event overtakes the answer', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    const creating = client.createGroup({ title: 'Lunch', members: [BOB], conversationId: GROUP });
    const frame = await connection.nextFrame();
    connection.send(
      messageEvent(groupEvent(1, { kind: 'group-created', title: 'Lunch', members: [ALICE, BOB] })),
    );
    await processed(connection, client);

    expect(client.messages(GROUP).map((m) => [m.kind, m.seq, m.status])).toEqual([
      ['group-created', 1, MessageStatus.Sent],
    ]);
    connection.answer(frame, groupChangedAnswer(frame, 1));
    await creating;
    expect(client.messages(GROUP)).toHaveLength(1);
  });

  it('sends a group created offline, then the messages written into it, in order, once connected', async () => {
    const server = await startFakeServer();
    const client = await offlineClient(server);
    const creating = client.createGroup({ title: 'Lunch', members: [BOB], conversationId: GROUP });
    const first = await client.send({ conversationId: GROUP }, 'first');
    await client.send({ conversationId: GROUP }, 'second');
    expect(client.pendingCount()).toBe(3);

    server.refusing = false;
    const connection = await server.nextConnection();
    const create = await connection.nextFrame();
    await answerCatchUp(connection);
    // The message waits for the creation's answer: it must not reach a group not created yet.
    await expectNothingSent(connection, client);
    connection.answer(create, groupChangedAnswer(create, 1));
    connection.send(
      messageEvent(groupEvent(1, { kind: 'group-created', title: 'Lunch', members: [ALICE, BOB] })),
    );
    const send = await connection.nextFrame();
    connection.answer(send, sentAnswer(send, 2));
    const second = await connection.nextFrame();
    connection.answer(second, sentAnswer(second, 3));
    await until(client, () => client.pendingCount() === 0);

    expect(create).toMatchObject({ action: 'createGroup', conversationId: GROUP, title: 'Lunch' });
    expect(send).toMatchObject({
      action: 'send',
      conversationId: GROUP,
      clientMessageId: first.clientMessageId,
      body: 'first',
    });
    expect(second).toMatchObject({ action: 'send', conversationId: GROUP, body: 'second' });
    expect(await creating).toEqual({ conversationId: GROUP, seq: 1 });
    expect(client.messages(GROUP).map((m) => [m.seq, m.kind, m.body])).toEqual([
      [1, 'group-created', ''],
      [2, 'text', 'first'],
      [3, 'text', 'second'],
    ]);
  });

  it('sends a stored creation and its messages in order after a restart', async () => {
    const server = await startFakeServer();
    const storage = new MemoryStorage();
    const before = await offlineClient(server, { storage });
    const creating = before.createGroup({ title: 'Lunch', members: [BOB], conversationId: GROUP });
    await before.send({ conversationId: GROUP }, 'hello group');
    await before.close();
    await expect(creating).rejects.toMatchObject({ code: ParleyErrorCode.Closed });
    server.refusing = false;

    const after = await createClient(server, { storage });
    await after.connect();
    expect(after.messages(GROUP).map((m) => [m.kind, m.status])).toEqual([
      ['group-created', MessageStatus.Pending],
      ['text', MessageStatus.Pending],
    ]);
    const connection = await server.nextConnection();
    const create = await connection.nextFrame();
    await answerCatchUp(connection);
    await expectNothingSent(connection, after);
    connection.answer(create, groupChangedAnswer(create, 1));
    const send = await connection.nextFrame();

    expect(create).toMatchObject({ action: 'createGroup', conversationId: GROUP, members: [BOB] });
    expect(send).toMatchObject({ action: 'send', conversationId: GROUP, body: 'hello group' });
  });

  it('sends the creation again with the same id after a lost answer, and resolves once with the duplicate answer', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const creating = client.createGroup({ title: 'Lunch', members: [BOB], conversationId: GROUP });
    // Asked twice with the same id: one creation, both calls answered.
    const again = client.createGroup({ title: 'Lunch', members: [BOB], conversationId: GROUP });
    const first = await connection.nextFrame();

    connection.drop();
    const next = await server.nextConnection();
    const resent = await next.nextFrame();
    await answerCatchUp(next);
    next.answer(resent, groupChangedAnswer(resent, 1, true));

    expect(await creating).toEqual({ conversationId: GROUP, seq: 1 });
    expect(await again).toEqual({ conversationId: GROUP, seq: 1 });
    expect(resent).toMatchObject({ action: 'createGroup', conversationId: GROUP });
    expect(resent.requestId).not.toBe(first.requestId);
    expect(client.pendingCount()).toBe(0);
    await expectNothingSent(next, client);
  });

  it('rejects with the server’s code when the id is taken, marks the creation failed, and reports no error event', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const errors = record(client, 'error');

    const creating = client.createGroup({ title: 'Lunch', members: [BOB], conversationId: GROUP });
    const frame = await connection.nextFrame();
    connection.answer(frame, errorAnswer(frame, 'forbidden', 'conversationId: taken by another user'));

    const refusal = await creating.catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(ParleyError);
    expect(refusal).toMatchObject({
      code: ParleyErrorCode.Forbidden,
      message: 'conversationId: taken by another user',
    });
    expect(client.messages(GROUP)).toEqual([
      expect.objectContaining({ kind: 'group-created', status: MessageStatus.Failed }),
    ]);
    await processed(connection, client);
    expect(errors).toEqual([]);
  });

  it.each([
    ['an empty title', { title: '', members: [BOB] }, /^title: must be 1 to 100 characters/],
    ['a title over 100 characters', { title: 'x'.repeat(101), members: [BOB] }, /^title: /],
    ['no members', { title: 'Lunch', members: [] }, /^members: must hold 1 to 1023/],
    ['a member twice', { title: 'Lunch', members: [BOB, BOB] }, /^members: must not name a user twice/],
    ['a bad user id', { title: 'Lunch', members: ['no spaces'] }, /^members\.0: /],
    [
      '1,024 other members',
      { title: 'Lunch', members: Array.from({ length: GROUP_MAX_MEMBERS }, (_, i) => `u${i}`) },
      /^members: /,
    ],
    ['the caller among the members', { title: 'Lunch', members: [ALICE] }, /^members: must not name you/],
    [
      'a one-to-one id',
      { title: 'Lunch', members: [BOB], conversationId: 'dm:alice:bob' },
      /^conversationId: /,
    ],
  ])(
    'refuses %s at once with bad_request naming the field, and queues nothing',
    async (_name, options, message) => {
      const server = await startFakeServer();
      const client = await offlineClient(server);

      await expect(client.createGroup(options)).rejects.toMatchObject({
        code: ParleyErrorCode.BadRequest,
        message: expect.stringMatching(message),
      });
      expect(client.pendingCount()).toBe(0);
      expect(client.conversations()).toEqual([]);
    },
  );

  it('rejects calls made before connect() with closed', async () => {
    const server = await startFakeServer();
    const client = await createClient(server);

    await expect(client.createGroup({ title: 'Lunch', members: [BOB] })).rejects.toMatchObject({
      code: ParleyErrorCode.Closed,
    });
    expect(client.state).toBe(ConnectionState.Idle);
  });
});

describe('the membership actions', () => {
  it.each([
    ['addMembers', { members: [CAROL] }],
    ['removeMember', { userId: CAROL }],
    ['setTitle', { title: 'Dinner' }],
    ['setAdmin', { userId: BOB, admin: true }],
  ] as const)('%s sends its frame and resolves with the seq of its event', async (action, fields) => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const calls = {
      addMembers: () => client.addMembers(GROUP, [CAROL]),
      removeMember: () => client.removeMember(GROUP, CAROL),
      setTitle: () => client.setTitle(GROUP, 'Dinner'),
      setAdmin: () => client.setAdmin(GROUP, BOB, true),
    };

    const changing = calls[action]();
    const frame = await connection.nextFrame();
    connection.answer(frame, groupChangedAnswer(frame, 7));

    expect(frame).toEqual({ action, requestId: expect.any(String), conversationId: GROUP, ...fields });
    expect(await changing).toEqual({ seq: 7 });
  });

  it('leaveGroup removes the caller itself', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    const leaving = client.leaveGroup(GROUP);
    const frame = await connection.nextFrame();
    connection.answer(frame, groupChangedAnswer(frame, 9));

    expect(frame).toMatchObject({ action: 'removeMember', conversationId: GROUP, userId: ALICE });
    expect(await leaving).toEqual({ seq: 9 });
  });

  it('resolves with seq null when the change changed nothing', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    const adding = client.addMembers(GROUP, [BOB]);
    const frame = await connection.nextFrame();
    connection.answer(frame, groupChangedAnswer(frame, null));

    expect(await adding).toEqual({ seq: null });
  });

  it.each(['forbidden', 'bad_request'])(
    'rejects with a ParleyError of the server’s code %s',
    async (code) => {
      const server = await startFakeServer();
      const { client, connection } = await connectedClient(server);

      const setting = client.setTitle(GROUP, 'Dinner');
      const frame = await connection.nextFrame();
      connection.answer(frame, errorAnswer(frame, code, 'conversationId: admins only'));

      await expect(setting).rejects.toSatisfy(
        (error) =>
          error instanceof ParleyError &&
          error.code === code &&
          error.message === 'conversationId: admins only',
      );
    },
  );

  it('fails with connection_lost while offline: a membership change acts on the group as it is now', async () => {
    const server = await startFakeServer();
    const client = await offlineClient(server);

    await expect(client.addMembers(GROUP, [CAROL])).rejects.toMatchObject({
      code: ParleyErrorCode.ConnectionLost,
    });
  });

  it('refuses bad input at once, naming the field, and sends nothing', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    const refusals = await Promise.all([
      client.addMembers(GROUP, []).catch((error: unknown) => error),
      client.removeMember(GROUP, '').catch((error: unknown) => error),
      client.setTitle(GROUP, 'x'.repeat(101)).catch((error: unknown) => error),
      client.setAdmin('grp:', BOB, true).catch((error: unknown) => error),
      client.groupInfo('dm:alice:bob').catch((error: unknown) => error),
    ]);

    expect(
      refusals.map((error) => [(error as ParleyError).code, (error as ParleyError).message.split(':')[0]]),
    ).toEqual([
      ['bad_request', 'members'],
      ['bad_request', 'userId'],
      ['bad_request', 'title'],
      ['bad_request', 'conversationId'],
      ['bad_request', 'conversationId'],
    ]);
    await expectNothingSent(connection, client);
  });
});

describe('groupInfo', () => {
  const member = (userId: string, joinedSeq = 1) => ({
    userId,
    admin: userId === ALICE,
    joinedSeq,
    deliveredSeq: 3,
    readSeq: 2,
  });
  const page = (members: ReturnType<typeof member>[], hasMore: boolean) => ({
    type: 'group',
    conversationId: GROUP,
    title: 'Lunch',
    createdBy: ALICE,
    lastSeq: 4,
    memberCount: 3,
    members,
    hasMore,
  });

  it('collects every page, asking after the last user id of each, and keeps the title for the list', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    const info = client.groupInfo(GROUP);
    const first = await connection.nextFrame();
    connection.answer(first, page([member(ALICE), member(BOB)], true));
    const second = await connection.nextFrame();
    connection.answer(second, page([member(CAROL, 3)], false));

    expect(first).toEqual({ action: 'groupInfo', requestId: expect.any(String), conversationId: GROUP });
    expect(second).toMatchObject({ action: 'groupInfo', conversationId: GROUP, after: BOB });
    expect(await info).toEqual({
      conversationId: GROUP,
      title: 'Lunch',
      createdBy: ALICE,
      lastSeq: 4,
      memberCount: 3,
      members: [member(ALICE), member(BOB), member(CAROL, 3)],
    });
    await until(client, () => client.conversations().length === 1);
    expect(client.conversations()[0]).toMatchObject({ kind: 'group', title: 'Lunch', memberCount: 3 });
  });

  it('stops at a page with no member, even if it says hasMore', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    const info = client.groupInfo(GROUP);
    const first = await connection.nextFrame();
    connection.answer(first, page([], true));

    expect((await info).members).toEqual([]);
    await expectNothingSent(connection, client);
  });

  it('rejects with forbidden for someone no longer a member', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    const info = client.groupInfo(GROUP);
    const first = await connection.nextFrame();
    connection.answer(first, errorAnswer(first, 'forbidden'));

    await expect(info).rejects.toMatchObject({ code: ParleyErrorCode.Forbidden });
  });
});
