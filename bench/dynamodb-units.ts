/**
 * DynamoDB capacity units by table, as DynamoDB Local reports them and as AWS bills them.
 *
 * DynamoDB Local reports the units of single-item requests, queries and batches as AWS
 * documents them (1 write unit per KB written, 1 read unit per 4 KB read strongly
 * consistent, 0.5 eventually consistent, index writes included), but not transactions: it
 * reports a TransactWriteItems of two small items in one table as 2 write units, where AWS
 * bills "two write request units per 1 KB item" in a transaction, 4 here (measured on
 * DynamoDB Local 2026-01-16; https://aws.amazon.com/dynamodb/pricing/on-demand/ and
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-capacity-handling).
 * So the AWS figure of a transaction is computed here: 2 units per started KB of each
 * item, plus the index units DynamoDB Local reports for it (it already doubles those).
 * A transaction cancelled by a condition (a lost race for a seq) is counted as billed too,
 * like a failed conditional write (docs/capacity.md S16); DynamoDB Local reports nothing
 * for it. A read that finds nothing is reported as 0 units too, where AWS bills it "one
 * read capacity unit" strongly consistent and 0.5 eventually consistent ("If you perform a
 * read operation on an item that does not exist, DynamoDB still consumes provisioned read
 * throughput", https://github.com/awsdocs/amazon-dynamodb-developer-guide/blob/master/doc_source/ProvisionedThroughput.md,
 * read 2026-12-05): so each key of a GetItem or BatchGetItem that found nothing, and a
 * Query that found nothing, is counted at that minimum. Everything else is taken as reported.
 */
import type { ConsumedCapacity } from '@aws-sdk/client-dynamodb';

const READ_OPERATIONS = new Set(['GetItem', 'Query', 'Scan', 'BatchGetItem', 'TransactGetItems']);

export interface TableUnits {
  /** As AWS bills them. */
  read: number;
  write: number;
  /** As DynamoDB Local reported them. */
  reportedRead: number;
  reportedWrite: number;
  requests: number;
  itemsRead: number;
  /**
   * Bytes of the items put, as DynamoDB bills their storage (each item's size plus 100
   * bytes): those without a time-to-live attribute are kept for good, the others expire.
   */
  keptBytes?: number;
  expiringBytes?: number;
  /**
   * The units as AWS bills them, by the function whose invocation asked for them (`stack`
   * for the stack's own requests): who reads and writes the table on the message path.
   */
  byFunction?: Record<string, { read: number; write: number }>;
}

/** Each item stored costs this many bytes beyond its attributes (DynamoDB item sizes and formats). */
export const ITEM_STORAGE_OVERHEAD_BYTES = 100;

const noUnits = (): TableUnits => ({
  read: 0,
  write: 0,
  reportedRead: 0,
  reportedWrite: 0,
  requests: 0,
  itemsRead: 0,
  keptBytes: 0,
  expiringBytes: 0,
});

