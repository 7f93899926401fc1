/**
 * Delivery of a large group's events over real WebSockets against the local stack: past 256
 * connected devices the fanout hands the posts to slices on the stream, and every device
 * still gets each event once, in order. It counts the slice records through the stack's
 * deps, so it runs on the in-process stack only (the deployed mode takes no deps).
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { uniqueId, useTestStack } from '../support/stack.js';
import type { TestClient } from '../support/ws-client.js';

/** The seqs of the group's messages a device received, in arrival order. */
const seqsOf = (device: TestClient, conversationId: string) =>
  device.received
    .filter((frame) => frame.type === 'message' && frame.conversationId === conversationId)
    .map((frame) => frame.seq as number);

describe('delivery of a large group’s events', () => {
  const sliced: string[] = [];
  const { connect } = useTestStack({
    deps: {
      // Counts the slice records the fanout hands to the stream.
      wrap: (deps) => ({
        ...deps,
        publisher: {
          publish: async (event) => {
            if (event.type === 'group-slice') sliced.push(`${event.slice}:${event.event.seq}`);
            await deps.publisher.publish(event);
          },
        },
      }),
    },
  });

  it('hands the posts to slices past 256 connected devices, and every device gets each event once, in order', async () => {
    const users = Array.from({ length: 140 }, (_, index) => uniqueId(`m${index}-`));
    // The first user creates the group with the others.
    const others = users.slice(1);
    const devices: TestClient[] = [];
    for (const userId of users) {
      devices.push(await connect(userId, 'phone'), await connect(userId, 'laptop'));
    }
    const conversationId = `grp:${randomUUID()}`;
    const ownerPhone = devices[0] as TestClient;

    await ownerPhone.request({ action: 'createGroup', conversationId, title: 'Everyone', members: others });
    await ownerPhone.request({ action: 'setTitle', conversationId, title: 'All of us' });
    for (const device of devices) await device.messagesOf(conversationId, 2, 20_000);

    for (const device of devices) expect(seqsOf(device, conversationId)).toEqual([1, 2]);
    const slicesOfSeq2 = sliced.filter((entry) => entry.endsWith(':2'));
    expect(slicesOfSeq2.length).toBeGreaterThan(1);
    expect(new Set(slicesOfSeq2).size).toBe(slicesOfSeq2.length);
  }, 60_000);
});
