/**
 * Blocking (protocol 1.3, docs/adr/0013-consent-and-blocking.md). While alice blocks
 * mallory, neither can write to the other in their one-to-one conversation, neither's
 * typing reaches the other there, and mallory sees alice's presence as a stranger's.
 * Groups are left as they are: a block is about the two users' own conversation.
 */

import type { BlockedFrame, BlocksPageFrame, UnblockedFrame } from '@parley/protocol';
import { BLOCKS_PAGE_SIZE, membersOf } from '@parley/protocol';
import { BadRequestError, ForbiddenError } from './errors.js';
import { type FanoutDeps, postToUsers } from './fanout.js';
import type { BlockPair, PresenceSubscriptionStore, PrivacyStore } from './ports.js';

export interface BlockingDeps extends FanoutDeps {
  privacy: PrivacyStore;
  subscriptions: PresenceSubscriptionStore;
  /** Told when the event to the caller's other devices could not be posted: they catch up with `blocks`. */
  onPostFailed: (error: unknown) => void;
}

export interface Caller {
  userId: string;
  connectionId: string;
}

function pairOf(caller: Caller, userId: string): BlockPair {
  if (userId === caller.userId) throw new BadRequestError('userId: must be another user than the caller');
  return { blockerId: caller.userId, blockedId: userId };
}

/**
 * Blocks `userId` for the caller, then ends the presence subscriptions it holds on the
 * caller (in that order: a subscription written after this reads the block, see
 * `subscribeToPresence`), then tells the caller's other devices. Repeating it is harmless.
 */
export async function blockUser(deps: BlockingDeps, caller: Caller, userId: string): Promise<void> {
  const pair = pairOf(caller, userId);
  await deps.privacy.block(pair, deps.now());
  await deps.subscriptions.unsubscribeUser(caller.userId, userId);
  await tellOtherDevices(deps, caller, { type: 'blocked', userId });
}

/** Takes a block back and tells the caller's other devices; unblocking a user not blocked is harmless. */
export async function unblockUser(deps: BlockingDeps, caller: Caller, userId: string): Promise<void> {
  await deps.privacy.unblock(pairOf(caller, userId));
  await tellOtherDevices(deps, caller, { type: 'unblocked', userId });
}

/** A page of the users the caller blocks, in user id order. */
export async function listBlocks(
  privacy: PrivacyStore,
  userId: string,
  after: string | undefined,
  requestId: string,
): Promise<BlocksPageFrame> {
  const page = await privacy.listBlocked(userId, after, BLOCKS_PAGE_SIZE);
  return { type: 'blocks', requestId, userIds: page.userIds, hasMore: page.hasMore };
}

/** The event goes to every other device of the caller; one that misses it converges with `blocks`. */
async function tellOtherDevices(
  deps: BlockingDeps,
  caller: Caller,
  event: BlockedFrame | UnblockedFrame,
): Promise<void> {
  try {
    await postToUsers(deps, [caller.userId], [JSON.stringify(event)], {
      skip: new Set([caller.connectionId]),
    });
  } catch (error) {
    deps.onPostFailed(error);
  }
}

/** The two blocks that stop writing in a one-to-one conversation: the other's of the sender, and the sender's own. */
function blocksBetween(senderId: string, conversationId: string): BlockPair[] {
  const other = membersOf(conversationId)?.find((member) => member !== senderId);
  if (!other) return [];
  return [
    { blockerId: other, blockedId: senderId },
    { blockerId: senderId, blockedId: other },
  ];
}

/**
 * Refuses a one-to-one send while either member blocks the other, with one strongly
 * consistent read of both blocks. The blocked sender learns only that the recipient does
 * not accept its messages, which `forbidden` tells it anyway.
 */
export async function assertMayWrite(
  privacy: PrivacyStore,
  senderId: string,
  conversationId: string,
): Promise<void> {
  const found = await privacy.findBlocks(blocksBetween(senderId, conversationId));
  if (found.some((block) => block.blockedId === senderId)) {
    throw new ForbiddenError('the recipient does not accept messages from you');
  }
  const own = found[0];
  if (own) throw new ForbiddenError(`you block ${own.blockedId}: unblock them to write to them`);
}

/** True when neither member of a one-to-one conversation blocks the other: typing goes through. */
export async function mayType(
  privacy: PrivacyStore,
  senderId: string,
  conversationId: string,
): Promise<boolean> {
  return (await privacy.findBlocks(blocksBetween(senderId, conversationId))).length === 0;
}
