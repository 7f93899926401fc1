/**
 * The connection side of the `group-connections` index (docs/adr/0007-groups.md,
 * "Delivery"): `$connect` indexes a new connection in each of its user's groups,
 * `$disconnect` removes it. The fanout keeps the other side (`group-fanout.ts`).
 */
import pLimit from 'p-limit';
import type { Connection, ConversationListStore, GroupConnectionStore } from './ports.js';

export interface GroupIndexDeps {
  conversationList: ConversationListStore;
  groupConnections: GroupConnectionStore;
}

/** Index writes in flight at once for one connection: a user may be in many groups. */
const INDEX_CONCURRENCY = 8;

/**
 * Indexes `connection` in every group whose entry says its user is a member. Called once
 * the connection is written: the fanout, on adding a member, writes the entry first and
 * then reads the connections, so one of the two always sees the other's write.
 */
export async function indexInGroups(deps: GroupIndexDeps, connection: Connection): Promise<number> {
  const groupIds = await deps.conversationList.listGroupIds(connection.userId);
  const limit = pLimit(INDEX_CONCURRENCY);
  await Promise.all(
    groupIds.map((groupId) => limit(() => deps.groupConnections.addConnections(groupId, [connection]))),
  );
  return groupIds.length;
}

/**
 * Removes the connection from the index of every group its user is a member of. Best effort
 * like the rest of `$disconnect`: an entry it misses receives 410 at the next post and is
 * removed then, or expires with the connection's TTL.
 */
export async function removeFromGroups(
  deps: GroupIndexDeps,
  userId: string,
  connectionId: string,
): Promise<number> {
  const groupIds = await deps.conversationList.listGroupIds(userId);
  const limit = pLimit(INDEX_CONCURRENCY);
  await Promise.all(
    groupIds.map((groupId) => limit(() => deps.groupConnections.removeConnections(groupId, [connectionId]))),
  );
  return groupIds.length;
}
