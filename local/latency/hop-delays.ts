/**
 * How long each AWS hop takes, for a local stack that models AWS latency (`npm run bench --
 * --aws-model`). The handlers stay the code that runs in Lambda: the delays live in the local
 * stack's parts (the gateway, the event source mapping) and in proxies in front of the engines.
 * Each call draws one delay in milliseconds; the benchmark draws them from distributions fitted
 * to published AWS figures (`bench/aws-hops.ts`).
 */
export interface HopDelays {
  /** A frame from a client's device to API Gateway. */
  clientToGateway(): number;
  /** A frame from API Gateway to a client's device. */
  gatewayToClient(): number;
  /** From API Gateway selecting a route to the route's Lambda handler starting, cold starts included. */
  invoke(routeKey: string): number;
  /** The least time of one DynamoDB call, by its operation (`GetItem`, `TransactWriteItems`…). */
  dynamodb(operation: string): number;
  /** The least time of one Kinesis call, by its operation (`PutRecord`…). */
  kinesis(operation: string): number;
  /** From a record's put to the stream consumer's handler starting (enhanced fan-out and Lambda). */
  streamToConsumer(): number;
  /** A PostToConnection call inside API Gateway, before the frame leaves for the device. */
  postToConnection(): number;
  /**
   * Told how long the local engine took for a call and how long the model wanted: where the
   * engine is the slower, its own time stood in for the model's (the floor).
   */
  observeEngine?(
    engine: 'dynamodb' | 'kinesis',
    operation: string,
    engineMs: number,
    modelledMs: number,
  ): void;
}