/** DynamoDB's size of a number: 1 byte plus 1 per two significant digits. */
function numberSize(value: number | bigint): number {
  const digits = String(value)
    .replace(/^-/, '')
    .replace(/e.*$/i, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return 1 + Math.ceil(Math.max(1, digits.length) / 2);
}

/** The size DynamoDB gives a value (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html). */
function valueSize(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  if (typeof value === 'number' || typeof value === 'bigint') return numberSize(value);
  if (typeof value === 'boolean' || value === null) return 1;
  if (value instanceof Uint8Array) return value.byteLength;
  if (value instanceof Set)
    return [...value].reduce((total: number, element) => total + valueSize(element), 0);
  if (Array.isArray(value))
    return 3 + value.reduce((total: number, element) => total + 1 + valueSize(element), 0);
  if (typeof value === 'object') {
    return (
      3 +
      Object.entries(value as Record<string, unknown>)
        .filter(([, element]) => element !== undefined)
        .reduce((total, [name, element]) => total + Buffer.byteLength(name) + 1 + valueSize(element), 0)
    );
  }
  return 0;
}

function itemSize(item: Record<string, unknown>): number {
  return Object.entries(item)
    .filter(([, value]) => value !== undefined)
    .reduce((total, [name, value]) => total + Buffer.byteLength(name) + valueSize(value), 0);
}

function indexUnits(consumed: ConsumedCapacity): number {
  const sum = (indexes: Record<string, { CapacityUnits?: number }> | undefined) =>
    Object.values(indexes ?? {}).reduce((total, index) => total + (index.CapacityUnits ?? 0), 0);
  return sum(consumed.LocalSecondaryIndexes) + sum(consumed.GlobalSecondaryIndexes);
}

type TransactItem = Record<string, { TableName?: string; Item?: Record<string, unknown> } | undefined>;

/** The items a request puts, by table name: PutItem, a transaction's Puts, a batch's PutRequests. */
function itemsPut(
  operation: string,
  input: Record<string, unknown>,
): Array<[string, Record<string, unknown>]> {
  if (operation === 'PutItem' && input.Item) {
    return [[input.TableName as string, input.Item as Record<string, unknown>]];
  }
  if (operation === 'TransactWriteItems') {
    return ((input.TransactItems as TransactItem[] | undefined) ?? []).flatMap((item) =>
      item.Put?.Item
        ? [[item.Put.TableName ?? 'unknown', item.Put.Item] as [string, Record<string, unknown>]]
        : [],
    );
  }
  if (operation === 'BatchWriteItem') {
    const byTable = (input.RequestItems ?? {}) as Record<
      string,
      Array<{ PutRequest?: { Item?: Record<string, unknown> } }>
    >;
    return Object.entries(byTable).flatMap(([table, requests]) =>
      requests.flatMap((request) =>
        request.PutRequest?.Item
          ? [[table, request.PutRequest.Item] as [string, Record<string, unknown>]]
          : [],
      ),
    );
  }
  return [];
}

/** Read units a key costs at least, found or not: 1 strongly consistent, 0.5 eventually. */
const minimumReadOf = (consistent: unknown) => (consistent === true ? 1 : 0.5);

interface BatchGetRequest {
  Keys?: unknown[];
  ConsistentRead?: boolean;
}

/**
 * The read units AWS bills beyond what DynamoDB Local reported, by table name: the minimum
 * of each key a GetItem or BatchGetItem did not find, and of a Query that found nothing.
 */
function unreportedReads(
  operation: string,
  input: Record<string, unknown>,
  reportedOf: (table: string) => number,
  itemsRead: number,
  foundByTable: Record<string, number> | undefined,
): Array<[string, number]> {
  const table = input.TableName as string | undefined;
  if ((operation === 'GetItem' || operation === 'Query') && table) {
    const minimum = minimumReadOf(input.ConsistentRead);
    return itemsRead === 0 ? [[table, Math.max(0, minimum - reportedOf(table))]] : [];
  }
  if (operation !== 'BatchGetItem') return [];
  const requests = (input.RequestItems ?? {}) as Record<string, BatchGetRequest>;
  return Object.entries(requests).map(([name, request]) => {
    const keys = request.Keys?.length ?? 0;
    const minimum = minimumReadOf(request.ConsistentRead);
    const found = foundByTable?.[name];
    // Without a count of what was found, every key costs at least its minimum.
    const extra =
      found === undefined ? keys * minimum - reportedOf(name) : Math.max(0, keys - found) * minimum;
    return [name, Math.max(0, extra)];
  });
}

/** Adds one request's units to `byTable` (keyed by table name). */
export function addRequestUnits(
  byTable: Map<string, TableUnits>,
  operation: string,
  input: Record<string, unknown>,
  consumed: ConsumedCapacity[],
  itemsRead: number,
  /**
   * Counts the bytes of the items the request stored; `ttlAttributeOf` names a table's
   * time-to-live attribute (items that have it expire). Left out for a request that failed.
   */
  storage?: { ttlAttributeOf: (table: string) => string | undefined },
  /** Items a BatchGetItem found, by table name (its `Responses`). */
  foundByTable?: Record<string, number>,
): void {
  const isRead = READ_OPERATIONS.has(operation);
  const entry = (table: string) => {
    const units = byTable.get(table) ?? noUnits();
    byTable.set(table, units);
    return units;
  };
  const tables = new Set<string>();
  const reportedReads = new Map<string, number>();
  for (const capacity of consumed) {
    const table = capacity.TableName ?? 'unknown';
    tables.add(table);
    const units = entry(table);
    const reported = capacity.CapacityUnits ?? 0;
    if (isRead) {
      units.reportedRead += reported;
      units.read += reported;
      reportedReads.set(table, (reportedReads.get(table) ?? 0) + reported);
    } else {
      units.reportedWrite += reported;
      if (operation !== 'TransactWriteItems') units.write += reported;
      else units.write += indexUnits(capacity);
    }
  }
  const reportedOf = (table: string) => reportedReads.get(table) ?? 0;
  for (const [table, extra] of unreportedReads(operation, input, reportedOf, itemsRead, foundByTable)) {
    tables.add(table);
    entry(table).read += extra;
  }
  if (operation === 'TransactWriteItems') {
    for (const item of (input.TransactItems as TransactItem[] | undefined) ?? []) {
      const action = Object.values(item).find((value) => value !== undefined);
      const table = action?.TableName ?? 'unknown';
      tables.add(table);
      // A Put's size is its item's; an Update, Delete or ConditionCheck of a small item is one KB.
      const kilobytes = action?.Item ? Math.max(1, Math.ceil(itemSize(action.Item) / 1024)) : 1;
      entry(table).write += 2 * kilobytes;
    }
  }
  for (const [table, item] of storage ? itemsPut(operation, input) : []) {
    const units = entry(table);
    const bytes = itemSize(item) + ITEM_STORAGE_OVERHEAD_BYTES;
    const ttl = storage?.ttlAttributeOf(table);
    if (ttl !== undefined && item[ttl] !== undefined)
      units.expiringBytes = (units.expiringBytes ?? 0) + bytes;
    else units.keptBytes = (units.keptBytes ?? 0) + bytes;
  }
  const requestTable =
    (input.TableName as string | undefined) ??
    Object.keys((input.RequestItems as Record<string, unknown> | undefined) ?? {})[0] ??
    [...tables][0];
  if (requestTable) {
    const units = entry(requestTable);
    units.requests += 1;
    units.itemsRead += itemsRead;
  }
}
