import { startDelayingHttpProxy } from './delaying-http-proxy.js';
import type { HopDelays } from './hop-delays.js';

export interface DelayedEngines {
  dynamodbEndpoint: string;
  kinesisEndpoint: string;
  stop(): Promise<void>;
}

/**
 * Proxies in front of DynamoDB Local and kinesis-mock that make each call take at least its
 * modelled AWS time. A restarted kinesis-mock stays reachable: the proxy forwards to the
 * endpoint it is given, whose port a restart keeps.
 */
export async function startDelayedEngines(
  engines: { dynamodbEndpoint: string; kinesisEndpoint: string },
  hopDelays: HopDelays,
): Promise<DelayedEngines> {
  const dynamodb = await startDelayingHttpProxy({
    target: engines.dynamodbEndpoint,
    delayOf: (operation) => hopDelays.dynamodb(operation),
    observe: (operation, engineMs, modelledMs) =>
      hopDelays.observeEngine?.('dynamodb', operation, engineMs, modelledMs),
  });
  const kinesis = await startDelayingHttpProxy({
    target: engines.kinesisEndpoint,
    delayOf: (operation) => hopDelays.kinesis(operation),
    observe: (operation, engineMs, modelledMs) =>
      hopDelays.observeEngine?.('kinesis', operation, engineMs, modelledMs),
  }).catch(async (error: unknown) => {
    await dynamodb.stop();
    throw error;
  });
  return {
    dynamodbEndpoint: dynamodb.endpoint,
    kinesisEndpoint: kinesis.endpoint,
    stop: async () => {
      await Promise.all([dynamodb.stop(), kinesis.stop()]);
    },
  };
}
