/** The contract of the connection store's cap: `openConnection` (docs/adr/0011-connection-cap.md). */

import { expect, it } from 'vitest';
import type { Connection } from '../../../lambdas/domain/ports.js';
import { NOW, NOW_SECONDS, type PortFactories, uniqueId } from './common.js';

const device = (userId: string, deviceId: string, connectionId = `conn-${deviceId}`): Connection => ({
  userId,
  connectionId,
  deviceId,
  connectedAt: NOW,
  expiresAt: NOW_SECONDS + 600,
});

const idsOf = (connections: readonly Connection[]) => connections.map(({ connectionId }) => connectionId);

export function describeConnectionCap(factories: PortFactories): void {
  it('opens connections up to the cap and refuses the next, storing nothing for it', async () => {
    const connections = factories.connections(() => NOW);
    const userId = uniqueId('u');
    for (const name of ['a', 'b']) {
      expect(await connections.openConnection(device(userId, name), 2)).toEqual({
        status: 'opened',
        replaced: [],
      });
    }

    expect(await connections.openConnection(device(userId, 'c'), 2)).toEqual({ status: 'full', open: 2 });

    expect(idsOf(await connections.listConnections(userId))).toEqual(['conn-a', 'conn-b']);
  });

  it('frees a place as soon as a connection is deleted', async () => {
    const connections = factories.connections(() => NOW);
    const userId = uniqueId('u');
    await connections.openConnection(device(userId, 'a'), 1);
    await connections.deleteConnection(userId, 'conn-a');

    expect(await connections.openConnection(device(userId, 'b'), 1)).toEqual({
      status: 'opened',
      replaced: [],
    });
  });

  it('counts no connection past its expiresAt, though the table still holds it', async () => {
    const connections = factories.connections(() => NOW);
    const userId = uniqueId('u');
    await connections.putConnection({ ...device(userId, 'dead'), expiresAt: NOW_SECONDS - 1 });

    expect(await connections.openConnection(device(userId, 'b'), 1)).toEqual({
      status: 'opened',
      replaced: [],
    });
  });

  it("replaces the device's older connection in the same write, even at the cap", async () => {
    const connections = factories.connections(() => NOW);
    const userId = uniqueId('u');
    await connections.openConnection(device(userId, 'phone', 'conn-old'), 2);
    await connections.openConnection(device(userId, 'laptop'), 2);

    const outcome = await connections.openConnection(device(userId, 'phone', 'conn-new'), 2);

    expect(outcome).toEqual({ status: 'opened', replaced: [device(userId, 'phone', 'conn-old')] });
    expect(idsOf(await connections.listConnections(userId))).toEqual(['conn-laptop', 'conn-new']);
  });

  it('lets exactly one of many handshakes racing for the last place win', async () => {
    const connections = factories.connections(() => NOW);
    const userId = uniqueId('u');
    await connections.openConnection(device(userId, 'first'), 2);
    const racers = ['r1', 'r2', 'r3', 'r4', 'r5'];

    const outcomes = await Promise.all(
      racers.map((name) => connections.openConnection(device(userId, name), 2)),
    );

    expect(outcomes.filter(({ status }) => status === 'opened')).toHaveLength(1);
    expect(await connections.listConnections(userId)).toHaveLength(2);
  });
}
