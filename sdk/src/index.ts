/**
 * The Parley client SDK: `ParleyClient` and what it speaks in. Runs in browsers (native
 * WebSocket, `IndexedDbStorage` from `@parley/sdk/indexeddb-storage`) and in Node (`ws`,
 * `FileStorage` from `@parley/sdk/file-storage`).
 *
 * @example
 * import { ParleyClient } from '@parley/sdk';
 * const client = new ParleyClient({ url, token, deviceId: 'phone' });
 * await client.connect();
 */

/** A member as `groupInfo` lists it: its role, where it joined, its watermarks. */
/** Where the server pushes to a device, and what a push carries (protocol 1.4). */
export type { GroupMember, PushAddress, PushPayload } from '@parley/protocol';
export { type BackoffOptions, backoffDelay } from './backoff.js';
export type { BlockChange } from './blocks.js';
export { ParleyClient } from './client.js';
export type { ParleyClientEvents, ParleyClientOptions } from './client-options.js';
export { ConnectionState } from './connection.js';
export { OutboxFullError, ParleyError, ParleyErrorCode, ParleySdkError } from './errors.js';
export {
  type CreatedGroup,
  type CreateGroupOptions,
  type GroupChange,
  type GroupInfo,
  newGroupId,
} from './groups.js';
export { DEFAULT_KEEP_ALIVE_MS } from './keep-alive.js';
export type { OutboxEntry, OutboxGroupItem, OutboxItem } from './outbox.js';
export { checkedPushAddress, type PushSubscriptionJson, webPushAddressOf } from './push.js';
export { DEFAULT_ACK_WINDOW_MS } from './receipts.js';
export { MemoryStorage, type ParleyStorage } from './storage.js';
export {
  type AdminChangedMessage,
  type ChatMessage,
  type ConversationView,
  type EveryoneView,
  type GroupCreatedMessage,
  type GroupEventMessage,
  isGroupEvent,
  type MemberRemovedMessage,
  type MembersAddedMessage,
  MessageStatus,
  type PresenceView,
  type TextMessage,
  type TitleChangedMessage,
  type TypingEvent,
} from './views.js';
export type { WebSocketConstructor, WebSocketLike } from './websocket.js';

import { directConversationId } from '@parley/protocol';

/**
 * The id of the one-to-one conversation between two users, as docs/protocol.md defines it.
 *
 * @example
 * conversationIdFor('bob', 'alice'); // 'dm:alice:bob'
 */
export function conversationIdFor(userA: string, userB: string): string {
  return directConversationId(userA, userB);
}
