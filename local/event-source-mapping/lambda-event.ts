/**
 * The event and context a handler receives, shaped as Lambda sends them for a Kinesis
 * event source mapping ("Using Lambda to process records from Amazon Kinesis Data
 * Streams", https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html, "Example
 * Kinesis record event").
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { _Record } from '@aws-sdk/client-kinesis';
import type { Context, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';

/** The account of the local engines (kinesis-mock uses it too). */
const LOCAL_ACCOUNT = '000000000000';

export interface FunctionIdentity {
  region: string;
  functionName: string;
  streamName: string;
  /** What `context.getRemainingTimeInMillis()` counts down from. */
  timeoutSeconds: number;
}

/** Builds the records, events and contexts of one mapping's function. */
export class LambdaEvents {
  private readonly eventSourceARN: string;
  private readonly invokeIdentityArn: string;

  constructor(private readonly identity: FunctionIdentity) {
    const { region, functionName, streamName } = identity;
    this.eventSourceARN = `arn:aws:kinesis:${region}:${LOCAL_ACCOUNT}:stream/${streamName}`;
    this.invokeIdentityArn = `arn:aws:iam::${LOCAL_ACCOUNT}:role/${functionName}-role`;
  }

  /** A record read from `shardId` as the event lists it: data in base64, arrival in seconds. */
  toEventRecord(shardId: string, record: _Record): KinesisStreamRecord {
    const sequenceNumber = record.SequenceNumber ?? '';
    const data = record.Data ?? new Uint8Array();
    return {
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: record.PartitionKey ?? '',
        sequenceNumber,
        data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'),
        approximateArrivalTimestamp: (record.ApproximateArrivalTimestamp ?? new Date()).getTime() / 1000,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `${shardId}:${sequenceNumber}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: this.invokeIdentityArn,
      awsRegion: this.identity.region,
      eventSourceARN: this.eventSourceARN,
    };
  }

  /** A fresh copy each time, so a handler that changes its event cannot change a retry. */
  toEvent(records: KinesisStreamRecord[]): KinesisStreamEvent {
    return { Records: records.map((record) => ({ ...record, kinesis: { ...record.kinesis } })) };
  }

  /** The context of one invocation; its deadline is not enforced. */
  createContext(): Context {
    const { region, functionName, timeoutSeconds } = this.identity;
    const deadline = Date.now() + timeoutSeconds * 1000;
    const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
    return {
      callbackWaitsForEmptyEventLoop: true,
      functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:${region}:${LOCAL_ACCOUNT}:function:${functionName}`,
      memoryLimitInMB: '128',
      awsRequestId: randomUUID(),
      logGroupName: `/aws/lambda/${functionName}`,
      logStreamName: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: () => {},
      fail: () => {},
      succeed: () => {},
    };
  }
}
