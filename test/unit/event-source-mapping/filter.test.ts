/** Lambda event filtering as the mapping emulates it: filter patterns, and data that is not JSON. */
import type { _Record } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import { filterFromPatterns, passesFilter } from '../../../local/event-source-mapping/filter.js';

describe('filterFromPatterns', () => {
  const chatTypes = filterFromPatterns([{ data: { type: ['message', 'receipt'] } }]);

  it('matches a field whose value is exactly one of the listed strings', () => {
    expect(chatTypes({ type: 'message', body: 'hi' })).toBe(true);
    expect(chatTypes({ type: 'receipt' })).toBe(true);
    expect(chatTypes({ type: 'typing' })).toBe(false);
    // Exact, character by character: no case folding, no trimming, no type coercion.
    expect(chatTypes({ type: 'Message' })).toBe(false);
    expect(chatTypes({ type: 'message ' })).toBe(false);
    expect(chatTypes({ type: ['typing', 'receipt'] })).toBe(true);
    expect(chatTypes({ type: ['typing'] })).toBe(false);
  });

  it('needs every named field, ignores the others, and never matches data that is not an object', () => {
    expect(chatTypes({ kind: 'message' })).toBe(false);
    expect(chatTypes({ type: null })).toBe(false);
    expect(chatTypes({ type: { name: 'message' } })).toBe(false);
    for (const data of ['message', 1, null, true, ['message'], [{ type: 'message' }]]) {
      expect(chatTypes(data)).toBe(false);
    }
    const both = filterFromPatterns([{ data: { type: ['presence'], online: [true] } }]);
    expect(both({ type: 'presence', online: true, userId: 'u1' })).toBe(true);
    expect(both({ type: 'presence', online: false })).toBe(false);
    expect(both({ type: 'presence' })).toBe(false);
  });

  it('matches nested fields', () => {
    const nested = filterFromPatterns([{ data: { event: { type: ['message'] } } }]);
    expect(nested({ event: { type: 'message', seq: 3 } })).toBe(true);
    expect(nested({ event: { type: 'receipt' } })).toBe(false);
    expect(nested({ event: 'message' })).toBe(false);
    expect(nested({ type: 'message' })).toBe(false);
  });

  it('matches when any of the patterns matches', () => {
    const either = filterFromPatterns([
      { data: { type: ['message'] } },
      { data: { event: { type: ['receipt'] } } },
    ]);
    expect(either({ type: 'message' })).toBe(true);
    expect(either({ event: { type: 'receipt' } })).toBe(true);
    expect(either({ type: 'receipt' })).toBe(false);
  });

  it('refuses what it does not emulate rather than match differently from Lambda', () => {
    const refused: Array<Array<Record<string, unknown>>> = [
      [],
      [{ type: ['message'] }],
      [{ partitionKey: ['k'], data: { type: ['message'] } }],
      [{ data: {} }],
      [{ data: { type: [] } }],
      [{ data: { type: 'message' } }],
      [{ data: { seq: [1] } }],
      [{ data: { type: [{ prefix: 'mess' }] } }],
      [{ data: { type: [{ 'anything-but': ['typing'] }] } }],
    ];
    for (const patterns of refused) {
      expect(() => filterFromPatterns(patterns), JSON.stringify(patterns)).toThrow();
    }
  });
});

describe('passesFilter', () => {
  /** A record as GetRecords returns it; without data, as a record missing its data would be. */
  const record = (data: Buffer | undefined): _Record =>
    ({ SequenceNumber: '1', PartitionKey: 'k', ...(data ? { Data: new Uint8Array(data) } : {}) }) as _Record;
  const noLog = () => {};

  it('lets every record through when there is no filter, JSON or not', () => {
    expect(passesFilter(undefined, 'shard-0', record(Buffer.from('not json')), noLog)).toBe(true);
    expect(passesFilter(undefined, 'shard-0', record(undefined), noLog)).toBe(true);
  });

  it('hands the filter the data decoded as JSON, and passes what it accepts', () => {
    const seen: unknown[] = [];
    const filter = (data: unknown) => {
      seen.push(data);
      return (data as { type?: string }).type === 'message';
    };

    expect(passesFilter(filter, 'shard-0', record(Buffer.from('{"type":"message"}')), noLog)).toBe(true);
    expect(passesFilter(filter, 'shard-0', record(Buffer.from('{"type":"typing"}')), noLog)).toBe(false);
    expect(seen).toEqual([{ type: 'message' }, { type: 'typing' }]);
  });

  it('never asks the filter about data that is not JSON or not UTF-8', () => {
    let asked = 0;
    const acceptAll = () => {
      asked++;
      return true;
    };
    for (const data of [Buffer.from('not json'), Buffer.from([0xff, 0xfe, 0x7b, 0x7d]), undefined]) {
      expect(passesFilter(acceptAll, 'shard-0', record(data), noLog)).toBe(false);
    }
    expect(asked).toBe(0);
  });

  it('counts only a strict true as a match', () => {
    const truthy = (() => 1) as unknown as (data: unknown) => boolean;
    expect(passesFilter(truthy, 'shard-0', record(Buffer.from('{}')), noLog)).toBe(false);
  });

  it('drops the record and logs an error when the filter throws', () => {
    const logged: Array<{ level: string; message: string; details: unknown }> = [];
    const failing = () => {
      throw new Error('broken filter');
    };

    const passes = passesFilter(failing, 'shard-7', record(Buffer.from('{}')), (level, message, details) =>
      logged.push({ level, message, details }),
    );

    expect(passes).toBe(false);
    expect(logged).toEqual([
      {
        level: 'error',
        message: 'the filter threw; the record is dropped',
        details: { shardId: 'shard-7', sequenceNumber: '1', error: new Error('broken filter') },
      },
    ]);
  });
});
