/**
 * Lambda event filtering on Kinesis records ([FLT]): the subset of filter patterns the
 * mapping emulates (`filterFromPatterns`), and the rule that a record reaches a filter only
 * if its data is JSON.
 *
 * [FLT] "Control which events Lambda sends to your function",
 * https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html, and "Using
 * event filtering with a Kinesis event source",
 * https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis-filtering.html
 */
import type { _Record } from '@aws-sdk/client-kinesis';
import type { MappingLog } from './types.js';

/** Record data is JSON only if it is valid UTF-8 too. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Whether a record passes `filter`. [FLT] "Non-JSON [data], valid JSON [filter pattern for
 * data properties]: Lambda drops the record": data that is not JSON never reaches the
 * filter. A filter that throws drops the record too, with an error logged.
 */
export function passesFilter(
  filter: ((data: unknown) => boolean) | undefined,
  shardId: string,
  record: _Record,
  log: MappingLog,
): boolean {
  if (!filter) return true;
  let data: unknown;
  try {
    data = JSON.parse(UTF8.decode(record.Data ?? new Uint8Array()));
  } catch {
    return false;
  }
  try {
    return filter(data) === true;
  } catch (error) {
    log('error', 'the filter threw; the record is dropped', {
      shardId,
      sequenceNumber: record.SequenceNumber,
      error,
    });
    return false;
  }
}

/** A rule of a pattern field: the values it may hold (exact match), or a nested pattern. */
type FieldPattern = ReadonlyArray<string | boolean | null> | DataPattern;
interface DataPattern {
  readonly [field: string]: FieldPattern;
}

/**
 * Turns Lambda filter patterns ([FLT], the objects the CDK's `FilterCriteria.filter()` takes)
 * into a `filter` for `startKinesisEventSourceMapping`, so the CDK stack and the local stack
 * share one definition:
 *
 * ```ts
 * const PRESENCE_PATTERNS = [{ data: { type: ['presence'] } }];
 * // CDK:   filters: PRESENCE_PATTERNS.map((pattern) => FilterCriteria.filter(pattern))
 * // local: filter: filterFromPatterns(PRESENCE_PATTERNS)
 * ```
 *
 * The subset of the syntax emulated, with Lambda's rules:
 * - a record matches if any pattern matches (filters are ORed): "If an event satisfies any
 *   one of these filters, Lambda sends the event to your function";
 * - "Kinesis event source mappings only support filtering on the data key", so each pattern
 *   is `{ data: { … } }`;
 * - every field named in a pattern must be in the data (fields are ANDed), nested objects
 *   name nested fields, and fields the pattern does not name are ignored: "the event must
 *   contain all the field names included in a filter. Lambda ignores the fields that aren't
 *   included in a filter";
 * - a list matches a field whose value is one of its values, compared exactly ("exact
 *   character-by-character matching without case-folding or any other string
 *   normalization"); `true`, `false` and `null` are allowed too; a field holding an array
 *   matches if one of its items is in the list (EventBridge rule).
 *
 * Anything else (numbers, `prefix`, `anything-but`, `exists`, `numeric`, …) throws, rather
 * than match differently from Lambda. Numbers are left out on purpose: "For numbers, Lambda
 * also uses string representation. For example, 300, 300.0, and 3.0e2 are not considered
 * equal", and parsed JSON no longer has that text.
 */
export function filterFromPatterns(
  patterns: ReadonlyArray<Readonly<Record<string, unknown>>>,
): (data: unknown) => boolean {
  if (patterns.length === 0) throw new RangeError('filterFromPatterns needs at least one pattern');
  const dataPatterns = patterns.map((pattern, index) => {
    const keys = Object.keys(pattern);
    if (keys.length !== 1 || keys[0] !== 'data') {
      throw new TypeError(
        `filter pattern ${index} must be { data: { … } } (Kinesis filters on data only), not keys ${JSON.stringify(keys)}`,
      );
    }
    return checkDataPattern(pattern.data, `filter pattern ${index}: data`);
  });
  return (data) => dataPatterns.some((pattern) => matchesDataPattern(pattern, data));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkDataPattern(pattern: unknown, path: string): DataPattern {
  if (!isPlainObject(pattern) || Object.keys(pattern).length === 0) {
    throw new TypeError(`${path} must be an object naming at least one field`);
  }
  for (const [field, rule] of Object.entries(pattern)) {
    const fieldPath = `${path}.${field}`;
    if (Array.isArray(rule)) {
      if (rule.length === 0) throw new TypeError(`${fieldPath} must list at least one value`);
      for (const value of rule) {
        if (typeof value !== 'string' && typeof value !== 'boolean' && value !== null) {
          throw new TypeError(
            `${fieldPath}: only exact strings, booleans and null are emulated, not ${JSON.stringify(value)}`,
          );
        }
      }
    } else {
      checkDataPattern(rule, fieldPath);
    }
  }
  return pattern as DataPattern;
}

function matchesDataPattern(pattern: DataPattern, value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  return Object.entries(pattern).every(([field, rule]) => {
    if (!Object.hasOwn(value, field)) return false;
    const actual = value[field];
    if (!isFieldList(rule)) return matchesDataPattern(rule, actual);
    const candidates: unknown[] = Array.isArray(actual) ? actual : [actual];
    return candidates.some((candidate) => rule.some((allowed) => allowed === candidate));
  });
}

function isFieldList(rule: FieldPattern): rule is ReadonlyArray<string | boolean | null> {
  return Array.isArray(rule);
}
