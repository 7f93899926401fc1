/** Every item a DynamoDB query matches, page after page; with `atMost`, the first that many. */
import { type DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';

export async function queryAll(
  client: DynamoDBDocumentClient,
  input: Omit<QueryCommandInput, 'ExclusiveStartKey'>,
  atMost = Number.POSITIVE_INFINITY,
): Promise<Array<Record<string, unknown>>> {
  const items: Array<Record<string, unknown>> = [];
  let exclusiveStartKey: Record<string, unknown> | undefined;
  // `Limit` counts the items read before the filter: a page may find fewer, so read on.
  const limit = Number.isFinite(atMost) ? { Limit: atMost } : {};
  do {
    const page = await client.send(
      new QueryCommand({ ...input, ...limit, ExclusiveStartKey: exclusiveStartKey }),
    );
    items.push(...(page.Items ?? []));
    exclusiveStartKey = page.LastEvaluatedKey;
  } while (exclusiveStartKey && items.length < atMost);
  return items.slice(0, atMost);
}
