/**
 * The options of a mapping with their defaults filled in, checked once at the start against
 * the ranges Lambda accepts, so the rest of the mapping reads plain values.
 */
import type { KinesisEventSourceMappingOptions, MappingLog } from './types.js';

export type MappingSettings = Readonly<
  Required<
    Omit<KinesisEventSourceMappingOptions, 'filter' | 'onFailure' | 'log' | 'maximumBatchingWindowInSeconds'>
  > &
    Pick<KinesisEventSourceMappingOptions, 'filter' | 'onFailure'> & {
      log: MappingLog;
      /** MaximumBatchingWindowInSeconds in milliseconds. */
      batchingWindowMs: number;
    }
>;

/** Fills in the defaults and throws a `RangeError` for a setting Lambda would refuse. */
export function resolveSettings(options: KinesisEventSourceMappingOptions): MappingSettings {
  const {
    region = 'us-east-1',
    functionName = 'fanout',
    batchSize = 100,
    pollIntervalMs = 10,
    startingPosition = 'TRIM_HORIZON',
    maximumRetryAttempts = 3,
    maximumRecordAgeInSeconds = 60,
    bisectBatchOnFunctionError = true,
    reportBatchItemFailures = true,
    retryDelayMs = 20,
    timeoutSeconds = 60,
    maximumBatchingWindowInSeconds = 0,
    parallelizationFactor = 1,
    deliveryDelayMs = 0,
  } = options;
  const settings: MappingSettings = {
    kinesis: options.kinesis,
    streamName: options.streamName,
    handler: options.handler,
    region,
    functionName,
    batchSize,
    pollIntervalMs,
    startingPosition,
    maximumRetryAttempts,
    maximumRecordAgeInSeconds,
    bisectBatchOnFunctionError,
    reportBatchItemFailures,
    retryDelayMs,
    timeoutSeconds,
    batchingWindowMs: maximumBatchingWindowInSeconds * 1000,
    parallelizationFactor,
    deliveryDelayMs,
    filter: options.filter,
    onFailure: options.onFailure,
    log: options.log ?? defaultLog,
  };
  checkRanges(settings, maximumBatchingWindowInSeconds);
  return settings;
}

function checkRanges(settings: MappingSettings, maximumBatchingWindowInSeconds: number): void {
  const {
    batchSize,
    maximumRetryAttempts,
    maximumRecordAgeInSeconds,
    parallelizationFactor,
    deliveryDelayMs,
  } = settings;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new RangeError(`batchSize must be an integer from 1 to 10000, not ${batchSize}`);
  }
  if (maximumRetryAttempts < -1) throw new RangeError('maximumRetryAttempts must be -1 or more');
  if (maximumRecordAgeInSeconds !== -1 && !(maximumRecordAgeInSeconds > 0)) {
    throw new RangeError('maximumRecordAgeInSeconds must be -1 or more than 0');
  }
  if (
    !Number.isInteger(maximumBatchingWindowInSeconds) ||
    maximumBatchingWindowInSeconds < 0 ||
    maximumBatchingWindowInSeconds > 300
  ) {
    throw new RangeError(
      `maximumBatchingWindowInSeconds must be an integer from 0 to 300, not ${maximumBatchingWindowInSeconds}`,
    );
  }
  if (!Number.isInteger(parallelizationFactor) || parallelizationFactor < 1 || parallelizationFactor > 10) {
    throw new RangeError(
      `parallelizationFactor must be an integer from 1 to 10, not ${parallelizationFactor}`,
    );
  }
  if (typeof deliveryDelayMs === 'number' && (!Number.isFinite(deliveryDelayMs) || deliveryDelayMs < 0)) {
    throw new RangeError(
      `deliveryDelayMs must be a number of milliseconds of 0 or more, not ${deliveryDelayMs}`,
    );
  }
}

function defaultLog(level: 'info' | 'warn' | 'error', message: string, details?: unknown): void {
  if (level === 'info') return;
  console[level](`[event-source-mapping] ${message}`, details ?? '');
}
