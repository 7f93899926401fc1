/**
 * `$connect` and `$disconnect` keep the index of a group's connected devices
 * (`lambdas/domain/group-index.ts`), on the in-memory ports.
 */
import { describe, expect, it } from 'vitest';
import type { ConversationEntryState } from '../../lambdas/domain/ports.js';
import { createConnectHandler } from '../../lambdas/handlers/connect.js';
import { createDisconnectHandler } from '../../lambdas/handlers/disconnect.js';
import { connectEvent, createInMemoryTestDeps, disconnectEvent, invoke } from './support/harness.js';

const entry = (conversationId: string, member: boolean): ConversationEntryState => ({
  conversationId,
  kind: 'group',
  title: 'Lunch',
  memberCount: 2,
  member,
  lastSeq: 1,
  lastMessage: null,
  receipts: [{ userId: 'alice', deliveredSeq: 0, readSeq: 0 }],
  everyone: { deliveredSeq: 0, readSeq: 0 },
});

/** Alice's list: a group she is in, one she left, and a one-to-one conversation. */
async function aliceInGroups() {
  const test = createInMemoryTestDeps();
  for (const [conversationId, member] of [
    ['grp:in', true],
    ['grp:left', false],
  ] as const) {
    await test.ports.conversationList.update('alice', conversationId, () => entry(conversationId, member));
  }
  await test.ports.conversationList.update('alice', 'dm:alice:bob', () => ({
    conversationId: 'dm:alice:bob',
    kind: 'dm',
    members: ['alice', 'bob'],
    lastSeq: 1,
    lastMessage: null,
    receipts: [],
  }));
  return test;
}

describe('the index of connected devices, on connect and disconnect', () => {
  it('indexes a new connection in each group its user is a member of, after writing it', async () => {
    const { ports, provider } = await aliceInGroups();

    expect(await invoke(createConnectHandler(provider), connectEvent())).toEqual({ statusCode: 200 });

    const [written] = await ports.connections.listConnections('alice');
    expect(written).toBeDefined();
    expect(await ports.groupConnections.listGroupConnections('grp:in')).toEqual([written]);
    expect(await ports.groupConnections.listGroupConnections('grp:left')).toEqual([]);
  });

  it('removes a closed connection from the index of each of its user’s groups, and leaves the others', async () => {
    const { ports, provider } = await aliceInGroups();
    await invoke(createConnectHandler(provider), connectEvent());
    const [written] = await ports.connections.listConnections('alice');
    const other = { ...(written as NonNullable<typeof written>), connectionId: 'other-device' };
    await ports.groupConnections.addConnections('grp:in', [other]);

    expect(await invoke(createDisconnectHandler(provider), disconnectEvent())).toEqual({ statusCode: 200 });

    expect(await ports.connections.listConnections('alice')).toEqual([]);
    expect(await ports.groupConnections.listGroupConnections('grp:in')).toEqual([other]);
  });

  it('answers 500 through Lambda when the index cannot be written, after registering the connection', async () => {
    const { ports, provider } = await aliceInGroups();
    ports.groupConnections.addConnections = async () => {
      throw new Error('ProvisionedThroughputExceededException');
    };

    await expect(invoke(createConnectHandler(provider), connectEvent())).rejects.toThrow(
      'ProvisionedThroughputExceededException',
    );
    expect(await ports.connections.listConnections('alice')).toHaveLength(1);
  });
});
