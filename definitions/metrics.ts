/**
 * The business metrics Parley emits, by name: the handlers record them through the
 * `MetricsRecorder` port (Powertools EMF in AWS), and the CDK monitoring construct reads
 * the same names for its dashboard and alarms, so the two cannot drift apart.
 */

/** The CloudWatch namespace of every Parley metric. */
export const METRICS_NAMESPACE = 'Parley';

/**
 * The one dimension every metric carries: `service`, set by Powertools from
 * `POWERTOOLS_SERVICE_NAME`, which the stack sets to `serviceNameOf(stage)`.
 */
export const SERVICE_DIMENSION = 'service';

/** `parley-dev`, `parley-prod`: the service name of a stage, hence its metric dimension. */
export function serviceNameOf(stage: string): string {
  return `parley-${stage}`;
}

export const MetricName = {
  /** Milliseconds from the commit of a message (its `serverTs`) to its post to a device, per post. */
  DeliveryLatency: 'DeliveryLatency',
  /** A `send` answered from the idempotency key: a client retry that stored nothing new. */
  DuplicatesSuppressed: 'DuplicatesSuppressed',
  /** A `send` that lost the race for a seq (or a transaction conflict) and read again. */
  SequencingRetries: 'SequencingRetries',
  /** A post answered 410 Gone: the connection was removed. */
  GoneConnections: 'GoneConnections',
  /**
   * Posts given up after API Gateway throttled them (429 or 5xx) through every retry: the
   * device fills the gap from a later event or its next catch-up (docs/adr/0011-connection-cap.md).
   */
  PostsDropped: 'PostsDropped',
  /** Handshakes refused with 429 because the user had the most connections allowed. */
  ConnectionsRefused: 'ConnectionsRefused',
  /** Posts of a conversation event to a device that succeeded. */
  EventsDelivered: 'EventsDelivered',
  /** Posts `send` made itself, before the stream, that succeeded (docs/adr/0008-fast-path.md); in `EventsDelivered` too. */
  FastPathPosts: 'FastPathPosts',
  /**
   * Connections the fanout did not post a message to because the record names them: `send`
   * had reached them already, or one of them sent it and asked for no echo (protocol 1.5).
   */
  FastPathSkips: 'FastPathSkips',
  /**
   * A `$connect` whose token could not be checked because the keys could not be read (the
   * JWKS URL or the signing key's secret failed): an outage, answered 500, never 401.
   */
  TokenKeysUnavailable: 'TokenKeysUnavailable',
  /** Pushes a push service or SNS accepted, one per device (protocol 1.4, docs/adr/0016-push.md). */
  PushesSent: 'PushesSent',
  /** Pushes not sent because the device had one for that conversation within the coalescing window. */
  PushesCoalesced: 'PushesCoalesced',
  /** Pushes dropped: throttled (429, 5xx) through every retry, or refused for another reason. */
  PushesFailed: 'PushesFailed',
  /** Registrations deleted because a push service answered 404 or 410, or SNS found the endpoint disabled. */
  PushRegistrationsRemoved: 'PushRegistrationsRemoved',
} as const;

export type MetricName = (typeof MetricName)[keyof typeof MetricName];

export type MetricUnit = 'Milliseconds' | 'Count';

export const METRIC_UNITS: Readonly<Record<MetricName, MetricUnit>> = {
  DeliveryLatency: 'Milliseconds',
  DuplicatesSuppressed: 'Count',
  SequencingRetries: 'Count',
  GoneConnections: 'Count',
  PostsDropped: 'Count',
  ConnectionsRefused: 'Count',
  EventsDelivered: 'Count',
  FastPathPosts: 'Count',
  FastPathSkips: 'Count',
  TokenKeysUnavailable: 'Count',
  PushesSent: 'Count',
  PushesCoalesced: 'Count',
  PushesFailed: 'Count',
  PushRegistrationsRemoved: 'Count',
};

/** Where handlers record metrics; flushed by the handler's middleware once per invocation. */
export interface MetricsRecorder {
  record(name: MetricName, value: number): void;
  /** Publishes what was recorded since the last flush; publishes nothing when nothing was. */
  flush(): void;
}
