/** The protocol's size limits; docs/protocol.md states each of them. */

/** API Gateway's WebSocket frame limit: a bigger frame closes the connection (code 1009). */
export const MAX_FRAME_BYTES = 32 * 1024;
/** A message body, in characters (code points, so an emoji counts once). */
export const MAX_BODY_CHARS = 4096;
/** Messages per `sync` answer, when the frame names no `limit`, and at most. */
export const SYNC_DEFAULT_LIMIT = 100;
export const SYNC_MAX_LIMIT = 200;
/** Conversations per `conversations` answer, when the frame names no `limit`, and at most. */
export const CONVERSATIONS_DEFAULT_LIMIT = 50;
export const CONVERSATIONS_MAX_LIMIT = 100;
/** User ids per `subscribePresence` frame. */
export const PRESENCE_MAX_USERS = 100;
/** Blocked users per `blocks` answer: ask again with `after` for the next page (protocol 1.3). */
export const BLOCKS_PAGE_SIZE = 100;
/** Members of a group, its creator included (WhatsApp's figure). */
export const GROUP_MAX_MEMBERS = 1024;
/** A group's title, in characters. */
export const GROUP_TITLE_MAX_CHARS = 100;
/** The server forwards at most one `typing` `start` per member per group in this time. */
export const GROUP_TYPING_INTERVAL_MS = 3000;
/**
 * A `send` repeated with the same `clientMessageId` is answered with the first send's seq for
 * at least this many days after it was stored; then the server may forget the key.
 */
export const IDEMPOTENCY_KEY_DAYS = 30;
/** A Web Push endpoint URL, in characters (protocol 1.4). */
export const MAX_PUSH_ENDPOINT_CHARS = 2048;
/** An APNs or FCM device token, in characters (protocol 1.4). */
export const MAX_PUSH_TOKEN_CHARS = 4096;
/** Characters of a message body a push shows, where the deployment allows a preview at all. */
export const PUSH_PREVIEW_CHARS = 120;
