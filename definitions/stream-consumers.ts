/**
 * The two consumers of the events stream, defined once: the CDK stack builds its Lambda
 * event source mappings from these, and the local stack its emulated ones, so that both
 * filter, batch and retry alike. Plain data, no CDK import.
 */

export interface StreamConsumerDefinition {
  /** The function it invokes, by handler file name (`lambdas/handlers/{id}.ts`). */
  id: 'fanout' | 'presence-notifier' | 'push-notifier';
  /** The `type` values of the events it receives; Lambda's event filter drops the rest. */
  eventTypes: readonly string[];
  /**
   * Read through an enhanced fan-out consumer (pushed within about 70 ms of the write)
   * rather than shared polling (once a second per shard).
   */
  enhancedFanOut: boolean;
  batchSize: number;
  /** 0 hands each record over as soon as it arrives; more gathers records into fewer calls. */
  maximumBatchingWindowInSeconds: number;
  /** Bounded, because Lambda's default (retry until the record expires) lets one poison record block a shard for a day. */
  maximumRetryAttempts: number;
  maximumRecordAgeInSeconds: number;
  /** Batches of one shard handled at once; order still holds per partition key (per conversation). */
  parallelizationFactor: number;
}

/**
 * Messages and receipts to every device of every member, and the slices of a large group's
 * delivery (`group-slice`, each carrying its connections): the latency path. Retries past
 * transient outages for up to an hour; what still fails goes to the on-failure
 * destination, and devices recover it with `sync` in any case.
 */
export const fanoutConsumer = {
  id: 'fanout',
  eventTypes: ['message', 'receipt', 'groupReceipt', 'group-slice'],
  enhancedFanOut: true,
  batchSize: 100,
  maximumBatchingWindowInSeconds: 0,
  maximumRetryAttempts: 10,
  maximumRecordAgeInSeconds: 3600,
  parallelizationFactor: 10,
} as const satisfies StreamConsumerDefinition;

/**
 * Presence changes to subscribed connections, gathered for a few seconds so that a user's
 * flapping connection costs one push per subscriber. A presence push a minute late is
 * worthless (readers see the current state anyway), hence the short record age.
 */
export const presenceConsumer = {
  id: 'presence-notifier',
  eventTypes: ['presence-changed'],
  enhancedFanOut: false,
  batchSize: 500,
  maximumBatchingWindowInSeconds: 2,
  maximumRetryAttempts: 2,
  maximumRecordAgeInSeconds: 60,
  parallelizationFactor: 1,
} as const satisfies StreamConsumerDefinition;

/**
 * Pushes to the devices of a message's recipients that are not connected (protocol 1.4),
 * off the send and delivery paths: shared polling (about a second behind), which a push
 * that takes seconds through APNs, FCM or a browser's push service does not notice.
 * Gathering a second of records lets a burst of messages to one conversation become one
 * push. A push ten minutes late still tells the user something; older ones are dropped.
 */
export const pushConsumer = {
  id: 'push-notifier',
  eventTypes: ['message'],
  enhancedFanOut: false,
  batchSize: 500,
  maximumBatchingWindowInSeconds: 1,
  maximumRetryAttempts: 3,
  maximumRecordAgeInSeconds: 600,
  parallelizationFactor: 2,
} as const satisfies StreamConsumerDefinition;

// In the order of `FUNCTIONS`, whose stream functions the local stack starts one mapping each.
export const STREAM_CONSUMERS = [fanoutConsumer, pushConsumer, presenceConsumer] as const;

/** The Lambda event filter pattern of a consumer: events are JSON, filtered on their `type`. */
export function filterPatternOf(consumer: StreamConsumerDefinition): { data: { type: string[] } } {
  return { data: { type: [...consumer.eventTypes] } };
}
