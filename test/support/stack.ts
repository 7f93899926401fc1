/** A local stack of our own for one e2e test file, on the engines the global setup started. */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, inject } from 'vitest';
import { LOCAL_JWT_SECRET } from '../../lambdas/config.js';
import { mintToken } from '../../lambdas/domain/tokens.js';
import { startDeployedStack } from '../../local/deployed/stack.js';
import { type LocalStackOptions, type RunningLocalStack, startLocalStack } from '../../local/stack.js';
import { TestClient } from './ws-client.js';

export function uniqueId(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

/** Which stack the tests run against: the handlers in-process, or the synthesized stack's bundles. */
export const TEST_STACK_MODE = process.env.PARLEY_TEST_STACK === 'deployed' ? 'deployed' : 'local';

/** What the deployed mode cannot take from a test: it runs the template as synthesized. */
const IN_PROCESS_ONLY = [
  'deps',
  'wrapFunction',
  'jwtSecret',
  'jwtIssuer',
  'jwtAudience',
  'allowedOrigins',
  'maxTokenAgeSeconds',
  'streamDelayMs',
  'fastPathMaxConnections',
  'rateLimits',
  'hopDelays',
  'push',
  'pushService',
] as const;

export async function startTestStack(options: LocalStackOptions = {}): Promise<RunningLocalStack> {
  if (TEST_STACK_MODE === 'deployed') return startDeployedTestStack(options);
  return startLocalStack({
    wsPort: 0,
    dynamodbEndpoint: inject('dynamodbEndpoint'),
    kinesisEndpoint: inject('kinesisEndpoint'),
    resourcePrefix: uniqueId('t'),
    logLevel: 'SILENT',
    ...options,
  });
}

export async function connectAs(
  stack: RunningLocalStack,
  userId: string,
  deviceId: string,
): Promise<TestClient> {
  return TestClient.connect(stack.url, { token: await mintToken(userId, LOCAL_JWT_SECRET), deviceId });
}

/**
 * A local stack for one describe block: started before its tests, stopped after them,
 * with `connect` closing every connection it opened after each test.
 */
export function useTestStack(options: LocalStackOptions = {}) {
  let running: RunningLocalStack | undefined;
  const clients: TestClient[] = [];
  beforeAll(async () => {
    running = await startTestStack(options);
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });
  afterAll(async () => {
    await running?.stop();
  });
  const stack = () => {
    if (!running) throw new Error('the test stack is not started yet');
    return running;
  };
  return {
    stack,
    connect: async (userId: string, deviceId: string) => {
      const client = await connectAs(stack(), userId, deviceId);
      clients.push(client);
      return client;
    },
  };
}

/**
 * The synthesized stack (the global setup's `cdk synth`) on the shared engines. Options that
 * change the handlers themselves have no meaning here and are refused; the presence window
 * is the template's.
 */
async function startDeployedTestStack(options: LocalStackOptions): Promise<RunningLocalStack> {
  const refused = IN_PROCESS_ONLY.filter((option) => options[option] !== undefined);
  if (refused.length > 0) {
    throw new Error(
      `the deployed mode runs the template as synthesized: it cannot take ${refused.join(', ')}`,
    );
  }
  return startDeployedStack({
    cloudAssemblyDir: inject('cloudAssemblyDir'),
    synthesize: false,
    wsPort: options.wsPort ?? 0,
    dynamodbEndpoint: inject('dynamodbEndpoint'),
    kinesisEndpoint: inject('kinesisEndpoint'),
    resourcePrefix: options.resourcePrefix ?? uniqueId('t'),
    logLevel: options.logLevel ?? 'SILENT',
    // Each test file starts a stack of its own and calls a few of its 24 functions: starting
    // every bundle ahead was most of a file's start on two cores.
    warmFunctions: false,
    ...(options.throttle ? { throttle: options.throttle } : {}),
    ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
    ...(options.streamDelayMs ? { streamDelayMs: options.streamDelayMs } : {}),
  });
}
