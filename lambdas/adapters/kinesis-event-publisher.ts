/** Publishes conversation events to the Kinesis stream, partitioned by conversation. */
import { type KinesisClient, PutRecordCommand } from '@aws-sdk/client-kinesis';
import { type EventPublisher, partitionKeyOf, type StreamEvent } from '../domain/ports.js';

export class KinesisEventPublisher implements EventPublisher {
  readonly #client: KinesisClient;
  readonly #streamName: string;

  constructor(options: { client: KinesisClient; streamName: string }) {
    this.#client = options.client;
    this.#streamName = options.streamName;
  }

  async publish(event: StreamEvent): Promise<void> {
    await this.#client.send(
      new PutRecordCommand({
        StreamName: this.#streamName,
        // One conversation, one shard: its events keep their order on the stream.
        PartitionKey: partitionKeyOf(event),
        Data: Buffer.from(JSON.stringify(event), 'utf8'),
      }),
    );
  }
}
