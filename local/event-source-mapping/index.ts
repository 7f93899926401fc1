/**
 * A local Lambda event source mapping on a Kinesis stream: one polling loop per shard
 * (`GetRecords`, not `SubscribeToShard`, which kinesis-mock pushes only once a second),
 * calling the handler with the event and context Lambda would send, and applying
 * Lambda's error handling: partial batch responses, bisect on function error, bounded
 * retries (attempts and record age) and an on-failure destination; Lambda's event
 * filtering (FilterCriteria on `data`), batching window (MaximumBatchingWindowInSeconds)
 * and concurrent batches per shard (ParallelizationFactor).
 *
 * The rules follow the Lambda developer guide:
 * - [PBR] "Configuring partial batch response with Kinesis Data Streams and Lambda",
 *   https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html
 * - [OFD] "Retain discarded batch records for a Kinesis Data Streams event source in Lambda",
 *   https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html
 * - [PAR] "Lambda parameters for Amazon Kinesis Data Streams event source mappings",
 *   https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-parameters.html
 * - [FLT] "Control which events Lambda sends to your function",
 *   https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html, and
 *   "Using event filtering with a Kinesis event source",
 *   https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis-filtering.html
 * - [BAT] "Lambda event source mappings", section "Batching behavior",
 *   https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventsourcemapping.html#invocation-eventsourcemapping-batching
 *
 * Where each part lives: `shard-poller.ts` reads a shard (with `shards.ts` for the shard
 * list and iterators, `filter.ts` for filtering, `batching-window.ts` for the batch being
 * gathered); `slots.ts` runs the batches of a shard at once by partition key;
 * `retries.ts` handles one batch with its retries, bisection and on-failure destination,
 * calling the handler through `invoke.ts` with the event `lambda-event.ts` builds;
 * `checkpoint.ts` and `drain.ts` say what is done.
 *
 * Unlike Lambda, a failed batch is retried from memory rather than read again from the
 * checkpoint, shards created by resharding after the start are not picked up, the 6 MB
 * payload limit does not close a batching window, and a batching window opens when the
 * mapping reads the first record of the batch (see `maximumBatchingWindowInSeconds`).
 */
import { DrainTracker } from './drain.js';
import { LambdaEvents } from './lambda-event.js';
import { resolveSettings } from './settings.js';
import { ShardPoller } from './shard-poller.js';
import { hashKeyOf, holdsHashKey, listShards, ShardIterators } from './shards.js';
import type { KinesisEventSourceMappingOptions, RunningEventSourceMapping } from './types.js';

export { filterFromPatterns } from './filter.js';
export { parallelSlotOf } from './slots.js';
export type {
  FailedBatch,
  KinesisBatchHandler,
  KinesisEventSourceMappingOptions,
  RunningEventSourceMapping,
} from './types.js';

/**
 * Starts polling every shard of `streamName` and calling `handler` with batches of records.
 * Resolves once every shard has its starting iterator, so with `LATEST` a record put after
 * the returned promise resolves is delivered.
 *
 * @example
 * ```ts
 * const mapping = await startKinesisEventSourceMapping({
 *   kinesis: createAwsClients({ region: 'us-east-1', local: true, kinesis: endpoint }).kinesis,
 *   streamName: 'parley-events',
 *   handler: (event, context) => fanout(event, context),
 *   onFailure: (failed) => console.error('discarded', failed.reason, failed.records.length),
 * });
 * // …
 * await mapping.drain?.();
 * await mapping.stop();
 * ```
 */
export async function startKinesisEventSourceMapping(
  options: KinesisEventSourceMappingOptions,
): Promise<RunningEventSourceMapping> {
  const settings = resolveSettings(options);
  const abort = new AbortController();
  const { signal } = abort;
  const iterators = new ShardIterators(
    settings.kinesis,
    settings.streamName,
    settings.startingPosition,
    signal,
  );
  const listed = await listShards(settings.kinesis, settings.streamName);

  const shards: ShardPoller[] = [];
  const drains = new DrainTracker(signal, shards);
  const events = new LambdaEvents(settings);
  const context = { settings, iterators, drains, events, signal };
  shards.push(...listed.map((shard) => new ShardPoller(shard, context)));
  const shardsById = new Map(shards.map((shard) => [shard.shardId, shard]));
  await Promise.all(shards.map((shard) => shard.start()));
  const loops = shards.map((shard) => shard.run());

  function wake(partitionKey?: string): void {
    const hashKey = partitionKey === undefined ? undefined : hashKeyOf(partitionKey);
    for (const shard of shards) {
      if (holdsHashKey(shard.hashKeyRange, hashKey)) shard.wake();
    }
  }

  let stopping: Promise<void> | undefined;
  return {
    wake,
    checkpoint: (shardId) => shardsById.get(shardId)?.checkpoint.sequenceNumber,
    stop() {
      if (!stopping) {
        abort.abort();
        stopping = Promise.allSettled(loops).then(() => drains.settle());
      }
      return stopping;
    },
    drain() {
      if (signal.aborted) return Promise.resolve();
      const drained = drains.request();
      // Draining needs a fresh poll of every shard: do not wait out the idle interval.
      wake();
      return drained;
    },
  };
}
