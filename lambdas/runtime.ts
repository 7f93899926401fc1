/**
 * Wires the domain to its AWS adapters. Lambda builds this once per cold start from the
 * environment; the local stack builds it from its own configuration; tests may replace
 * any part. The handlers are the same code in every case.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@aws-lambda-powertools/logger';
import type { PushKind } from '@parley/protocol';
import { ulid } from 'ulid';
import type { FunctionId } from '../definitions/functions.js';
import type { MetricsRecorder } from '../definitions/metrics.js';
import { ApiGatewayConnectionPusher } from './adapters/api-gateway-connection-pusher.js';
import { type AwsClients, createAwsClients } from './adapters/aws-clients.js';
import { DynamoDbConnectionStore } from './adapters/dynamodb-connection-store.js';
import { DynamoDbConversationListStore } from './adapters/dynamodb-conversation-list-store.js';
import { DynamoDbGroupConnectionStore } from './adapters/dynamodb-group-connection-store.js';
import { DynamoDbGroupStore } from './adapters/dynamodb-group-store.js';
import { type CapacityListener, DynamoDbMessageStore } from './adapters/dynamodb-message-store.js';
import { DynamoDbPresenceStore } from './adapters/dynamodb-presence-store.js';
import { DynamoDbPresenceSubscriptionStore } from './adapters/dynamodb-presence-subscription-store.js';
import { DynamoDbPrivacyStore } from './adapters/dynamodb-privacy-store.js';
import { DynamoDbPushRegistrationStore } from './adapters/dynamodb-push-registration-store.js';
import { DynamoDbRateCounter } from './adapters/dynamodb-rate-counter.js';
import { DynamoDbReceiptStore } from './adapters/dynamodb-receipt-store.js';
import { DynamoDbTypingGate } from './adapters/dynamodb-typing-gate.js';
import { InMemoryMetrics } from './adapters/in-memory-metrics.js';
import { KinesisEventPublisher } from './adapters/kinesis-event-publisher.js';
import { PowertoolsMetricsRecorder } from './adapters/powertools-metrics.js';
import { createPushSenders, type PushSenders } from './adapters/push-senders.js';
import { createSecretsManagerClient, secretStringLoader } from './adapters/secrets-manager-key.js';
import { SnsPlatformEndpoints } from './adapters/sns-platform-endpoints.js';
import {
  configFromEnvironment,
  isAllowedPushEndpoint,
  type ParleyConfig,
  pushSettingsFrom,
} from './config.js';
import type { BlockingDeps } from './domain/blocking.js';
import { ConfigurationError } from './domain/errors.js';
import type { FanoutBatchDeps } from './domain/fanout-batch.js';
import { FAST_PATH_BUDGET_MS, type FastPathDeps, startFastPath } from './domain/fast-path.js';
import { DEFAULT_GROUP_CHANGES, type GroupChangeDeps } from './domain/group-changes.js';
import type {
  ConnectionPusher,
  ConnectionStore,
  ConversationListStore,
  EventPublisher,
  GroupConnectionStore,
  GroupStore,
  MessageStore,
  PlatformEndpoints,
  PresenceStore,
  PresenceSubscriptionStore,
  PrivacyStore,
  PushRegistrationStore,
  ReceiptStore,
  TypingGate,
} from './domain/ports.js';
import type { PresenceDeps } from './domain/presence.js';
import type { PushNotifierDeps } from './domain/push-notifier.js';
import type { PushRegistrationDeps } from './domain/push-registration.js';
import { type RateCounter, RateLimiter, type RouteRateLimiter } from './domain/rate-limits.js';
import { createLastSeqCache, DEFAULT_SEQUENCING, type SequencingDeps } from './domain/sequencing.js';
import { createTokenVerifier, type TokenSettings, type TokenVerifier } from './domain/tokens.js';

export interface ParleyDeps {
  config: ParleyConfig;
  logger: Logger;
  metrics: MetricsRecorder;
  now: () => number;
  messages: MessageStore;
  groups: GroupStore;
  publisher: EventPublisher;
  connections: ConnectionStore;
  groupConnections: GroupConnectionStore;
  pusher: ConnectionPusher;
  receipts: ReceiptStore;
  conversationList: ConversationListStore;
  presence: PresenceStore;
  presenceSubscriptions: PresenceSubscriptionStore;
  privacy: PrivacyStore;
  typingGate: TypingGate;
  pushRegistrations: PushRegistrationStore;
  platformEndpoints: PlatformEndpoints;
  /** The sender of each kind of push address that is on (protocol 1.4); a kind that is off has none. */
  pushSenders: PushSenders;
  rateLimiter: RouteRateLimiter;
  verifyToken: TokenVerifier;
  sequencing: SequencingDeps;
  clients: AwsClients;
}

