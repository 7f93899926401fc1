/**
 * Erasing a user (docs/adr/0015-retention-and-erasure.md): what is the user's own goes (its
 * connections, conversation list, presence, presence subscriptions, and whatever a later
 * store adds as a step), and the text it wrote becomes a tombstone wherever it is stored.
 * The structure others need to read their conversations stays: messages keep their seq and
 * `senderId`, receipts and group rosters their user ids.
 *
 * Every step is idempotent, and the user's list entries are the list of what is left to do:
 * an entry is deleted only once its conversation is erased, so a run that stops midway is
 * finished by running it again. Conversations are read a page at a time, so memory does not
 * grow with the user's conversations.
 */
import { membersOf as directMembersOf, isGroupConversationId, type Message } from '@parley/protocol';
import { ErasureIncompleteError } from './errors.js';
import type { ConversationListStore, EntryChange, GroupStore } from './ports.js';

/** The parts of the tables erasure reads and removes that the other ports do not cover. */
export interface UserErasureStore {
  /** Closes each of the user's connections through `@connections` and deletes it. */
  closeConnections(userId: string): Promise<number>;
  deletePresence(userId: string): Promise<number>;
  /** The subscriptions to the user's presence, and the user's own to others'. */
  deletePresenceSubscriptions(userId: string): Promise<number>;
  /** One page of the conversations in the user's list, and where the next starts. */
  listConversationIds(
    userId: string,
    after: string | undefined,
  ): Promise<{ conversationIds: string[]; next?: string }>;
  /** Replaces the body of each text the user sent into the conversation by the tombstone. */
  tombstoneMessages(conversationId: string, userId: string): Promise<number>;
  /** The user's items in the conversation's partition that are its own: idempotency keys, typing. */
  deleteOwnConversationItems(conversationId: string, userId: string): Promise<number>;
  /** The user's connections indexed in the group. */
  deleteGroupConnections(conversationId: string, userId: string): Promise<number>;
  deleteListEntry(userId: string, conversationId: string): Promise<number>;
  /** What is left of the user's list partition: its clock and any other item. */
  deleteList(userId: string): Promise<number>;
}

/** One store's part of erasing a user, counted in items changed or removed. */
export interface ErasureStep {
  name: string;
  run(userId: string): Promise<number>;
}

export interface ErasureDeps {
  store: UserErasureStore;
  groups: Pick<GroupStore, 'getGroup'>;
  conversationList: Pick<ConversationListStore, 'updateManyUsers'>;
}

/** How many users' list entries one write of the others' entries takes at most. */
const PEERS_PER_WRITE = 100;

/**
 * A message of an erased sender: its place kept, its text gone.
 *
 * @example
 * tombstoneOf({ ...message, body: 'hi' }); // { ...message, erased: true }, no body
 */
export function tombstoneOf({ body: _body, ...message }: Message): Message {
  return { ...message, erased: true };
}

/**
 * The change of another member's list entry whose copy of the last message is a text the
 * erased user sent: the copy becomes the tombstone. Nothing changes otherwise, so running
 * it twice writes once.
 */
export function eraseLastMessage(userId: string): EntryChange {
  return (current) => {
    const last = current?.lastMessage;
    if (!current || !last || last.senderId !== userId || last.body === undefined) return undefined;
    return { ...current, lastMessage: tombstoneOf(last) };
  };
}

/**
 * The steps, in the order they run: connections first, so that the user stops writing;
 * then presence, the conversations and the list; then `extra` (the stores added later: blocks,
 * push registrations).
 *
 * @example
 * for (const step of erasureSteps(deps)) await step.run('alice');
 */
export function erasureSteps(deps: ErasureDeps, extra: ErasureStep[] = []): ErasureStep[] {
  const { store } = deps;
  return [
    { name: 'connections', run: (userId) => store.closeConnections(userId) },
    { name: 'presence', run: (userId) => store.deletePresence(userId) },
    { name: 'presence subscriptions', run: (userId) => store.deletePresenceSubscriptions(userId) },
    { name: 'conversations', run: (userId) => eraseConversations(deps, userId) },
    { name: 'conversation list', run: (userId) => store.deleteList(userId) },
    ...extra,
  ];
}

export interface ErasureReport {
  userId: string;
  steps: Array<{ name: string; items: number }>;
}

/** Runs every step for the user, reporting each as it ends. */
export async function eraseUser(
  userId: string,
  steps: readonly ErasureStep[],
  onStep: (name: string, items: number) => void = () => {},
): Promise<ErasureReport> {
  const report: ErasureReport = { userId, steps: [] };
  for (const step of steps) {
    const items = await step.run(userId);
    report.steps.push({ name: step.name, items });
    onStep(step.name, items);
  }
  return report;
}

/** Each conversation of the user's list, a page at a time; its entry goes once it is done. */
async function eraseConversations(deps: ErasureDeps, userId: string): Promise<number> {
  let changed = 0;
  let after: string | undefined;
  do {
    const page = await deps.store.listConversationIds(userId, after);
    for (const conversationId of page.conversationIds) {
      changed += await eraseConversation(deps, conversationId, userId);
      changed += await deps.store.deleteListEntry(userId, conversationId);
    }
    after = page.next;
  } while (after);
  return changed;
}

async function eraseConversation(deps: ErasureDeps, conversationId: string, userId: string): Promise<number> {
  const { store } = deps;
  let changed = await store.tombstoneMessages(conversationId, userId);
  changed += await store.deleteOwnConversationItems(conversationId, userId);
  if (isGroupConversationId(conversationId))
    changed += await store.deleteGroupConnections(conversationId, userId);
  changed += await erasePeerEntries(deps, conversationId, userId);
  return changed;
}

/** The other members' list entries (former members' too), through the list store's own writes. */
async function erasePeerEntries(deps: ErasureDeps, conversationId: string, userId: string): Promise<number> {
  const peers = (await membersOf(deps, conversationId)).filter((member) => member !== userId);
  let changed = 0;
  for (let start = 0; start < peers.length; start += PEERS_PER_WRITE) {
    const changes = new Map(
      peers
        .slice(start, start + PEERS_PER_WRITE)
        .map((peer) => [peer, new Map([[conversationId, eraseLastMessage(userId)]])]),
    );
    const outcomes = await deps.conversationList.updateManyUsers(changes);
    for (const [peer, outcome] of outcomes) {
      if (outcome.status === 'rejected')
        throw new ErasureIncompleteError(
          `the list entry of ${peer} in ${conversationId} could not be written`,
          {
            cause: outcome.reason,
          },
        );
      changed += outcome.value.filter((value) => value === 'updated').length;
    }
  }
  return changed;
}

async function membersOf(deps: ErasureDeps, conversationId: string): Promise<string[]> {
  if (!isGroupConversationId(conversationId)) return directMembersOf(conversationId) ?? [];
  const group = await deps.groups.getGroup(conversationId);
  if (!group) return [];
  return [...group.members.map((member) => member.userId), ...group.former.map((former) => former.userId)];
}
