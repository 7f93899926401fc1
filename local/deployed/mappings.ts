/**
 * The template's event source mappings, run by the local Kinesis event source mapping
 * with every setting the template gives them.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent } from 'aws-lambda';
import { TemplateError } from '../errors.js';
import {
  filterFromPatterns,
  type RunningEventSourceMapping,
  startKinesisEventSourceMapping,
} from '../event-source-mapping/index.js';
import type { FunctionRunner } from './function-runner.js';
import { REGION } from './stand-ins.js';
import { type CloudFormationTemplate, type ResolutionContext, resolve, resourcesOfType } from './template.js';

export interface StartedMapping {
  mapping: RunningEventSourceMapping;
  /** The mapping's event filter, on a record's data decoded as JSON. */
  filter: (data: unknown) => boolean;
}

export async function startMappings(
  template: CloudFormationTemplate,
  context: ResolutionContext,
  runners: Map<string, FunctionRunner>,
  options: {
    kinesis: KinesisClient;
    stream: { name: string; arn: string };
    pollIntervalMs?: number;
    streamDelayMs?: number;
    log: (message: string) => void;
  },
): Promise<StartedMapping[]> {
  const { log } = options;
  const streamName = options.stream.name;
  const streamArn = options.stream.arn;
  const mappings: StartedMapping[] = [];
  try {
    for (const [logicalId, mapping] of resourcesOfType(template, 'AWS::Lambda::EventSourceMapping')) {
      const properties = resolve(mapping.Properties ?? {}, context) as EventSourceMappingProperties;
      const runner = properties.FunctionName ? runners.get(properties.FunctionName) : undefined;
      if (!runner) throw new TemplateError(`${logicalId}: no function ${properties.FunctionName}`);
      if (
        properties.EventSourceArn !== streamArn &&
        !properties.EventSourceArn?.startsWith(`${streamArn}/consumer/`)
      ) {
        throw new TemplateError(`${logicalId}: reads ${properties.EventSourceArn}, not the stream`);
      }
      const patterns = (properties.FilterCriteria?.Filters ?? []).map(
        (filter) => JSON.parse(filter.Pattern) as Record<string, unknown>,
      );
      const filter = patterns.length > 0 ? filterFromPatterns(patterns) : () => true;
      const running = await startKinesisEventSourceMapping({
        kinesis: options.kinesis,
        streamName,
        region: REGION,
        functionName: runner.functionName,
        handler: (event: KinesisStreamEvent) => runner.invoke(event),
        filter,
        batchSize: properties.BatchSize ?? 100,
        maximumBatchingWindowInSeconds: properties.MaximumBatchingWindowInSeconds ?? 0,
        maximumRetryAttempts: properties.MaximumRetryAttempts ?? -1,
        maximumRecordAgeInSeconds: properties.MaximumRecordAgeInSeconds ?? -1,
        bisectBatchOnFunctionError: properties.BisectBatchOnFunctionError ?? false,
        reportBatchItemFailures: (properties.FunctionResponseTypes ?? []).includes('ReportBatchItemFailures'),
        parallelizationFactor: properties.ParallelizationFactor ?? 1,
        startingPosition: properties.StartingPosition === 'LATEST' ? 'LATEST' : 'TRIM_HORIZON',
        pollIntervalMs: options.pollIntervalMs ?? 5000,
        ...(options.streamDelayMs ? { deliveryDelayMs: options.streamDelayMs } : {}),
        onFailure: (failed) =>
          log(
            `${runner.functionName}: ${failed.records.length} records sent to the on-failure destination ` +
              `${properties.DestinationConfig?.OnFailure?.Destination ?? '(none)'}: ${failed.reason}`,
          ),
        log: (level, message) => {
          if (level !== 'info') log(`${runner.functionName} event source mapping: ${message}`);
        },
      });
      mappings.push({ mapping: running, filter });
    }
  } catch (error) {
    await Promise.all(mappings.map(({ mapping }) => mapping.stop()));
    throw error;
  }
  return mappings;
}

interface EventSourceMappingProperties {
  FunctionName?: string;
  EventSourceArn?: string;
  BatchSize?: number;
  MaximumBatchingWindowInSeconds?: number;
  MaximumRetryAttempts?: number;
  MaximumRecordAgeInSeconds?: number;
  BisectBatchOnFunctionError?: boolean;
  FunctionResponseTypes?: string[];
  ParallelizationFactor?: number;
  StartingPosition?: string;
  FilterCriteria?: { Filters?: Array<{ Pattern: string }> };
  DestinationConfig?: { OnFailure?: { Destination?: string } };
}
