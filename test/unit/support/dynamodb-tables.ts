/**
 * DynamoDB at the wire, for the tests that check what is sent to it: the adapters' own
 * tests and the handlers' wiring and permission tests. The domain's tests run on the
 * in-memory ports instead (`test/support/in-memory/`).
 *
 * The fake tables answer the commands the stores send with DynamoDB's semantics for them;
 * the port contracts (`test/support/port-contracts/`) hold the stores themselves to
 * DynamoDB Local.
 */
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandInput,
  type DynamoDBDocumentClient,
  GetCommand,
  type GetCommandInput,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { testConfig } from './harness.js';

type Reason = 'None' | 'ConditionalCheckFailed' | 'TransactionConflict' | 'ThrottlingError';

/**
 * The error DynamoDB answers a cancelled TransactWriteItems with; `item` is the idempotency
 * item DynamoDB returns for ReturnValuesOnConditionCheckFailure ALL_OLD (in wire format,
 * since the document client does not unmarshall errors).
 */
export function transactionCanceled(
  messageReason: Reason,
  keyReason: Reason,
  item?: Record<string, unknown>,
): TransactionCanceledException {
  const reason = (code: Reason, withItem?: Record<string, unknown>) => ({
    Code: code,
    ...(code === 'None'
      ? {}
      : { Message: code === 'ConditionalCheckFailed' ? 'The conditional request failed' : code }),
    ...(withItem ? { Item: marshall(withItem) } : {}),
  });
  return new TransactionCanceledException({
    message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${messageReason}, ${keyReason}]`,
    $metadata: { httpStatusCode: 400 },
    CancellationReasons: [reason(messageReason), reason(keyReason, item)],
  });
}

type Item = Record<string, unknown>;

/**
 * An in-memory conversations table that answers the commands the message and receipt
 * stores send, with DynamoDB's semantics for them: strongly consistent queries on the sort
 * key, all-or-nothing transactions whose `attribute_not_exists` conditions are checked
 * before anything is written, and conditional watermark updates that fail with the old item
 * (ReturnValuesOnConditionCheckFailure ALL_OLD, in wire format) when they would not raise it,
 * and the writes of a group's `everyone` and its holders on the condition of their version.
 */
export class FakeConversationsTable {
  readonly #items = new Map<string, Item>();

  static #key(conversationId: unknown, itemKey: unknown) {
    return `${String(conversationId)}\u0000${String(itemKey)}`;
  }

  install(ddb: AwsClientStub<DynamoDBDocumentClient>): this {
    ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => this.#query(input));
    ddb.on(TransactWriteCommand).callsFake((input: TransactWriteCommandInput) => this.#transact(input));
    ddb
      .on(UpdateCommand)
      .callsFake((input: UpdateCommandInput) =>
        input.ExpressionAttributeNames?.['#version']
          ? this.#writeEveryone(input)
          : this.#raiseWatermark(input),
      );
    ddb.on(GetCommand).callsFake((input: GetCommandInput) => ({
      Item: this.#items.get(FakeConversationsTable.#key(input.Key?.conversationId, input.Key?.itemKey)),
    }));
    return this;
  }

  put(item: Item): void {
    this.#items.set(FakeConversationsTable.#key(item.conversationId, item.itemKey), structuredClone(item));
  }

  /** The items of a conversation whose sort key starts with `prefix`, in sort key order. */
  items(conversationId: string, prefix = ''): Item[] {
    return [...this.#items.values()]
      .filter((item) => item.conversationId === conversationId && String(item.itemKey).startsWith(prefix))
      .sort((a, b) => (String(a.itemKey) < String(b.itemKey) ? -1 : 1));
  }

  #query(input: QueryCommandInput) {
    const values = input.ExpressionAttributeValues ?? {};
    const conversationId = values[':c'] as string;
    let items = this.items(conversationId);
    if (input.KeyConditionExpression?.includes('begins_with')) {
      items = items.filter((item) => String(item.itemKey).startsWith(values[':p'] as string));
    } else if (input.KeyConditionExpression?.includes('BETWEEN')) {
      const [from, to] = [values[':from'] as string, values[':to'] as string];
      if (from > to) throw new Error('ValidationException: BETWEEN needs the lower bound first');
      items = items.filter((item) => String(item.itemKey) >= from && String(item.itemKey) <= to);
    } else {
      throw new Error(`the fake cannot answer ${input.KeyConditionExpression}`);
    }
    if (input.ScanIndexForward === false) items.reverse();
    if (input.Limit !== undefined) items = items.slice(0, input.Limit);
    if (input.ProjectionExpression === 'seq') items = items.map((item) => ({ seq: item.seq }));
    return { Items: items.map((item) => structuredClone(item)), Count: items.length };
  }

  #transact(input: TransactWriteCommandInput) {
    const puts = (input.TransactItems ?? []).map(({ Put: put }) => {
      if (put?.ConditionExpression !== 'attribute_not_exists(itemKey)') {
        throw new Error('the fake answers only conditional puts');
      }
      return put;
    });
    const existing = puts.map((put) =>
      this.#items.get(FakeConversationsTable.#key(put.Item?.conversationId, put.Item?.itemKey)),
    );
    if (existing.some((item) => item !== undefined)) {
      const codes = existing.map((item) => (item ? 'ConditionalCheckFailed' : 'None')) as Reason[];
      const keyPut = puts[1];
      const keyItem = keyPut?.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' ? existing[1] : undefined;
      throw transactionCanceled(codes[0] ?? 'None', codes[1] ?? 'None', keyItem);
    }
    for (const put of puts) this.put(put.Item as Item);
    return {};
  }

  /** `setEveryone` and `decrementHolder` of the group store: the version must be as read. */
  #writeEveryone(input: UpdateCommandInput) {
    const names = input.ExpressionAttributeNames ?? {};
    const values = input.ExpressionAttributeValues ?? {};
    const key = FakeConversationsTable.#key(input.Key?.conversationId, input.Key?.itemKey);
    const existing = this.#items.get(key);
    const version = (existing?.[names['#version'] as string] as number | undefined) ?? 0;
    if (!existing || version !== values[':version']) {
      throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
    }
    const next: Item = { ...existing, [names['#version'] as string]: values[':next'] };
    if (names['#holders']) {
      const holders = names['#holders'] as string;
      const count = existing[holders] as number | undefined;
      if (
        count === undefined ||
        count <= 0 ||
        existing[names['#everyone'] as string] !== values[':everyone']
      ) {
        throw new ConditionalCheckFailedException({
          message: 'The conditional request failed',
          $metadata: {},
        });
      }
      this.put({ ...next, [holders]: count - 1 });
      return { Attributes: { [holders]: count - 1, [names['#version'] as string]: values[':next'] } };
    }
    next[names['#delivered'] as string] = values[':delivered'];
    next[names['#read'] as string] = values[':read'];
    for (const [name, value] of [
      [names['#holdersDelivered'], values[':holdersDelivered']],
      [names['#holdersRead'], values[':holdersRead']],
    ]) {
      if (value === undefined) delete next[name as string];
      else next[name as string] = value;
    }
    this.put(next);
    return {};
  }

  #raiseWatermark(input: UpdateCommandInput) {
    if (
      input.UpdateExpression !== 'SET #field = :seq, userId = :userId' ||
      input.ConditionExpression !== 'attribute_not_exists(#field) OR #field < :seq'
    ) {
      throw new Error(`the fake cannot answer ${input.UpdateExpression} IF ${input.ConditionExpression}`);
    }
    const field = input.ExpressionAttributeNames?.['#field'] as string;
    const seq = input.ExpressionAttributeValues?.[':seq'] as number;
    const key = FakeConversationsTable.#key(input.Key?.conversationId, input.Key?.itemKey);
    const existing = this.#items.get(key);
    const current = existing?.[field] as number | undefined;
    if (current !== undefined && !(current < seq)) {
      throw new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: { httpStatusCode: 400 },
        ...(existing && input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD'
          ? { Item: marshall(existing) }
          : {}),
      });
    }
    this.put({
      ...existing,
      conversationId: input.Key?.conversationId,
      itemKey: input.Key?.itemKey,
      [field]: seq,
      userId: input.ExpressionAttributeValues?.[':userId'],
    });
    if (input.ReturnValues !== 'UPDATED_OLD' || !existing) return {};
    // The old values of the attributes the update set, those that were there.
    const old = Object.fromEntries(
      [field, 'userId'].filter((name) => existing[name] !== undefined).map((name) => [name, existing[name]]),
    );
    return Object.keys(old).length > 0 ? { Attributes: old } : {};
  }
}

/**
 * An in-memory user-conversations table answering the conversation-list store: consistent
 * BatchGetItem of the clock and the entry, all-or-nothing transactions of puts whose
 * conditions (`attribute_not_exists(itemKey)` or `{attribute} = :previous`) are all checked
 * before anything is written, and queries of the `byUpdatedAt` index (a sparse index: the
 * clock item has no `updatedAt`). Its handlers are public so that a test can wrap one, e.g.
 * to let a competing writer in just before a transaction.
 */
export class FakeUserConversationsTable {
  readonly #items = new Map<string, Item>();
  readonly tableName: string;

  constructor(tableName = testConfig().names.userConversationsTable) {
    this.tableName = tableName;
  }

  static #key(userId: unknown, itemKey: unknown) {
    return `${String(userId)}\u0000${String(itemKey)}`;
  }

  install(ddb: AwsClientStub<DynamoDBDocumentClient>, options: { query?: boolean } = {}): this {
    ddb.on(BatchGetCommand).callsFake((input: BatchGetCommandInput) => this.batchGet(input));
    ddb.on(TransactWriteCommand).callsFake((input: TransactWriteCommandInput) => this.transactWrite(input));
    if (options.query) ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => this.query(input));
    return this;
  }

  put(item: Item): void {
    this.#items.set(FakeUserConversationsTable.#key(item.userId, item.itemKey), structuredClone(item));
  }

  get(userId: string, itemKey: string): Item | undefined {
    return structuredClone(this.#items.get(FakeUserConversationsTable.#key(userId, itemKey)));
  }

  /** The user's entry of the conversation, as stored. */
  entry(userId: string, conversationId: string): Item | undefined {
    return this.get(userId, `conv#${conversationId}`);
  }

  /** The user's clock: the last `updatedAt` given to one of its entries. */
  clock(userId: string): number | undefined {
    return this.get(userId, 'clock')?.lastUpdatedAt as number | undefined;
  }

  batchGet(input: BatchGetCommandInput) {
    const request = input.RequestItems?.[this.tableName];
    if (!request) throw new Error(`the fake holds only ${this.tableName}`);
    const found = (request.Keys ?? [])
      .map((key) => this.get(key.userId as string, key.itemKey as string))
      .filter((item): item is Item => item !== undefined);
    return { Responses: { [this.tableName]: found }, UnprocessedKeys: {} };
  }

  transactWrite(input: TransactWriteCommandInput) {
    const puts = (input.TransactItems ?? []).map(({ Put: put }) => {
      if (!put || put.TableName !== this.tableName)
        throw new Error('the fake answers only puts into its table');
      return put;
    });
    const holds = puts.map((put) => this.#holds(put));
    if (!holds.every(Boolean)) {
      const codes = holds.map((held) => (held ? 'None' : 'ConditionalCheckFailed'));
      throw new TransactionCanceledException({
        message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}]`,
        $metadata: { httpStatusCode: 400 },
        CancellationReasons: codes.map((code) =>
          code === 'None' ? { Code: code } : { Code: code, Message: 'The conditional request failed' },
        ),
      });
    }
    for (const put of puts) this.put(put.Item as Item);
    return {};
  }

  query(input: QueryCommandInput) {
    if (
      input.IndexName !== 'byUpdatedAt' ||
      input.KeyConditionExpression !== 'userId = :u AND updatedAt >= :from'
    ) {
      throw new Error(`the fake cannot answer ${input.IndexName} ${input.KeyConditionExpression}`);
    }
    const userId = input.ExpressionAttributeValues?.[':u'];
    const from = input.ExpressionAttributeValues?.[':from'] as number;
    const start = input.ExclusiveStartKey;
    // The index's order: by updatedAt, then by the table's sort key.
    const order = (item: Item) => [item.updatedAt as number, String(item.itemKey)] as const;
    const before = (a: Item, b: Item) => {
      const [x, y] = [order(a), order(b)];
      return x[0] !== y[0] ? x[0] < y[0] : x[1] < y[1];
    };
    const matching = [...this.#items.values()]
      .filter(
        (item) =>
          item.userId === userId &&
          typeof item.updatedAt === 'number' &&
          item.updatedAt >= from &&
          (!start || before(start, item)),
      )
      .sort((a, b) => (before(a, b) ? -1 : 1));
    const page = input.Limit === undefined ? matching : matching.slice(0, input.Limit);
    const last = page.at(-1);
    return {
      Items: page.map((item) => structuredClone(item)),
      Count: page.length,
      ...(last && page.length < matching.length
        ? { LastEvaluatedKey: { userId: last.userId, itemKey: last.itemKey, updatedAt: last.updatedAt } }
        : {}),
    };
  }

  #holds(put: NonNullable<NonNullable<TransactWriteCommandInput['TransactItems']>[number]['Put']>): boolean {
    const existing = this.#items.get(FakeUserConversationsTable.#key(put.Item?.userId, put.Item?.itemKey));
    if (put.ConditionExpression === 'attribute_not_exists(itemKey)') return existing === undefined;
    const equals = /^(\w+) = :previous$/.exec(put.ConditionExpression ?? '');
    if (!equals?.[1]) throw new Error(`the fake cannot answer the condition ${put.ConditionExpression}`);
    return existing !== undefined && existing[equals[1]] === put.ExpressionAttributeValues?.[':previous'];
  }
}
