/**
 * One user's changes through the conversation list store's one write (`updateManyUsers`),
 * as the tests of the store and of its contract apply them.
 */
import type { ConversationListStore, EntryChange } from '../../lambdas/domain/ports.js';

/** The outcome of each change, in order; throws what the user's update failed with. */
export async function updateEntries(
  store: ConversationListStore,
  userId: string,
  changes: Map<string, EntryChange>,
): Promise<Array<'updated' | 'unchanged'>> {
  const settled = (await store.updateManyUsers(new Map([[userId, changes]]))).get(userId);
  if (!settled) throw new Error(`the store settled nothing for ${userId}`);
  if (settled.status === 'rejected') throw settled.reason;
  return settled.value;
}

/** The outcome of one change to one entry. */
export async function updateEntry(
  store: ConversationListStore,
  userId: string,
  conversationId: string,
  change: EntryChange,
): Promise<'updated' | 'unchanged' | undefined> {
  const [outcome] = await updateEntries(store, userId, new Map([[conversationId, change]]));
  return outcome;
}
