import { randomUUID } from 'node:crypto';
import { directConversationId } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { uniqueId, useTestStack } from '../support/stack.js';
import { waitForList } from '../support/wait-for-list.js';

describe('send, sync, ping and errors over a real WebSocket', () => {
  const { connect } = useTestStack();

  /** Alice (phone, desktop) and bob (phone, tablet), each device connected, and their conversation. */
  async function twoUsersWithTwoDevices() {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    return {
      alice,
      bob,
      alicePhone: await connect(alice, 'phone'),
      aliceDesktop: await connect(alice, 'desktop'),
      bobPhone: await connect(bob, 'phone'),
      bobTablet: await connect(bob, 'tablet'),
      conversationId: directConversationId(alice, bob),
    };
  }

  it('delivers a message to every device of both users, the sending device included', async () => {
    const { alice, bob, alicePhone, aliceDesktop, bobPhone, bobTablet, conversationId } =
      await twoUsersWithTwoDevices();

    const sent = await alicePhone.request({ action: 'send', to: bob, clientMessageId: 'm1', body: 'hello' });

    expect(sent).toMatchObject({
      type: 'sent',
      conversationId,
      clientMessageId: 'm1',
      seq: 1,
      duplicate: false,
    });
    expect(typeof sent.messageId).toBe('string');
    expect(typeof sent.serverTs).toBe('number');
    for (const device of [alicePhone, aliceDesktop, bobPhone, bobTablet]) {
      const [message] = await device.messagesOf(conversationId, 1);
      expect(message).toEqual({
        type: 'message',
        conversationId,
        seq: 1,
        messageId: sent.messageId,
        clientMessageId: 'm1',
        senderId: alice,
        senderDeviceId: 'phone',
        kind: 'text',
        body: 'hello',
        serverTs: sent.serverTs,
      });
    }
  });

  it('with echo false (1.5), delivers to every device but the sending connection, and sync and the list are unchanged', async () => {
    const { alice, bob, alicePhone, aliceDesktop, bobPhone, bobTablet, conversationId } =
      await twoUsersWithTwoDevices();

    const quiet = await alicePhone.request({
      action: 'send',
      to: bob,
      clientMessageId: 'm1',
      body: 'quiet',
      echo: false,
    });
    // Then one with the echo: the stream carries a conversation's records in order and the
    // fanout posts them in that order, so had the first reached the phone it would be there by now.
    await alicePhone.request({ action: 'send', to: bob, clientMessageId: 'm2', body: 'loud' });
    await alicePhone.waitFor((frame) => frame.type === 'message' && frame.seq === 2);

    expect(quiet).toMatchObject({ type: 'sent', conversationId, seq: 1, duplicate: false });
    expect(alicePhone.received.filter((frame) => frame.type === 'message').map((frame) => frame.seq)).toEqual(
      [2],
    );
    for (const device of [aliceDesktop, bobPhone, bobTablet]) {
      const messages = await device.messagesOf(conversationId, 2);
      expect(messages[0]).toEqual({
        type: 'message',
        conversationId,
        seq: 1,
        messageId: quiet.messageId,
        clientMessageId: 'm1',
        senderId: alice,
        senderDeviceId: 'phone',
        kind: 'text',
        body: 'quiet',
        serverTs: quiet.serverTs,
      });
    }
    const history = await alicePhone.request({ action: 'sync', conversationId, afterSeq: 0 });
    expect((history.messages as Array<{ seq: number; body: string }>).map((m) => [m.seq, m.body])).toEqual([
      [1, 'quiet'],
      [2, 'loud'],
    ]);
    const list = await waitForList(alicePhone, {}, (page) =>
      page.conversations.some((entry) => entry.conversationId === conversationId && entry.lastSeq === 2),
    );
    expect(list.conversations.find((entry) => entry.conversationId === conversationId)).toMatchObject({
      lastSeq: 2,
      lastMessage: { seq: 2, body: 'loud' },
    });
  });

  it('answers a resend of the same clientMessageId with the first seq and stores it once', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const phone = await connect(alice, 'phone');
    const desktop = await connect(alice, 'desktop');
    const clientMessageId = randomUUID();
    const first = await phone.request({ action: 'send', to: bob, clientMessageId, body: 'once' });

    const again = await desktop.request({
      action: 'send',
      conversationId: first.conversationId,
      clientMessageId,
      body: 'once',
    });

    expect(again).toMatchObject({
      seq: first.seq,
      messageId: first.messageId,
      serverTs: first.serverTs,
      duplicate: true,
    });
    const history = await phone.request({
      action: 'sync',
      conversationId: first.conversationId,
      afterSeq: 0,
    });
    expect(history.messages).toHaveLength(1);
    expect(history.lastSeq).toBe(1);
  });

  it('numbers messages 1, 2, 3 and syncs them in pages in seq order', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const phone = await connect(alice, 'phone');
    const conversationId = directConversationId(alice, bob);
    for (const body of ['one', 'two', 'three']) {
      await phone.request({ action: 'send', conversationId, clientMessageId: randomUUID(), body });
    }
    const bobPhone = await connect(bob, 'phone');

    const firstPage = await bobPhone.request({ action: 'sync', conversationId, afterSeq: 0, limit: 2 });
    const secondPage = await bobPhone.request({ action: 'sync', conversationId, afterSeq: 2, limit: 2 });

    expect(firstPage).toMatchObject({ type: 'history', conversationId, lastSeq: 3, hasMore: true });
    expect((firstPage.messages as Array<{ seq: number; body: string }>).map((m) => [m.seq, m.body])).toEqual([
      [1, 'one'],
      [2, 'two'],
    ]);
    expect(secondPage).toMatchObject({ lastSeq: 3, hasMore: false });
    expect((secondPage.messages as Array<{ body: string }>).map((m) => m.body)).toEqual(['three']);
    expect(firstPage.receipts).toEqual([
      { userId: [alice, bob].sort()[0], deliveredSeq: 0, readSeq: 0 },
      { userId: [alice, bob].sort()[1], deliveredSeq: 0, readSeq: 0 },
    ]);
  });

  it('cuts a sync page at the 32 KB frame limit and says hasMore for the rest', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const phone = await connect(alice, 'phone');
    const conversationId = directConversationId(alice, bob);
    // 4096 two-byte characters: about 8 KB of UTF-8 each, so eight never fit in one frame.
    for (let i = 0; i < 8; i++) {
      await phone.request({
        action: 'send',
        conversationId,
        clientMessageId: randomUUID(),
        body: 'é'.repeat(4096),
      });
    }

    const pages: Array<{ seqs: number[]; bytes: number; hasMore: boolean }> = [];
    let afterSeq = 0;
    for (let more = true; more; ) {
      const page = await phone.request({ action: 'sync', conversationId, afterSeq, limit: 200 });
      const seqs = (page.messages as Array<{ seq: number }>).map((m) => m.seq);
      pages.push({ seqs, bytes: Buffer.byteLength(JSON.stringify(page)), hasMore: page.hasMore as boolean });
      afterSeq = seqs.at(-1) ?? afterSeq;
      more = page.hasMore as boolean;
    }

    expect(pages.length).toBeGreaterThan(1);
    expect(pages.every((page) => page.bytes <= 32 * 1024)).toBe(true);
    expect(pages.flatMap((page) => page.seqs)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(pages.slice(0, -1).every((page) => page.hasMore)).toBe(true);
  });

  it('answers sync of a conversation nobody wrote in with no messages and lastSeq 0', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const phone = await connect(alice, 'phone');
    const history = await phone.request({
      action: 'sync',
      conversationId: directConversationId(alice, bob),
      afterSeq: 0,
    });
    expect(history).toMatchObject({ messages: [], lastSeq: 0, hasMore: false });
  });

  it('refuses to send into or sync a conversation the caller is not a member of', async () => {
    const [alice, bob, mallory] = [uniqueId('alice'), uniqueId('bob'), uniqueId('mallory')];
    const alicePhone = await connect(alice, 'phone');
    const sent = await alicePhone.request({
      action: 'send',
      to: bob,
      clientMessageId: 'secret',
      body: 'secret',
    });
    const intruder = await connect(mallory, 'laptop');

    const sync = await intruder.request({
      requestId: 's1',
      action: 'sync',
      conversationId: sent.conversationId,
      afterSeq: 0,
    });
    const send = await intruder.request({
      requestId: 's2',
      action: 'send',
      conversationId: sent.conversationId,
      clientMessageId: 'x',
      body: 'x',
    });

    expect(sync).toMatchObject({ type: 'error', requestId: 's1', code: 'forbidden' });
    expect(send).toMatchObject({ type: 'error', requestId: 's2', code: 'forbidden' });
    expect(intruder.received.filter((frame) => frame.type === 'message')).toEqual([]);
    expect(intruder.isOpen).toBe(true);
  });

  it.each([
    ['a body over 4096 characters', { to: 'bob', clientMessageId: 'c', body: 'x'.repeat(4097) }, 'body'],
    ['an empty body', { to: 'bob', clientMessageId: 'c', body: '' }, 'body'],
    [
      'both to and conversationId',
      { to: 'bob', conversationId: 'dm:a:b', clientMessageId: 'c', body: 'x' },
      'to',
    ],
    ['neither to nor conversationId', { clientMessageId: 'c', body: 'x' }, 'to'],
    ['a clientMessageId with a slash', { to: 'bob', clientMessageId: 'a/b', body: 'x' }, 'clientMessageId'],
    [
      'a malformed conversationId',
      { conversationId: 'dm:zed:amy', clientMessageId: 'c', body: 'x' },
      'conversationId',
    ],
  ])(
    'answers a send with %s with bad_request naming the field and stores nothing',
    async (_, fields, field) => {
      const alice = uniqueId('alice');
      const phone = await connect(alice, 'phone');
      const answer = await phone.request({ requestId: 'bad-1', action: 'send', ...fields });
      expect(answer).toMatchObject({ type: 'error', requestId: 'bad-1', code: 'bad_request' });
      expect(answer.message).toMatch(new RegExp(`^${field}:`));
      const history = await phone.request({
        action: 'sync',
        conversationId: directConversationId(alice, 'bob'),
        afterSeq: 0,
      });
      expect(history.lastSeq).toBe(0);
      expect(phone.isOpen).toBe(true);
    },
  );

  it('answers a send to oneself with bad_request', async () => {
    const alice = uniqueId('alice');
    const phone = await connect(alice, 'phone');
    const answer = await phone.request({ action: 'send', to: alice, clientMessageId: 'c', body: 'me' });
    expect(answer).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^to:/) });
  });

  it('answers text that is not JSON, an unknown action and a missing action with bad_request', async () => {
    const phone = await connect(uniqueId('alice'), 'phone');

    phone.sendRaw('hello?');
    const notJson = await phone.next((frame) => frame.type === 'error');
    const unknown = await phone.request({ requestId: 'u1', action: 'teleport' });
    const missing = await phone.request({ requestId: 'u2' });
    const sync = await phone.request({
      requestId: 'u3',
      action: 'sync',
      conversationId: 'dm:a:b',
      afterSeq: -1,
    });

    expect(notJson).toMatchObject({ type: 'error', requestId: null, code: 'bad_request' });
    expect(unknown).toMatchObject({
      requestId: 'u1',
      code: 'bad_request',
      message: expect.stringMatching(/^action:/),
    });
    expect(missing).toMatchObject({ requestId: 'u2', code: 'bad_request', message: 'action: is required' });
    expect(sync).toMatchObject({
      requestId: 'u3',
      code: 'bad_request',
      message: expect.stringMatching(/^afterSeq:/),
    });
    expect(phone.isOpen).toBe(true);
  });

  it('closes the connection with 1009 on a frame over 32 KB, as API Gateway does, storing nothing', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const phone = await connect(alice, 'phone');

    phone.sendRaw(
      JSON.stringify({
        requestId: 'big',
        action: 'send',
        to: bob,
        clientMessageId: 'c',
        body: 'x'.repeat(33 * 1024),
      }),
    );

    expect((await phone.closed).code).toBe(1009);
    const again = await connect(alice, 'phone');
    const history = await again.request({
      action: 'sync',
      conversationId: directConversationId(alice, bob),
      afterSeq: 0,
    });
    expect(history).toMatchObject({ type: 'history', messages: [], lastSeq: 0 });
  });
});