export type DepsProvider = () => ParleyDeps;

export interface DepsOverrides {
  /** Wraps or replaces adapters, e.g. to inject faults in tests. */
  wrap?: (deps: ParleyDeps) => ParleyDeps;
  onCapacity?: CapacityListener;
}

export function createDeps(config: ParleyConfig, overrides: DepsOverrides = {}): ParleyDeps {
  const clients = createAwsClients(config.endpoints);
  const logger = new Logger({ serviceName: config.serviceName, logLevel: config.logLevel });
  // EMF lines mean something only on a Lambda's stdout, which CloudWatch reads: on this
  // machine (the local stack, the tests) they would be noise, so keep the values in memory.
  const metrics = config.endpoints.local
    ? new InMemoryMetrics()
    : new PowertoolsMetricsRecorder({ serviceName: config.serviceName });
  const now = Date.now;
  const adapters = createAdapters(config, clients, now, overrides.onCapacity);
  const deps: ParleyDeps = {
    config,
    logger,
    metrics,
    now,
    ...adapters,
    rateLimiter: rateLimiterOf(config, clients, now),
    verifyToken: tokenVerifierOf(config),
    pushSenders: createPushSenders(config, logger, adapters.pushRegistrations),
    sequencing: {
      messages: adapters.messages,
      publisher: adapters.publisher,
      newMessageId: () => ulid(),
      now,
      sleep: (ms) => sleep(ms),
      random: Math.random,
      ...DEFAULT_SEQUENCING,
      lastSeqCache: createLastSeqCache(),
    },
    clients,
  };
  if (!overrides.wrap) return withFastPath(deps);
  const wrapped = overrides.wrap(deps);
  // Sequencing reaches the store and the publisher through its own deps: keep them in step.
  return withFastPath({
    ...wrapped,
    sequencing: { ...wrapped.sequencing, messages: wrapped.messages, publisher: wrapped.publisher },
  });
}

/**
 * Gives sequencing the fast path over the final (possibly wrapped) adapters, unless a
 * wrapper gave it one of its own (the chaos run wraps it to inject faults).
 */
function withFastPath(deps: ParleyDeps): ParleyDeps {
  if (deps.sequencing.startFastPath) return deps;
  const withPath: ParleyDeps = { ...deps, sequencing: { ...deps.sequencing } };
  // Reads the deps it is part of at each send, so that a test may swap an adapter.
  withPath.sequencing.startFastPath = (conversationId) =>
    startFastPath(fastPathDeps(withPath), conversationId);
  return withPath;
}

type Adapters = Pick<
  ParleyDeps,
  | 'messages'
  | 'groups'
  | 'publisher'
  | 'connections'
  | 'groupConnections'
  | 'pusher'
  | 'receipts'
  | 'conversationList'
  | 'presence'
  | 'presenceSubscriptions'
  | 'privacy'
  | 'typingGate'
  | 'pushRegistrations'
  | 'platformEndpoints'
>;

