/** The least time from a put to the handler (`deliveryDelayMs`). */
import type { GetRecordsCommandOutput } from '@aws-sdk/client-kinesis';
import type { KinesisStreamRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { createKinesisClients, decode, signal, useMappingFixture } from './support.js';

describe('the event source mapping: delivery delay', () => {
  const fixture = useMappingFixture();

  /**
   * A client whose GetRecords answers carry arrival times moved by `shiftMs`, as if the
   * records had been put that much later (or earlier, when negative); `onRecords` hears of
   * every answer that holds records.
   */
  function clientShiftingArrivals(shiftMs: number, onRecords: () => void = () => {}) {
    const shifting = createKinesisClients();
    shifting.kinesis.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName !== 'GetRecordsCommand') return result;
        const records = (result.output as GetRecordsCommandOutput).Records ?? [];
        for (const record of records) {
          record.ApproximateArrivalTimestamp = new Date(
            (record.ApproximateArrivalTimestamp?.getTime() ?? Date.now()) + shiftMs,
          );
        }
        if (records.length > 0) onRecords();
        return result;
      },
      { step: 'initialize', name: 'shiftArrivals' },
    );
    return shifting;
  }

  it('hands a record to the handler no sooner than the delay after it was put', async () => {
    const handled = signal<{ arrivedAt: number; handledAt: number }>();
    await fixture.start({
      deliveryDelayMs: 300,
      handler: async (event) => {
        const handledAt = Date.now();
        for (const record of event.Records) {
          handled.resolve({ arrivedAt: record.kinesis.approximateArrivalTimestamp * 1000, handledAt });
        }
      },
    });

    await fixture.putRecords([{ key: 'alpha', data: { n: 1 } }]);
    const { arrivedAt, handledAt } = await handled.promise;

    expect(handledAt - arrivedAt).toBeGreaterThanOrEqual(300);
  });

  it('counts the delay from when the record was put, so a record that already waited it is not held again', async () => {
    // Put two minutes ago, by its arrival time; a wait of a minute counted from the read
    // would outlast the test's timeout.
    const shifting = clientShiftingArrivals(-120_000);
    const delivered = signal<unknown>();
    try {
      await fixture.start({
        kinesis: shifting.kinesis,
        deliveryDelayMs: 60_000,
        maximumRecordAgeInSeconds: -1,
        handler: async (event) => delivered.resolve(decode(event.Records[0] as KinesisStreamRecord)),
      });

      await fixture.putRecords([{ key: 'alpha', data: { waited: true } }]);

      expect(await delivered.promise).toEqual({ waited: true });
    } finally {
      await fixture.mapping?.stop();
      fixture.mapping = undefined;
      shifting.destroy();
    }
  });

  it('without a delay, hands a record over whatever its arrival time says', async () => {
    // Put an hour from now, by its arrival time: any wait for it would outlast the test.
    const shifting = clientShiftingArrivals(3_600_000);
    const delivered = signal<unknown>();
    try {
      await fixture.start({
        kinesis: shifting.kinesis,
        handler: async (event) => delivered.resolve(decode(event.Records[0] as KinesisStreamRecord)),
      });

      await fixture.putRecords([{ key: 'alpha', data: { delayed: false } }]);

      expect(await delivered.promise).toEqual({ delayed: false });
    } finally {
      await fixture.mapping?.stop();
      fixture.mapping = undefined;
      shifting.destroy();
    }
  });

  it('stops at once while a batch waits out its delay, without handing it over', async () => {
    const read = signal();
    const shifting = clientShiftingArrivals(0, () => read.resolve());
    let calls = 0;
    try {
      const running = await fixture.start({
        kinesis: shifting.kinesis,
        deliveryDelayMs: 600_000,
        handler: async () => {
          calls++;
        },
      });
      await fixture.putRecords([{ key: 'alpha', data: { n: 1 } }]);
      await read.promise;

      await running.stop();

      expect(calls).toBe(0);
    } finally {
      await fixture.mapping?.stop();
      fixture.mapping = undefined;
      shifting.destroy();
    }
  });

  it('refuses a delay that is negative or not a number', async () => {
    for (const deliveryDelayMs of [-1, Number.NaN, Number.POSITIVE_INFINITY])
      await fixture.expectRefused({ deliveryDelayMs });
  });
});
