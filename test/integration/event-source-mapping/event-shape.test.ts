/** The event and context a handler receives, checked against Powertools' Kinesis schema. */
import {
  KinesisDataStreamRecord,
  KinesisDataStreamRecordPayload,
  KinesisDataStreamSchema,
} from '@aws-lambda-powertools/parser/schemas/kinesis';
import type { Context, KinesisStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { signal, useMappingFixture } from './support.js';

describe('the event source mapping: what the handler receives', () => {
  const fixture = useMappingFixture();

  it('sends an event and a context shaped as Lambda sends them', async () => {
    const received = signal<{ event: KinesisStreamEvent; context: Context }>();
    await fixture.start({
      region: 'eu-west-1',
      functionName: 'fanout-test',
      handler: async (event, context) => received.resolve({ event, context }),
    });
    const [sequenceNumber] = await fixture.putRecords([{ key: 'k', data: { hello: 'world' } }]);

    const { event, context } = await received.promise;

    // The Powertools schema, made strict so that an extra field fails too.
    const strictSchema = KinesisDataStreamSchema.extend({
      Records: z.array(
        KinesisDataStreamRecord.extend({ kinesis: KinesisDataStreamRecordPayload.strict() }).strict(),
      ),
    }).strict();
    const parsed = strictSchema.parse(event);
    expect(parsed.Records).toHaveLength(1);
    expect(parsed.Records[0]?.kinesis.data).toEqual({ hello: 'world' });
    const [record] = event.Records;
    expect(record).toMatchObject({
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventName: 'aws:kinesis:record',
      awsRegion: 'eu-west-1',
      eventSourceARN: `arn:aws:kinesis:eu-west-1:000000000000:stream/${fixture.streamName}`,
      kinesis: { kinesisSchemaVersion: '1.0', partitionKey: 'k', sequenceNumber },
    });
    expect(record?.eventID).toMatch(new RegExp(`^shardId-\\d{12}:${sequenceNumber}$`));
    const arrival = record?.kinesis.approximateArrivalTimestamp ?? 0;
    expect(Math.abs(arrival - Date.now() / 1000)).toBeLessThan(30);
    expect(context).toMatchObject({
      functionName: 'fanout-test',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:000000000000:function:fanout-test',
      logGroupName: '/aws/lambda/fanout-test',
    });
    expect(context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(context.getRemainingTimeInMillis()).toBeGreaterThan(0);
  });
});
