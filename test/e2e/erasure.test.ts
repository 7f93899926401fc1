/**
 * Erasing a user on the local stack (docs/adr/0015-retention-and-erasure.md): after alice
 * wrote in a one-to-one conversation and a group, the erasure leaves nothing of her text in
 * any table of the stack, nothing that is hers alone, and bob's history with a tombstone at
 * each of her seqs.
 */
import { randomUUID } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { directConversationId } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { TABLE_NAME_FIELDS, TABLES, type TableId } from '../../definitions/tables.js';
import { createAwsClients } from '../../lambdas/adapters/aws-clients.js';
import { userErasureSteps } from '../../lambdas/adapters/dynamodb-user-erasure.js';
import type { PushSettings } from '../../lambdas/config.js';
import { eraseUser } from '../../lambdas/domain/erasure.js';
import { TEST_STACK_MODE, uniqueId, useTestStack } from '../support/stack.js';
import type { Frame, TestClient } from '../support/ws-client.js';

/** The tables where nothing may name the erased user: all of them but the conversations'. */
const OWN_TABLES: TableId[] = [
  'connections',
  'group-connections',
  'presence',
  'presence-subscriptions',
  'push-devices',
];
/** Web Push on, so that alice's phone can register (the deployed mode has the template's settings). */
const PUSH: PushSettings = {
  vapid: { publicKey: `B${'A'.repeat(86)}`, subject: 'mailto:ops@example.com' },
  preview: false,
  coalesceWindowMs: 5000,
  ttlSeconds: 86_400,
  endpointHosts: ['fcm.googleapis.com'],
};

describe('erasing a user', () => {
  const { stack, connect } = useTestStack(TEST_STACK_MODE === 'local' ? { push: PUSH } : {});

  /** Every item of every table of the stack, as JSON, by table. */
  async function everyItem(): Promise<Map<TableId, string[]>> {
    const { dynamodb } = stack().deps.clients;
    const byTable = new Map<TableId, string[]>();
    for (const table of TABLES) {
      const items: string[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const page = await dynamodb.send(
          new ScanCommand({
            TableName: stack().config.names[TABLE_NAME_FIELDS[table.id]],
            ExclusiveStartKey: start,
          }),
        );
        items.push(...(page.Items ?? []).map((item) => JSON.stringify(item)));
        start = page.LastEvaluatedKey;
      } while (start);
      byTable.set(table.id, items);
    }
    return byTable;
  }

  async function erase(userId: string) {
    const { config, managementEndpoint } = stack();
    const clients = createAwsClients({ ...config.endpoints, connections: managementEndpoint });
    try {
      return await eraseUser(userId, userErasureSteps(clients, config.names));
    } finally {
      clients.destroy();
    }
  }

  /** Asks `conversations` until the entry of the conversation reached `lastSeq`. */
  async function listedUpTo(phone: TestClient, conversationId: string, lastSeq: number): Promise<Frame> {
    for (;;) {
      const page = await phone.request({ action: 'conversations', limit: 100 });
      const entry = (page.conversations as Frame[]).find((item) => item.conversationId === conversationId);
      if (entry && (entry.lastSeq as number) >= lastSeq) return entry;
      await phone
        .next((frame) => frame.type === 'message' && frame.conversationId === conversationId, 5_000)
        .catch(() => undefined);
    }
  }

  it('leaves no text of the user in any table, nothing of its own, and tombstones at its seqs', async () => {
    const [alice, bob, carol] = [uniqueId('alice'), uniqueId('bob'), uniqueId('carol')];
    const marker = `secret-${randomUUID()}`;
    const phones = {
      alice: await connect(alice, 'phone'),
      bob: await connect(bob, 'phone'),
      carol: await connect(carol, 'phone'),
    };
    const dm = directConversationId(alice, bob);
    const group = `grp:${randomUUID()}`;
    await phones.alice.request({
      action: 'createGroup',
      conversationId: group,
      title: 'Lunch',
      members: [bob, carol],
    });
    await phones.bob.request({
      action: 'send',
      to: alice,
      clientMessageId: randomUUID(),
      body: 'hello alice',
    });
    for (const body of [`${marker} one`, `${marker} two`])
      await phones.alice.request({ action: 'send', to: bob, clientMessageId: randomUUID(), body });
    const inGroup = await phones.alice.request({
      action: 'send',
      conversationId: group,
      clientMessageId: randomUUID(),
      body: `${marker} group`,
    });
    phones.alice.sendRaw(JSON.stringify({ action: 'typing', conversationId: group, state: 'start' }));
    await phones.alice.request({ action: 'block', userId: uniqueId('mallory') });
    await phones.bob.request({ action: 'subscribePresence', userIds: [alice] });
    const registered = await phones.alice.request({
      action: 'registerPush',
      push: {
        kind: 'webpush',
        endpoint: `https://fcm.googleapis.com/fcm/send/${randomUUID()}`,
        keys: { p256dh: `B${'A'.repeat(86)}`, auth: 'A'.repeat(22) },
      },
    });
    expect(registered.type).toBe('pushRegistered');
    await phones.alice.request({ action: 'subscribePresence', userIds: [bob] });
    await listedUpTo(phones.bob, dm, 3);
    await listedUpTo(phones.carol, group, inGroup.seq as number);
    await listedUpTo(phones.alice, group, inGroup.seq as number);
    const before = await everyItem();
    expect([...before.values()].flat().some((item) => item.includes(marker))).toBe(true);
    const aliceBlocks = (items: Map<TableId, string[]>) =>
      items.get('user-conversations')?.filter((item) => {
        const { userId, itemKey } = JSON.parse(item) as { userId?: string; itemKey?: string };
        return userId === alice && itemKey?.startsWith('block#');
      });
    expect(aliceBlocks(before)).toHaveLength(1);

    const report = await erase(alice);
    const again = await erase(alice);

    await phones.alice.closed;
    const items = await everyItem();
    for (const [table, found] of items)
      expect(
        found.filter((item) => item.includes(marker)),
        table,
      ).toEqual([]);
    for (const table of OWN_TABLES)
      expect(
        items.get(table)?.filter((item) => item.includes(alice)),
        table,
      ).toEqual([]);
    expect(aliceBlocks(items)).toEqual([]);
    expect(
      items
        .get('user-conversations')
        ?.filter((item) => (JSON.parse(item) as { userId?: string }).userId === alice),
    ).toEqual([]);
    const history = await phones.bob.request({ action: 'sync', conversationId: dm, afterSeq: 0 });
    expect(
      (history.messages as Frame[]).map(({ seq, senderId, body, erased }) => ({
        seq,
        senderId,
        body,
        erased,
      })),
    ).toEqual([
      { seq: 1, senderId: bob, body: 'hello alice', erased: undefined },
      { seq: 2, senderId: alice, body: undefined, erased: true },
      { seq: 3, senderId: alice, body: undefined, erased: true },
    ]);
    const bobsEntry = await listedUpTo(phones.bob, dm, 3);
    expect(bobsEntry.lastMessage).toMatchObject({ seq: 3, erased: true });
    expect(report.steps.find((step) => step.name === 'conversations')?.items).toBeGreaterThan(0);
    expect(again.steps.filter((step) => step.name !== 'presence').every((step) => step.items === 0)).toBe(
      true,
    );
  });
});
