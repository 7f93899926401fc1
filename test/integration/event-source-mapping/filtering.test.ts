/** Event filtering (FilterCriteria on the record's data). */
import { describe, expect, it } from 'vitest';
import { type FailedBatch, filterFromPatterns } from '../../../local/event-source-mapping/index.js';
import { decode, useMappingFixture } from './support.js';

describe('the event source mapping: event filtering', () => {
  const fixture = useMappingFixture();

  it('delivers only the records that match, in order, and never delivers or retries the others', async () => {
    const entries = [
      { type: 'message', n: 0 },
      { type: 'typing', n: 1 },
      { type: 'receipt', n: 2 },
      { type: 'presence', n: 3 },
      { n: 4 },
      { type: 'message', n: 5 },
    ];
    const batches: number[][] = [];
    const failed: FailedBatch[] = [];
    const running = await fixture.start({
      filter: filterFromPatterns([{ data: { type: ['message', 'receipt'] } }]),
      bisectBatchOnFunctionError: false,
      retryDelayMs: 1,
      handler: async (event) => {
        batches.push(event.Records.map((record) => (decode(record) as { n: number }).n));
        if (batches.length === 1) throw new Error('first call fails');
      },
      onFailure: (batch) => {
        failed.push(batch);
      },
    });

    await fixture.putRecords(entries.map((data) => ({ key: 'one-key', data })));
    await running.drain?.();

    // The retry of the failed batch holds the same matching records, and only them.
    expect(batches).toEqual([
      [0, 2, 5],
      [0, 2, 5],
    ]);
    expect(failed).toEqual([]);

    // Records that all fail the filter invoke nothing, and the shard moves on past them.
    await fixture.putRecords([
      { key: 'one-key', data: { type: 'typing', n: 6 } },
      { key: 'one-key', data: { type: 'presence', n: 7 } },
    ]);
    await running.drain?.();
    expect(batches).toHaveLength(2);
    await fixture.putRecords([{ key: 'one-key', data: { type: 'receipt', n: 8 } }]);
    await running.drain?.();
    expect(batches).toEqual([[0, 2, 5], [0, 2, 5], [8]]);
    expect(failed).toEqual([]);
  });

  it('never matches records whose data is not JSON', async () => {
    const filtered: unknown[] = [];
    const delivered: string[] = [];
    const running = await fixture.start({
      // Accepts everything it is asked about: what it is never asked about is dropped.
      filter: (data) => {
        filtered.push(data);
        return true;
      },
      handler: async (event) => {
        for (const record of event.Records) {
          delivered.push(Buffer.from(record.kinesis.data, 'base64').toString('utf8'));
        }
      },
    });

    await fixture.putRawRecords('one-key', [
      Buffer.from('not json'),
      Buffer.from('{"type":"message"'),
      // Not UTF-8 (a UTF-16 byte order mark), though the rest reads as JSON.
      Buffer.from([0xff, 0xfe, 0x7b, 0x7d]),
      Buffer.from('{"type":"message","n":1}'),
      Buffer.from('"message"'),
    ]);
    await running.drain?.();

    expect(filtered).toEqual([{ type: 'message', n: 1 }, 'message']);
    expect(delivered).toEqual(['{"type":"message","n":1}', '"message"']);
  });

  it('drops non-JSON data with a pattern filter too, and moves on', async () => {
    const delivered: unknown[] = [];
    const running = await fixture.start({
      filter: filterFromPatterns([{ data: { type: ['message'] } }]),
      handler: async (event) => {
        for (const record of event.Records) delivered.push(decode(record));
      },
    });

    await fixture.putRawRecords('one-key', [
      Buffer.from('message'),
      Buffer.from('{"type":"message","n":0}'),
      Buffer.from('type=message'),
      Buffer.from('{"type":"message","n":1}'),
    ]);
    await running.drain?.();

    expect(delivered).toEqual([
      { type: 'message', n: 0 },
      { type: 'message', n: 1 },
    ]);
  });
});
