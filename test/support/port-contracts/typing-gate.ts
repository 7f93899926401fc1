/** The contract of the typing gate: one `start` per member per conversation in an interval. */
import { expect, it } from 'vitest';
import { message, NOW, type PortFactories, uniqueId } from './common.js';

const INTERVAL_MS = 3000;

export function describeTypingGate(factories: PortFactories): void {
  it('lets the first start through, holds back the others within the interval, and lets one through again after it', async () => {
    const gate = factories.typingGate();
    const conversationId = uniqueId('grp:');

    const claims = [];
    for (const at of [0, 1, 2999, 3000, 3001, 5999, 6000]) {
      claims.push(await gate.claimStart(conversationId, 'alice', NOW + at, INTERVAL_MS));
    }

    expect(claims).toEqual([true, false, false, true, false, false, true]);
  });

  it('keeps each member and each conversation apart', async () => {
    const gate = factories.typingGate();
    const conversationId = uniqueId('grp:');
    const other = uniqueId('grp:');

    await gate.claimStart(conversationId, 'alice', NOW, INTERVAL_MS);

    expect(await gate.claimStart(conversationId, 'bob', NOW + 1, INTERVAL_MS)).toBe(true);
    expect(await gate.claimStart(other, 'alice', NOW + 1, INTERVAL_MS)).toBe(true);
    expect(await gate.claimStart(conversationId, 'alice', NOW + 1, INTERVAL_MS)).toBe(false);
  });

  it('writes nothing a message store reads as a message', async () => {
    const gate = factories.typingGate();
    const messages = factories.messages();
    const conversationId = uniqueId('grp:');
    await messages.storeMessage(message(conversationId, 1, 'k1'));

    await gate.claimStart(conversationId, 'alice', NOW, INTERVAL_MS);

    expect(await messages.lastSeq(conversationId)).toBe(1);
    expect((await messages.listMessages(conversationId, 0, 10)).messages).toEqual([
      message(conversationId, 1, 'k1'),
    ]);
  });

  it('lets one of several starts at the same moment through', async () => {
    const gate = factories.typingGate();
    const conversationId = uniqueId('grp:');

    const claims = await Promise.all(
      Array.from({ length: 5 }, () => gate.claimStart(conversationId, 'alice', NOW, INTERVAL_MS)),
    );

    expect(claims.filter(Boolean)).toHaveLength(1);
  });
}