/** One adapter per port, each on the resource the function was given (or failing by name). */
function createAdapters(
  config: ParleyConfig,
  clients: AwsClients,
  now: () => number,
  onCapacity: CapacityListener | undefined,
): Adapters {
  const { names } = config;
  const dynamodb = clients.dynamodb;
  const retention = config.messageRetentionDays ? { retentionDays: config.messageRetentionDays } : {};
  return {
    messages: ifConfigured<MessageStore>(
      names.conversationsTable,
      'PARLEY_CONVERSATIONS_TABLE',
      (tableName) =>
        new DynamoDbMessageStore({
          client: dynamodb,
          tableName,
          now,
          ...retention,
          ...(onCapacity ? { onCapacity } : {}),
        }),
    ),
    groups: ifConfigured<GroupStore>(
      names.conversationsTable,
      'PARLEY_CONVERSATIONS_TABLE',
      (tableName) => new DynamoDbGroupStore({ client: dynamodb, tableName }),
    ),
    publisher: ifConfigured<EventPublisher>(
      names.eventsStream,
      'PARLEY_EVENTS_STREAM',
      (streamName) => new KinesisEventPublisher({ client: clients.kinesis, streamName }),
    ),
    connections: ifConfigured<ConnectionStore>(
      names.connectionsTable,
      'PARLEY_CONNECTIONS_TABLE',
      (tableName) => new DynamoDbConnectionStore({ client: dynamodb, tableName }),
    ),
    groupConnections: ifConfigured<GroupConnectionStore>(
      names.groupConnectionsTable,
      'PARLEY_GROUP_CONNECTIONS_TABLE',
      (tableName) => new DynamoDbGroupConnectionStore({ client: dynamodb, tableName }),
    ),
    pusher: ifConfigured<ConnectionPusher>(
      config.endpoints.connections,
      'PARLEY_CONNECTIONS_ENDPOINT',
      () => new ApiGatewayConnectionPusher({ client: clients.connections }),
    ),
    receipts: ifConfigured<ReceiptStore>(
      names.conversationsTable,
      'PARLEY_CONVERSATIONS_TABLE',
      (tableName) => new DynamoDbReceiptStore({ client: dynamodb, tableName }),
    ),
    conversationList: ifConfigured<ConversationListStore>(
      names.userConversationsTable,
      'PARLEY_USER_CONVERSATIONS_TABLE',
      (tableName) => new DynamoDbConversationListStore({ client: dynamodb, tableName, now, ...retention }),
    ),
    presence: ifConfigured<PresenceStore>(
      names.presenceTable,
      'PARLEY_PRESENCE_TABLE',
      (tableName) => new DynamoDbPresenceStore({ client: dynamodb, tableName }),
    ),
    presenceSubscriptions: ifConfigured<PresenceSubscriptionStore>(
      names.presenceSubscriptionsTable,
      'PARLEY_PRESENCE_SUBSCRIPTIONS_TABLE',
      (tableName) => new DynamoDbPresenceSubscriptionStore({ client: dynamodb, tableName, now }),
    ),
    privacy: ifConfigured<PrivacyStore>(
      names.userConversationsTable,
      'PARLEY_USER_CONVERSATIONS_TABLE',
      (tableName) => new DynamoDbPrivacyStore({ client: dynamodb, tableName }),
    ),
    typingGate: ifConfigured<TypingGate>(
      names.conversationsTable,
      'PARLEY_CONVERSATIONS_TABLE',
      (tableName) => new DynamoDbTypingGate({ client: dynamodb, tableName }),
    ),
    pushRegistrations: ifConfigured<PushRegistrationStore>(
      names.pushDevicesTable,
      'PARLEY_PUSH_DEVICES_TABLE',
      (tableName) => new DynamoDbPushRegistrationStore({ client: dynamodb, tableName }),
    ),
    // Its SNS client is made at the first deletion, in the region of the endpoint's ARN.
    platformEndpoints: new SnsPlatformEndpoints(),
  };
}

/** The per-user limits, counted in the rate-limits table of the functions that have a limit. */
function rateLimiterOf(config: ParleyConfig, clients: AwsClients, now: () => number): RouteRateLimiter {
  const counter = ifConfigured<RateCounter>(
    config.names.rateLimitsTable,
    'PARLEY_RATE_LIMITS_TABLE',
    (tableName) => new DynamoDbRateCounter({ client: clients.dynamodb, tableName }),
  );
  return new RateLimiter({ counter, limits: config.rateLimits, now });
}

/** Only the authorizer has token settings; any other function that verifies a token is a defect. */
function tokenVerifierOf(config: ParleyConfig): ParleyDeps['verifyToken'] {
  if (config.tokens) return createTokenVerifier(tokenSettings(config.tokens, config.endpoints.region));
  return async () => {
    throw new ConfigurationError(
      'this function has no token settings: definitions/functions.ts gives it none',
    );
  };
}

/**
 * The adapter when its setting is there; otherwise one whose every method fails with an
 * error naming the setting. A function is given only the settings `definitions/functions.ts` says
 * it uses, so reaching for another resource is a defect that should fail loudly, as IAM
 * would refuse it in AWS.
 */
function ifConfigured<Port extends object>(
  setting: string | undefined,
  variable: string,
  build: (setting: string) => Port,
): Port {
  if (setting) return build(setting);
  // Every method of a port returns a promise: fail the same way.
  const refuse = async () => {
    throw new ConfigurationError(
      `${variable} is not set for this function: definitions/functions.ts does not give it`,
    );
  };
  return new Proxy({} as Port, { get: () => refuse });
}

/** The verifier's settings: a secret ARN becomes a loader that reads the key from Secrets Manager. */
function tokenSettings(tokens: NonNullable<ParleyConfig['tokens']>, region: string): TokenSettings {
  const { secretArn, allowedOrigins: _checkedByTheAuthorizer, ...settings } = tokens;
  if (!secretArn) return settings;
  const client = createSecretsManagerClient(secretArn, region);
  return { ...settings, loadSecret: secretStringLoader(client, secretArn) };
}

