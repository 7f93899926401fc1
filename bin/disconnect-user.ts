/**
 * Ends every connection of a user now: the operator's answer to a leaked token or a banned
 * user, since API Gateway keeps a connection open for up to two hours whatever its token's
 * expiry (docs/adr/0014-token-policy.md). Shared by `npm run disconnect` and its tests.
 */
import type { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DeleteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ApiGatewayConnectionPusher } from '../lambdas/adapters/api-gateway-connection-pusher.js';
import { VERSION_ITEM_KEY } from '../lambdas/adapters/dynamodb-connection-store.js';
import { queryAll } from '../lambdas/adapters/query-all.js';

export interface DisconnectTargets {
  dynamodb: DynamoDBDocumentClient;
  /** The API stage's `@connections` endpoint. */
  connections: ApiGatewayManagementApiClient;
  connectionsTableName: string;
}

/** What became of each connection the table listed for the user. */
export interface DisconnectOutcome {
  connectionId: string;
  deviceId: string;
  /** `closed`: API Gateway closed it now; `gone`: it had already ended (410), only its item was left. */
  result: 'closed' | 'gone';
}

/**
 * Closes each connection the table lists for `userId` through `@connections`
 * DeleteConnection, then deletes its item. API Gateway runs `$disconnect` for each one it
 * closes, which deletes the item and updates presence too; the delete here also clears the
 * items of connections that ended without one (410), whose `$disconnect` never came.
 */
export async function disconnectUser(
  targets: DisconnectTargets,
  userId: string,
): Promise<DisconnectOutcome[]> {
  // Every item, expired ones too: DynamoDB removes expired items only eventually.
  const items = (await queryAll(targets.dynamodb, {
    TableName: targets.connectionsTableName,
    KeyConditionExpression: 'userId = :u',
    ExpressionAttributeValues: { ':u': userId },
    ConsistentRead: true,
  })) as { connectionId: string; deviceId?: string }[];
  const outcomes: DisconnectOutcome[] = [];
  const pusher = new ApiGatewayConnectionPusher({ client: targets.connections });
  // The partition's version item (the connection cap's) is no connection.
  const connections = items.filter(({ connectionId }) => connectionId !== VERSION_ITEM_KEY);
  for (const { connectionId, deviceId } of connections) {
    const result = await pusher.disconnect(connectionId);
    await targets.dynamodb.send(
      new DeleteCommand({ TableName: targets.connectionsTableName, Key: { userId, connectionId } }),
    );
    outcomes.push({ connectionId, deviceId: deviceId ?? '', result });
  }
  return outcomes;
}
