/**
 * The stream and the `@connections` API in memory: the publisher keeps what was published,
 * in order, with its partition key; the pusher keeps what was posted and answers `gone`
 * for a connection the test closed, as API Gateway answers 410.
 */
import {
  type ConnectionPusher,
  type EventPublisher,
  type PostOutcome,
  partitionKeyOf,
  type StreamEvent,
} from '../../../lambdas/domain/ports.js';

export interface PublishedRecord {
  partitionKey: string;
  event: StreamEvent;
}

export class InMemoryEventPublisher implements EventPublisher {
  readonly records: PublishedRecord[] = [];

  async publish(event: StreamEvent): Promise<void> {
    // The stream carries JSON: a consumer never shares an object with the producer.
    this.records.push({ partitionKey: partitionKeyOf(event), event: JSON.parse(JSON.stringify(event)) });
  }

  /** The events published, in order. */
  get events(): StreamEvent[] {
    return this.records.map((record) => record.event);
  }
}

export interface Post {
  connectionId: string;
  frame: string;
}

export class InMemoryConnectionPusher implements ConnectionPusher {
  readonly posts: Post[] = [];
  /** The connections closed through `disconnect`, in order. */
  readonly disconnected: string[] = [];
  readonly #gone = new Set<string>();
  /** Connections whose next posts answer `throttled`, and how many more times each does. */
  readonly #throttled = new Map<string, number>();

  async post(connectionId: string, frame: string): Promise<PostOutcome> {
    if (this.#gone.has(connectionId)) return 'gone';
    const throttles = this.#throttled.get(connectionId) ?? 0;
    if (throttles > 0) {
      this.#throttled.set(connectionId, throttles - 1);
      return 'throttled';
    }
    this.posts.push({ connectionId, frame });
    return 'delivered';
  }

  async disconnect(connectionId: string): Promise<'closed' | 'gone'> {
    if (this.#gone.has(connectionId)) return 'gone';
    this.#gone.add(connectionId);
    this.disconnected.push(connectionId);
    return 'closed';
  }

  /** The next `times` posts to the connection answer `throttled` (429), as API Gateway's quota does. */
  throttle(connectionId: string, times = Number.POSITIVE_INFINITY): void {
    this.#throttled.set(connectionId, times);
  }

  /** From now on, posts to these connections answer `gone`. */
  close(...connectionIds: string[]): void {
    for (const connectionId of connectionIds) this.#gone.add(connectionId);
  }

  /** The frames posted to a connection, parsed, in order. */
  framesTo(connectionId: string): unknown[] {
    return this.posts
      .filter((post) => post.connectionId === connectionId)
      .map((post) => JSON.parse(post.frame) as unknown);
  }
}
