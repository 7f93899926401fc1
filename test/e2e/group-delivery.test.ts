/**
 * Delivery of a group's events over real WebSockets against the local stack: every device
 * of every member receives the group's events in order, a removed member its removal and
 * nothing after, a member added later the events from its join (on a device it connects
 * afterwards too, through `$connect`'s indexing), and `conversations` lists the group. A
 * send with `"echo": false` (1.5) reaches every device but the connection it came on.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { uniqueId, useTestStack } from '../support/stack.js';
import type { Frame, TestClient } from '../support/ws-client.js';

interface ListPage {
  conversations: Array<Frame & { conversationId: string; lastSeq: number }>;
}

/** The seqs of the group's messages a device received, in arrival order. */
const seqsOf = (device: TestClient, conversationId: string) =>
  device.received
    .filter((frame) => frame.type === 'message' && frame.conversationId === conversationId)
    .map((frame) => frame.seq as number);

/**
 * The seqs a device received, a repeat left out: a post may be repeated by a race between
 * `send`'s fast path and the fanout, and clients drop it by seq (docs/adr/0008-fast-path.md).
 */
const distinctSeqsOf = (device: TestClient, conversationId: string) => [
  ...new Set(seqsOf(device, conversationId)),
];

/** The user's entry of the group, once the fanout has written it up to `lastSeq`. */
async function entryOf(device: TestClient, conversationId: string, lastSeq: number, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const page = (await device.request({ action: 'conversations' })) as unknown as ListPage;
    const entry = page.conversations.find((summary) => summary.conversationId === conversationId);
    if (entry && entry.lastSeq >= lastSeq) return entry;
    if (Date.now() > deadline) throw new Error(`the list never reached ${lastSeq}: ${JSON.stringify(page)}`);
    await device.request({ action: 'ping' });
  }
}

describe('delivery of a group’s events', () => {
  const { connect } = useTestStack();

  it('reaches every device of the members at each seq, in order, and lists the group for each of them', async () => {
    const [alice, bob, carol, dave] = ['alice', 'bob', 'carol', 'dave'].map((name) => uniqueId(name)) as [
      string,
      string,
      string,
      string,
    ];
    const devices = {
      alicePhone: await connect(alice, 'phone'),
      aliceLaptop: await connect(alice, 'laptop'),
      bob: await connect(bob, 'phone'),
      carol: await connect(carol, 'phone'),
      dave: await connect(dave, 'phone'),
    };
    const conversationId = `grp:${randomUUID()}`;
    const change = async (frame: Record<string, unknown>, seq: number) => {
      const answer = await devices.alicePhone.request({ conversationId, ...frame });
      expect(answer).toMatchObject({ type: 'groupChanged', seq });
      // Every current member has it before the next change is made.
      await devices.bob.waitFor(
        (f) => f.type === 'message' && f.conversationId === conversationId && f.seq === seq,
      );
    };

    await change({ action: 'createGroup', title: 'Lunch', members: [bob, carol] }, 1);
    await change({ action: 'setTitle', title: 'Dinner' }, 2);
    await change({ action: 'removeMember', userId: carol }, 3);
    await change({ action: 'setTitle', title: 'Supper' }, 4);
    await change({ action: 'addMembers', members: [dave] }, 5);
    // A device of the new member that connects after its addition is indexed by $connect.
    const daveLaptop = await connect(dave, 'laptop');
    await change({ action: 'setTitle', title: 'Brunch' }, 6);
    await devices.alicePhone.messagesOf(conversationId, 6);
    await devices.aliceLaptop.messagesOf(conversationId, 6);
    await daveLaptop.waitFor(
      (f) => f.type === 'message' && f.conversationId === conversationId && f.seq === 6,
    );

    expect(seqsOf(devices.alicePhone, conversationId)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(seqsOf(devices.aliceLaptop, conversationId)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(seqsOf(devices.bob, conversationId)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(seqsOf(devices.carol, conversationId)).toEqual([1, 2, 3]);
    expect(seqsOf(devices.dave, conversationId)).toEqual([5, 6]);
    expect(seqsOf(daveLaptop, conversationId)).toEqual([6]);
    expect(
      devices.carol.received.find((f) => f.seq === 3 && f.conversationId === conversationId),
    ).toMatchObject({
      kind: 'member-removed',
      userId: carol,
    });
    expect(
      devices.dave.received.find((f) => f.seq === 5 && f.conversationId === conversationId),
    ).toMatchObject({
      kind: 'members-added',
      members: [dave],
    });

    const bobs = await entryOf(devices.bob, conversationId, 6);
    expect(bobs).toMatchObject({
      kind: 'group',
      title: 'Brunch',
      memberCount: 3,
      member: true,
      lastSeq: 6,
      lastMessage: { seq: 6, kind: 'title-changed', title: 'Brunch' },
      everyone: { deliveredSeq: expect.any(Number), readSeq: expect.any(Number) },
    });
    expect((bobs.receipts as Array<{ userId: string }>).map((receipt) => receipt.userId)).toEqual([bob]);
    expect(await entryOf(devices.carol, conversationId, 3)).toMatchObject({
      kind: 'group',
      member: false,
      lastSeq: 3,
      lastMessage: { kind: 'member-removed', userId: carol },
    });
    expect(await entryOf(daveLaptop, conversationId, 6)).toMatchObject({ member: true, lastSeq: 6 });
  });

  it('with echo false (1.5), reaches every device of the members but the sending connection', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const alicePhone = await connect(alice, 'phone');
    const aliceLaptop = await connect(alice, 'laptop');
    const bobPhone = await connect(bob, 'phone');
    const conversationId = `grp:${randomUUID()}`;
    await alicePhone.request({ action: 'createGroup', conversationId, title: 'Lunch', members: [bob] });

    const quiet = await alicePhone.request({
      action: 'send',
      conversationId,
      clientMessageId: randomUUID(),
      body: 'quiet',
      echo: false,
    });
    // Then one with the echo: the fanout posts a group's records in stream order, so had the
    // first reached the phone it would be there by now.
    await alicePhone.request({ action: 'send', conversationId, clientMessageId: randomUUID(), body: 'loud' });
    await alicePhone.waitFor(
      (f) => f.type === 'message' && f.conversationId === conversationId && f.seq === 3,
    );
    await aliceLaptop.messagesOf(conversationId, 3);
    await bobPhone.messagesOf(conversationId, 3);

    expect(quiet).toMatchObject({ type: 'sent', seq: 2, duplicate: false });
    expect(distinctSeqsOf(alicePhone, conversationId)).toEqual([1, 3]);
    expect(distinctSeqsOf(aliceLaptop, conversationId)).toEqual([1, 2, 3]);
    expect(distinctSeqsOf(bobPhone, conversationId)).toEqual([1, 2, 3]);
  });
});
