/**
 * Wires the domain to its AWS adapters. Lambda builds this once per cold start from the
 * environment; the local stack builds it from its own configuration; tests may replace
 * any part. The handlers are the same code in every case.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@aws-lambda-powertools/logger';
import { ulid } from 'ulid';
import { ApiGatewayConnectionPusher } from './adapters/api-gateway-connection-pusher.js';
import { type AwsClients, createAwsClients } from './adapters/aws-clients.js';
import { DynamoDbConnectionStore } from './adapters/dynamodb-connection-store.js';
import { DynamoDbConversationListStore } from './adapters/dynamodb-conversation-list-store.js';
import { type CapacityListener, DynamoDbMessageStore } from './adapters/dynamodb-message-store.js';
import { DynamoDbPresenceStore } from './adapters/dynamodb-presence-store.js';
import { DynamoDbPresenceSubscriptionStore } from './adapters/dynamodb-presence-subscription-store.js';
import { DynamoDbReceiptStore } from './adapters/dynamodb-receipt-store.js';
import { InMemoryMetrics } from './adapters/in-memory-metrics.js';
import { KinesisEventPublisher } from './adapters/kinesis-event-publisher.js';
import { PowertoolsMetricsRecorder } from './adapters/powertools-metrics.js';
import { createSecretsManagerClient, secretStringLoader } from './adapters/secrets-manager-key.js';
import { configFromEnvironment, type ParleyConfig } from './config.js';
import type { MetricsRecorder } from './domain/metrics.js';
import type {
  ConnectionPusher,
  ConnectionStore,
  ConversationListStore,
  EventPublisher,
  MessageStore,
  PresenceStore,
  PresenceSubscriptionStore,
  ReceiptStore,
} from './domain/ports.js';
import type { PresenceDeps } from './domain/presence.js';
import { createLastSeqCache, DEFAULT_SEQUENCING, type SequencingDeps } from './domain/sequencing.js';
import { createTokenVerifier, type TokenSettings, type TokenVerifier } from './domain/tokens.js';

export interface ParleyDeps {
  config: ParleyConfig;
  logger: Logger;
  metrics: MetricsRecorder;
  now: () => number;
  messages: MessageStore;
  publisher: EventPublisher;
  connections: ConnectionStore;
  pusher: ConnectionPusher;
  receipts: ReceiptStore;
  conversationList: ConversationListStore;
  presence: PresenceStore;
  presenceSubscriptions: PresenceSubscriptionStore;
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
  const messages = new DynamoDbMessageStore({
    client: clients.dynamodb,
    tableName: config.names.conversationsTable,
    ...(overrides.onCapacity ? { onCapacity: overrides.onCapacity } : {}),
  });
  const publisher = new KinesisEventPublisher({
    client: clients.kinesis,
    streamName: config.names.eventsStream,
  });
  const deps: ParleyDeps = {
    config,
    logger,
    metrics,
    now,
    messages,
    publisher,
    connections: new DynamoDbConnectionStore({
      client: clients.dynamodb,
      tableName: config.names.connectionsTable,
    }),
    pusher: new ApiGatewayConnectionPusher({ client: clients.connections }),
    receipts: new DynamoDbReceiptStore({
      client: clients.dynamodb,
      tableName: config.names.conversationsTable,
    }),
    conversationList: new DynamoDbConversationListStore({
      client: clients.dynamodb,
      tableName: config.names.userConversationsTable,
      now,
    }),
    presence: new DynamoDbPresenceStore({ client: clients.dynamodb, tableName: config.names.presenceTable }),
    presenceSubscriptions: new DynamoDbPresenceSubscriptionStore({
      client: clients.dynamodb,
      tableName: config.names.presenceSubscriptionsTable,
      now,
    }),
    verifyToken: createTokenVerifier(tokenSettings(config)),
    sequencing: {
      messages,
      publisher,
      newMessageId: () => ulid(),
      now,
      sleep: (ms) => sleep(ms),
      random: Math.random,
      ...DEFAULT_SEQUENCING,
      lastSeqCache: createLastSeqCache(),
    },
    clients,
  };
  if (!overrides.wrap) return deps;
  const wrapped = overrides.wrap(deps);
  // Sequencing reaches the store and the publisher through its own deps: keep them in step.
  return {
    ...wrapped,
    sequencing: { ...wrapped.sequencing, messages: wrapped.messages, publisher: wrapped.publisher },
  };
}

/** The verifier's settings: a secret ARN becomes a loader that reads the key from Secrets Manager. */
function tokenSettings(config: ParleyConfig): TokenSettings {
  const { secretArn, ...settings } = config.tokens;
  if (!secretArn) return settings;
  const client = createSecretsManagerClient(secretArn, config.endpoints.region);
  return { ...settings, loadSecret: secretStringLoader(client, secretArn) };
}

/** The part of the deps the presence rules use. */
export function presenceDeps(deps: ParleyDeps): PresenceDeps {
  return {
    presence: deps.presence,
    subscriptions: deps.presenceSubscriptions,
    connections: deps.connections,
    messages: deps.messages,
    publisher: deps.publisher,
    pusher: deps.pusher,
    metrics: deps.metrics,
    now: deps.now,
    connectionTtlSeconds: deps.config.connectionTtlSeconds,
    postConcurrency: deps.config.postConcurrency,
  };
}

/** What a Lambda function uses: built on first use from the environment, then reused. */
export function depsFromEnvironment(): DepsProvider {
  let deps: ParleyDeps | undefined;
  return () => {
    deps ??= createDeps(configFromEnvironment());
    return deps;
  };
}