/** The part of the deps the presence rules use. */
export function presenceDeps(deps: ParleyDeps): PresenceDeps {
  return {
    presence: deps.presence,
    subscriptions: deps.presenceSubscriptions,
    connections: deps.connections,
    privacy: deps.privacy,
    publisher: deps.publisher,
    pusher: deps.pusher,
    metrics: deps.metrics,
    now: deps.now,
    connectionTtlSeconds: deps.config.connectionTtlSeconds,
    postConcurrency: deps.config.postConcurrency,
  };
}

/** The part of the deps blocking uses. */
export function blockingDeps(deps: ParleyDeps): BlockingDeps {
  return {
    privacy: deps.privacy,
    subscriptions: deps.presenceSubscriptions,
    connections: deps.connections,
    pusher: deps.pusher,
    metrics: deps.metrics,
    now: deps.now,
    postConcurrency: deps.config.postConcurrency,
    onPostFailed: (error) => deps.logger.warn('a block was not posted to every other device', { error }),
  };
}

/** The part of the deps push registration uses: the kinds and endpoints the deployment pushes to. */
export function pushRegistrationDeps(deps: ParleyDeps): PushRegistrationDeps {
  const settings = deps.config.push;
  const kindsOn = new Set<PushKind>();
  if (settings?.vapid) kindsOn.add('webpush');
  if (settings?.apnsPlatformApplicationArn) kindsOn.add('apns');
  if (settings?.fcmPlatformApplicationArn) kindsOn.add('fcm');
  const endpointHosts = settings?.endpointHosts ?? [];
  return {
    registrations: deps.pushRegistrations,
    platformEndpoints: deps.platformEndpoints,
    kindsOn,
    allowsEndpoint: (endpoint) => isAllowedPushEndpoint(endpoint, endpointHosts),
    now: deps.now,
    onEndpointNotDeleted: (endpointArn, error) =>
      deps.logger.warn('the SNS endpoint of a replaced push registration was not deleted', {
        endpointArn,
        error,
      }),
  };
}

/** The part of the deps the membership changes use: the send's ids, clock and waits. */
export function groupChangeDeps(deps: ParleyDeps): GroupChangeDeps {
  const { newMessageId, sleep, random } = deps.sequencing;
  return {
    groups: deps.groups,
    messages: deps.messages,
    publisher: deps.publisher,
    receipts: deps.receipts,
    newMessageId,
    now: deps.now,
    sleep,
    random,
    ...DEFAULT_GROUP_CHANGES,
  };
}

/** The part of the deps the fast path of `send` uses: the fanout's posting and reading, and its bounds. */
export function fastPathDeps(deps: ParleyDeps): FastPathDeps {
  return {
    ...fanoutDeps(deps),
    maxConnections: deps.config.fastPathMaxConnections,
    budgetMs: FAST_PATH_BUDGET_MS,
  };
}

/** The part of the deps the push work uses; its settings are the deployment's, or the defaults when it has none. */
export function pushNotifierDeps(deps: ParleyDeps): PushNotifierDeps {
  const push = deps.config.push ?? pushSettingsFrom({});
  return {
    registrations: deps.pushRegistrations,
    connections: deps.connections,
    groups: deps.groups,
    receipts: deps.receipts,
    privacy: deps.privacy,
    senderFor: (kind) => deps.pushSenders[kind],
    metrics: deps.metrics,
    logger: deps.logger,
    now: deps.now,
    settings: { preview: push.preview, coalesceWindowMs: push.coalesceWindowMs, ttlSeconds: push.ttlSeconds },
    concurrency: deps.config.postConcurrency,
  };
}

/** The part of the deps the fanout uses. */
export function fanoutDeps(deps: ParleyDeps): FanoutBatchDeps {
  return {
    connections: deps.connections,
    pusher: deps.pusher,
    metrics: deps.metrics,
    now: deps.now,
    postConcurrency: deps.config.postConcurrency,
    retryWait: { sleep: deps.sequencing.sleep, random: deps.sequencing.random },
    conversationList: deps.conversationList,
    logger: deps.logger,
    groups: deps.groups,
    groupConnections: deps.groupConnections,
    publisher: deps.publisher,
  };
}

/**
 * What a Lambda function uses: built on its first invocation from the function's
 * environment, then reused. (Not when the module loads: the local stack and the tests
 * import every handler module without a Lambda environment.)
 */
export function depsFromEnvironment(functionId: FunctionId): DepsProvider {
  let deps: ParleyDeps | undefined;
  return () => {
    deps ??= createDeps(configFromEnvironment(functionId));
    return deps;
  };
}
