/** The shard checkpoint, the batching window, and how a handler's response reads with ReportBatchItemFailures. */
import type { KinesisStreamRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { BatchingWindow } from '../../../local/event-source-mapping/batching-window.js';
import { ShardCheckpoint } from '../../../local/event-source-mapping/checkpoint.js';
import { readBatchResponse } from '../../../local/event-source-mapping/invoke.js';

const record = (sequenceNumber: string) => ({ kinesis: { sequenceNumber } }) as KinesisStreamRecord;

describe('ShardCheckpoint', () => {
  it('moves past a record only once it and every record before it are done', () => {
    const checkpoint = new ShardCheckpoint();
    for (const sequenceNumber of ['1', '2', '3']) checkpoint.noteRead(sequenceNumber, false);

    checkpoint.noteDone(['2', '3']);
    expect(checkpoint.sequenceNumber).toBeUndefined();
    expect(checkpoint.pending).toBe(3);

    checkpoint.noteDone(['1']);
    expect(checkpoint.sequenceNumber).toBe('3');
    expect(checkpoint.pending).toBe(0);
  });

  it('counts a record the filter dropped as done, at once when nothing before it is pending', () => {
    const checkpoint = new ShardCheckpoint();
    checkpoint.noteRead('1', true);
    expect(checkpoint.sequenceNumber).toBe('1');

    checkpoint.noteRead('2', false);
    checkpoint.noteRead('3', true);
    expect(checkpoint.sequenceNumber).toBe('1');
    checkpoint.noteDone(['2']);
    expect(checkpoint.sequenceNumber).toBe('3');
  });

  it('resumes reading after the last record read, not after the checkpoint', () => {
    const checkpoint = new ShardCheckpoint();
    expect(checkpoint.resumeAfter).toBeUndefined();

    checkpoint.noteRead('1', false);
    checkpoint.noteRead('2', false);

    expect(checkpoint.sequenceNumber).toBeUndefined();
    expect(checkpoint.resumeAfter).toBe('2');
  });
});

describe('BatchingWindow', () => {
  function clock() {
    let now = 1000;
    return { now: () => now, advance: (ms: number) => (now += ms) };
  }

  it('hands each read over at once without a window', () => {
    const window = new BatchingWindow(10, 0);
    expect(window.isDue(false)).toBe(false);

    window.add([record('1')]);

    expect(window.isDue(false)).toBe(true);
    expect(window.take()).toEqual([record('1')]);
    expect(window.size).toBe(0);
  });

  it('opens with the first record and is due when its time is up or the batch is full', () => {
    const time = clock();
    const window = new BatchingWindow(3, 1000, time.now);
    window.add([]);
    time.advance(5000);
    window.add([record('1')]);

    time.advance(999);
    expect(window.isDue(false)).toBe(false);
    expect(window.waitMs(10_000)).toBe(1);
    expect(window.room).toBe(2);
    time.advance(1);
    expect(window.isDue(false)).toBe(true);

    const full = new BatchingWindow(2, 1000, time.now);
    full.add([record('1'), record('2')]);
    expect(full.isDue(false)).toBe(true);
  });

  it('is due at once when the shard is read to its end', () => {
    const window = new BatchingWindow(10, 60_000, clock().now);
    window.add([record('1')]);

    expect(window.isDue(false)).toBe(false);
    expect(window.isDue(true)).toBe(true);
  });
});

describe('readBatchResponse', () => {
  const batch = ['10', '20', '30'].map(record);

  it('reads no response, an empty one or an empty list as a complete success', () => {
    for (const response of [
      undefined,
      null,
      'ok',
      {},
      { batchItemFailures: null },
      { batchItemFailures: [] },
    ]) {
      expect(readBatchResponse(response, batch), JSON.stringify(response)).toEqual({ kind: 'success' });
    }
  });

  it('retries from the lowest sequence number reported', () => {
    const response = { batchItemFailures: [{ itemIdentifier: '30' }, { itemIdentifier: '20' }] };

    expect(readBatchResponse(response, batch)).toEqual({ kind: 'partial', fromIndex: 1 });
  });

  it('fails the whole batch for an empty, null, misspelt or unknown identifier, or a list that is not one', () => {
    const refused = [
      { batchItemFailures: [{ itemIdentifier: '' }] },
      { batchItemFailures: [{ itemIdentifier: null }] },
      { batchItemFailures: [{ itemId: '20' }] },
      { batchItemFailures: [null] },
      { batchItemFailures: [{ itemIdentifier: '99' }] },
      { batchItemFailures: '20' },
    ];
    for (const response of refused) {
      expect(readBatchResponse(response, batch).kind, JSON.stringify(response)).toBe('invalid-response');
    }
  });
});
