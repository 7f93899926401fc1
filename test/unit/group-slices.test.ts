/**
 * Large groups delivered in slices (`lambdas/domain/group-slices.ts`): the fanout hands the
 * posts to slice records on the stream, which the fanout consumer posts; each device is in
 * one slice, always the same, so it gets the group's events once each and in order.
 */
import { describe, expect, it } from 'vitest';
import { SLICE_COUNT, SLICE_THRESHOLD, sliceOf } from '../../lambdas/domain/group-slices.js';
import type { GroupSliceEvent } from '../../lambdas/domain/ports.js';
import { FANOUT_EVENT_TYPES } from '../../lambdas/handlers/fanout.js';
import {
  connect,
  createGroupFanout,
  device,
  GROUP,
  groupMessage,
  indexedIds,
  seqsTo,
  storeGroup,
} from './support/group-fixtures.js';

/** A group of `count` members, each with a phone, all connected and indexed. */
async function largeGroup(count: number) {
  const group = createGroupFanout({ postConcurrency: 16 });
  const users = Array.from({ length: count }, (_, n) => `u${String(n).padStart(4, '0')}`);
  await storeGroup(group.ports, { members: Object.fromEntries(users.map((userId) => [userId, 1])) });
  await connect(
    group.ports,
    users.map((userId) => device(userId)),
  );
  return { ...group, users };
}

const slicesPublished = (records: Array<{ partitionKey: string; event: unknown }>) =>
  records.map((record) => ({ ...record, event: record.event as GroupSliceEvent }));

describe('a large group’s delivery', () => {
  it('posts nothing itself past the threshold: it publishes each device once, in the slice its connection id hashes to', async () => {
    const { ports, fanout, users } = await largeGroup(SLICE_THRESHOLD + 44);

    expect(await fanout([groupMessage(2)])).toEqual([]);

    expect(ports.pusher.posts).toEqual([]);
    const slices = slicesPublished(ports.publisher.records);
    expect(slices.length).toBeGreaterThan(1);
    expect(slices.length).toBeLessThanOrEqual(SLICE_COUNT);
    const handed = slices.flatMap(({ event }) => event.connections.map((c) => c.connectionId));
    expect(handed.sort()).toEqual(users.map((userId) => `conn-${userId}-phone`).sort());
    for (const { partitionKey, event } of slices) {
      expect(partitionKey).toBe(`${GROUP}#${event.slice}`);
      expect(event).toMatchObject({ type: 'group-slice', conversationId: GROUP, slices: SLICE_COUNT });
      expect(event.event).toMatchObject({ type: 'message', seq: 2 });
      for (const connection of event.connections) expect(sliceOf(connection.connectionId)).toBe(event.slice);
    }
  });

  it('posts a group of up to the threshold itself, at most postConcurrency posts at once', async () => {
    const { ports, fanout } = await largeGroup(SLICE_THRESHOLD);
    let inFlight = 0;
    let most = 0;
    const post = ports.pusher.post.bind(ports.pusher);
    ports.pusher.post = async (connectionId, frame) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      return post(connectionId, frame);
    };

    expect(await fanout([groupMessage(2)])).toEqual([]);

    expect(ports.publisher.records).toEqual([]);
    expect(ports.pusher.posts).toHaveLength(SLICE_THRESHOLD);
    expect(most).toBe(16);
  });

  it('delivers the slices of several events to each device once per event, in the order of the events', async () => {
    const { ports, fanout, fanoutRecords, users } = await largeGroup(SLICE_THRESHOLD * 2);
    await fanout([groupMessage(2), groupMessage(3)]);
    const slices = [...ports.publisher.records];
    ports.publisher.records.length = 0;

    // The slice records as the stream hands them over: every record of a slice key in order.
    const retried = await fanoutRecords(
      slices.map((record, index) => ({
        id: `slice-${index}`,
        partitionKey: record.partitionKey,
        data: JSON.stringify(record.event),
      })),
    );

    expect(retried).toEqual([]);
    for (const userId of users) expect(seqsTo(ports, `conn-${userId}-phone`)).toEqual([2, 3]);
    expect(ports.publisher.records).toEqual([]);
  });

  it('removes a device that answers 410 to its slice from the connections and the index', async () => {
    const { ports, fanout, users } = await largeGroup(SLICE_THRESHOLD + 1);
    await fanout([groupMessage(2)]);
    const gone = `conn-${users[0]}-phone`;
    ports.pusher.close(gone);
    const slices = [...ports.publisher.records];

    const retried = await fanout(slices.map((record) => record.event));

    expect(retried).toEqual([]);
    expect(await indexedIds(ports)).not.toContain(gone);
    expect(await ports.connections.listConnections(users[0] as string)).toEqual([]);
    expect(await indexedIds(ports)).toHaveLength(SLICE_THRESHOLD);
  });

  it('gives back a slice whose post failed and the later records of that slice only', async () => {
    const { ports, fanout, users } = await largeGroup(SLICE_THRESHOLD + 1);
    await fanout([groupMessage(2), groupMessage(3)]);
    const failing = `conn-${users[0]}-phone`;
    const post = ports.pusher.post.bind(ports.pusher);
    ports.pusher.post = async (connectionId, frame) => {
      if (connectionId === failing) throw new Error('throttled');
      return post(connectionId, frame);
    };
    const slices = [...ports.publisher.records].map((record) => record.event as GroupSliceEvent);

    const retried = await fanout(slices);

    const failingSlice = sliceOf(failing);
    expect(retried).toHaveLength(2);
    expect(slices.filter((slice) => slice.slice === failingSlice)).toHaveLength(2);
  });

  it('is a type the fanout consumer’s filter lets through, with groupReceipt', () => {
    expect(FANOUT_EVENT_TYPES).toEqual(expect.arrayContaining(['group-slice', 'groupReceipt']));
  });
});
