/**
 * The small interfaces the domain needs from the outside world; the AWS adapters
 * implement them, unit tests may fake them.
 */
import type {
  ConversationSummary,
  Everyone,
  GroupReceiptEventFrame,
  Message,
  MessageEventFrame,
  PushAddress,
  PushPayload,
  Receipt,
  ReceiptEventFrame,
  ReceiptKind,
  UserPresence,
} from '@parley/protocol';

export interface StoredMessageRef {
  seq: number;
  messageId: string;
  serverTs: number;
}

export type StoreMessageOutcome =
  | { status: 'stored' }
  /** The sender already sent this clientMessageId into this conversation. */
  | { status: 'duplicate'; original: StoredMessageRef }
  /** Another sender took this seq first. */
  | { status: 'seq_taken' }
  /** DynamoDB cancelled the transaction for a concurrent one on the same items. */
  | { status: 'conflict' };

export interface MessagePage {
  messages: Message[];
  lastSeq: number;
  /**
   * Every seq from `afterSeq + 1` up to this one is gone (past the retention period):
   * absent when none of the seqs read is.
   */
  goneThrough?: number;
}

export interface MessageStore {
  /** The conversation's highest seq, read strongly consistent; 0 when it has none. */
  lastSeq(conversationId: string): Promise<number>;
  /** Stores the message and its idempotency key together, or neither. */
  storeMessage(message: Message): Promise<StoreMessageOutcome>;
  getMessage(conversationId: string, seq: number): Promise<Message | undefined>;
  /**
   * Messages with seq > afterSeq, ascending, at most `limit`, and the conversation's last
   * seq. With `maxBytes`, reads no further once the messages read fill that many bytes of a
   * frame (`frameBytesOf`): the last one may pass it, and a frame is cut from what was read.
   */
  listMessages(
    conversationId: string,
    afterSeq: number,
    limit: number,
    maxBytes?: number,
  ): Promise<MessagePage>;
}

/**
 * What a conversation's members receive: the wire event itself, so fanout forwards it as
 * is. In a group a `receipt` goes to its member's own devices only, a `groupReceipt` to
 * every member's.
 */
export type ConversationEvent = MessageEventFrame | ReceiptEventFrame | GroupReceiptEventFrame;

/** A user went online or offline; the presence notifier reads the current state itself. */
export interface PresenceChangedEvent {
  type: 'presence-changed';
  userId: string;
}

/**
 * One slice of a large group's delivery of one event: the fanout hands the posts of a group
 * with many connected devices to other invocations, a slice each (docs/adr/0007-groups.md).
 * It carries its connections, so that its consumer reads nothing.
 */
export interface GroupSliceEvent {
  type: 'group-slice';
  conversationId: string;
  /** Which slice, 0 to `slices − 1`: a device's slice follows from its connection id alone. */
  slice: number;
  slices: number;
  event: ConversationEvent;
  connections: Connection[];
}

/**
 * A `message` as `send` puts it on the stream: the wire event and, when `send` posted it
 * itself first, the connections that answered those posts 2xx, so that the fanout posts
 * to every other connection only (docs/adr/0008-fast-path.md); a send that asked for no
 * echo (protocol 1.5) names its own connection there too. The fanout takes `reached`
 * off before it posts: it never reaches a device.
 */
export type MessageRecord = MessageEventFrame & { reached?: string[] };

export type StreamEvent = ConversationEvent | MessageRecord | PresenceChangedEvent | GroupSliceEvent;

/**
 * The stream's partition key: one conversation's events stay in order on one shard, and so
 * do the slices of one group that hold the same devices.
 */
export function partitionKeyOf(event: StreamEvent): string {
  if (event.type === 'presence-changed') return `presence:${event.userId}`;
  if (event.type === 'group-slice') return `${event.conversationId}#${event.slice}`;
  return event.conversationId;
}

export interface EventPublisher {
  /** Hands the event to delivery; ordered per partition key. */
  publish(event: StreamEvent): Promise<void>;
}

export interface WatermarkOutcome {
  /** The watermark after the call. */
  seq: number;
  moved: boolean;
  /**
   * The watermark before the call, 0 when there was none: a group's ack recomputes
   * `everyone` only when the member held the lowest watermark before it.
   */
  previous: number;
}

/** The members' receipt watermarks, in the conversation partition. */
export interface ReceiptStore {
  /** Raises the user's watermark of `kind` to `seq` if that is higher; never lowers it. */
  raiseWatermark(
    conversationId: string,
    userId: string,
    kind: ReceiptKind,
    seq: number,
  ): Promise<WatermarkOutcome>;
  /** The watermarks stored for the conversation (members who never acked are absent). */
  listReceipts(conversationId: string): Promise<Receipt[]>;
  /** One member's watermarks, read strongly consistent; 0 for a kind it never acked. */
  getReceipt(conversationId: string, userId: string): Promise<Receipt>;
}

/** A member's entry of the conversation list, as stored. */
export type ConversationEntry = ConversationSummary;
export type ConversationEntryState = Omit<ConversationEntry, 'updatedAt'> & {
  /**
   * When the entry's owner first wrote in this one-to-one conversation: its consent to show
   * its presence to the other member (protocol 1.3). Stored only, never on the wire.
   */
  wroteAt?: number;
};
/** A change of one entry: the next state from the current one, or undefined when nothing changes. */
export type EntryChange = (current: ConversationEntryState | undefined) => ConversationEntryState | undefined;

export interface ConversationListPage {
  entries: ConversationEntry[];
  hasMore: boolean;
}

export interface ConversationListStore {
  /**
   * Applies the changes to several users' entries, by user and conversation, in one write
   * where it can (fewer requests than one per user). The store retries a change on a
   * concurrent write, and gives each entry it writes an `updatedAt` later than any of the
   * user's entries. Settles each user on its own: the outcome of each of its changes, in
   * order, or the error its update failed with.
   */
  updateManyUsers(
    changes: Map<string, Map<string, EntryChange>>,
  ): Promise<Map<string, PromiseSettledResult<Array<'updated' | 'unchanged'>>>>;
  /** The user's entries changed after `afterUpdatedAt`, oldest change first. */
  listChangedSince(userId: string, afterUpdatedAt: number, limit: number): Promise<ConversationListPage>;
  /**
   * The groups whose entry says the user is a member (`member: true`), read strongly
   * consistent: `$connect` indexes the new connection in each.
   */
  listGroupIds(userId: string): Promise<string[]>;
}

export interface PresenceRecord {
  userId: string;
  online: boolean;
  lastSeen: number | null;
  /** When the user last connected: the best guess of `lastSeen` for a record that expired online. */
  lastActiveAt: number | null;
  /** Epoch seconds: an `online` record past this is a user whose connections died silently. */
  expiresAt: number;
  /** Bumped by every connect, so a disconnect can tell that a device came online meanwhile. */
  version: number;
}

export interface PresenceStore {
  get(userId: string): Promise<PresenceRecord | undefined>;
  getMany(userIds: string[]): Promise<PresenceRecord[]>;
  /**
   * Marks the user online until `expiresAt`; says whether it was online (and not expired)
   * before, and the record's version after.
   */
  markOnline(
    userId: string,
    now: number,
    expiresAt: number,
  ): Promise<{ wasOnline: boolean; version: number }>;
  /** Marks the user offline unless a connect came after `version` was read. */
  markOffline(userId: string, version: number, now: number): Promise<boolean>;
}

export interface PresenceSubscription {
  watchedUserId: string;
  connectionId: string;
  subscriberUserId: string;
  expiresAt: number;
}

export interface PresenceSubscriptionStore {
  subscribe(subscriptions: PresenceSubscription[]): Promise<void>;
  listSubscribers(watchedUserId: string): Promise<PresenceSubscription[]>;
  unsubscribe(watchedUserId: string, connectionId: string): Promise<void>;
  /** Ends every subscription `subscriberUserId` holds on `watchedUserId`, read strongly consistent (a block). */
  unsubscribeUser(watchedUserId: string, subscriberUserId: string): Promise<void>;
}

export type { UserPresence };

export interface Connection {
  userId: string;
  connectionId: string;
  deviceId: string;
  connectedAt: number;
  /** Epoch seconds after which the item is dead even if DynamoDB has not deleted it yet. */
  expiresAt: number;
}

/** What registering a connection under the cap came to. */
export type OpenConnectionOutcome =
  /** Stored; `replaced` are the older connections of the same device, deleted in the same write. */
  | { status: 'opened'; replaced: Connection[] }
  /** Not stored: the user has `open` live connections of other devices, the most allowed. */
  | { status: 'full'; open: number }
  /** Not stored: other handshakes of the same user kept changing its connections. */
  | { status: 'contended' };

export interface ConnectionStore {
  putConnection(connection: Connection): Promise<void>;
  /**
   * Stores `connection` only if its user then has at most `maxPerUser` live connections,
   * deleting the older connections of its device in the same atomic write: a device never
   * holds two places, and two handshakes racing for the last place cannot both win.
   */
  openConnection(connection: Connection, maxPerUser: number): Promise<OpenConnectionOutcome>;
  deleteConnection(userId: string, connectionId: string): Promise<void>;
  /** The user's live connections (expired items are left out). */
  listConnections(userId: string): Promise<Connection[]>;
}

/**
 * `throttled`: API Gateway answered 429 (its request quota) or a 5xx, after the SDK's own
 * retries; the frame did not reach the device, but the connection may well be open.
 */
export type PostOutcome = 'delivered' | 'gone' | 'throttled';

/** Where the domain reports what an operator may want to read; Powertools' `Logger` is one. */
export interface Logger {
  debug(message: string, attributes: Record<string, unknown>): void;
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
  error(message: string, attributes: Record<string, unknown>): void;
}

export interface ConnectionPusher {
  /** Posts one frame; 'gone' when API Gateway no longer knows the connection (410). */
  post(connectionId: string, frame: string): Promise<PostOutcome>;
  /** Closes the connection (`@connections` DELETE); 'gone' when it was closed already (410). */
  disconnect(connectionId: string): Promise<'closed' | 'gone'>;
}

/** A current member of a group, as stored. */
export interface GroupMemberRecord {
  userId: string;
  admin: boolean;
  /** The seq of the event that added it: it sees messages from there on. */
  joinedSeq: number;
  /** When it joined: the longest-standing member becomes admin when the last admin leaves. */
  joinedAt: number;
  /** Its windows of earlier memberships, oldest first, when it left and was added back. */
  earlierWindows?: MembershipPeriod[];
}

/** One membership of a user in a group: from the seq that added it to the seq that removed it. */
export interface MembershipPeriod {
  joinedSeq: number;
  removedSeq: number;
}

/** A user who left or was removed: the window of the conversation it may still read. */
export interface FormerMemberRecord {
  userId: string;
  joinedSeq: number;
  /** The seq of its `member-removed` event: the last message it receives. */
  removedSeq: number;
  /** Its windows of earlier memberships, oldest first, when it was a member more than once. */
  earlierWindows?: MembershipPeriod[];
}

/** A group as stored in its conversation's partition (docs/adr/0007-groups.md). */
export interface GroupRecord {
  conversationId: string;
  title: string;
  createdBy: string;
  createdAt: number;
  /** Current members, in no particular order. */
  members: GroupMemberRecord[];
  /** Users who left or were removed and have not come back. */
  former: FormerMemberRecord[];
  /** The lowest watermarks over the current members, as last recomputed. */
  everyone: Everyone;
  /** The seqs of the creation's events: a creation repeated by its creator is answered with them. */
  creation?: SeqRange;
  /** The seqs of the last change's events: a retry that changes nothing publishes them again. */
  lastChange?: SeqRange;
}

/** The consecutive seqs of the events one change made, both ends included. */
export interface SeqRange {
  fromSeq: number;
  toSeq: number;
}

/** One user's standing in a group, read without reading the whole group. */
export type Membership =
  | { status: 'member'; member: GroupMemberRecord }
  | { status: 'former'; former: FormerMemberRecord }
  | { status: 'none' };

export type GroupChangeOutcome =
  | { status: 'stored' }
  /** Another event took one of the seqs first: read again and retry. */
  | { status: 'seq_taken' }
  /** DynamoDB cancelled the transaction for a concurrent one on the same items. */
  | { status: 'conflict' }
  /** A creation found the group already there. */
  | { status: 'exists' };

export interface GroupChange {
  /** The group before the change; undefined for a creation. */
  before: GroupRecord | undefined;
  after: GroupRecord;
  /** The events the change makes, with consecutive seqs from the conversation's last seq + 1. */
  events: Message[];
}

export interface GroupStore {
  /** The whole group, read strongly consistent; undefined when no group has this id. */
  getGroup(conversationId: string): Promise<GroupRecord | undefined>;
  /** One user's standing, read strongly consistent and cheaper than the whole group. */
  getMembership(conversationId: string, userId: string): Promise<Membership>;
  /**
   * Stores the events and the group's new state in one transaction, each event on the
   * condition that its seq is free, so that a change and its events commit together or
   * not at all.
   */
  commitChange(change: GroupChange): Promise<GroupChangeOutcome>;
  /**
   * The stored `everyone` watermarks alone (the `group` item, strongly consistent), undefined
   * when no group has this id: what every ack in a group compares its member's old watermark
   * with, so it must not read the roster.
   */
  getEveryone(conversationId: string): Promise<Everyone | undefined>;
  /**
   * `everyone` with how many current members hold each lowest watermark and the version
   * every write of them bumps (the `group` item alone, strongly consistent), undefined when
   * no group has this id.
   */
  getEveryoneState(conversationId: string): Promise<EveryoneState | undefined>;
  /**
   * Takes one from the holders of `kind`, on the condition that the version is still
   * `expectedVersion` and `everyone` of `kind` still `expectedEveryone`, bumping the version:
   * `changed` when another write came first (or the holders are unknown or none).
   */
  decrementHolder(
    conversationId: string,
    kind: ReceiptKind,
    expectedEveryone: number,
    expectedVersion: number,
  ): Promise<HolderDecrement>;
  /**
   * Writes `everyone` and its holders (holders undefined: unknown) on the condition that the
   * version is still `expectedVersion`, bumping it; false when another write came first or
   * no group has this id. The caller never lowers `everyone`.
   */
  setEveryone(
    conversationId: string,
    state: Pick<EveryoneState, 'everyone' | 'holders'>,
    expectedVersion: number,
  ): Promise<boolean>;
}

/** The holders left and the version written, or `changed` when the condition failed. */
export type HolderDecrement = { status: 'ok'; holders: number; version: number } | { status: 'changed' };

/** The `everyone` watermarks of a group with what keeps their recompute rare (docs/adr/0007-groups.md). */
export interface EveryoneState {
  everyone: Everyone;
  /**
   * How many current members have the lowest watermark of each kind, as they count;
   * undefined when unknown (after a membership change, or for a group stored before it
   * was kept): then every rise of a holder recomputes, as without it.
   */
  holders?: Record<ReceiptKind, number>;
  /** Bumped by every write of `everyone` or the holders, membership changes included. */
  version: number;
}

/**
 * The open connections of a group's members, indexed by group, so that delivering to a
 * group reads what grows with its connected devices, not with its members.
 */
export interface GroupConnectionStore {
  /**
   * The group's live connections in connection id order; with `atMost`, only the first that
   * many (a caller that only needs to know whether there are more than a few reads less).
   */
  listGroupConnections(conversationId: string, atMost?: number): Promise<Connection[]>;
  addConnections(conversationId: string, connections: Connection[]): Promise<void>;
  removeConnections(conversationId: string, connectionIds: string[]): Promise<void>;
}

/**
 * Lets through at most one `typing` `start` per member per group in an interval, across
 * Lambda instances.
 */
export interface TypingGate {
  /**
   * True when no `start` of `userId` in the conversation was let through in the
   * `intervalMs` before `now` (and records this one); false otherwise.
   */
  claimStart(conversationId: string, userId: string, now: number, intervalMs: number): Promise<boolean>;
}

/** One user blocking another (protocol 1.3). */
export interface BlockPair {
  blockerId: string;
  blockedId: string;
}

/**
 * What each user allows others (protocol 1.3), kept in its own partition of the
 * user-conversations table: whom it blocks, and (on its list entries, written by the
 * fanout) whom it has written to. docs/adr/0013-consent-and-blocking.md.
 */
export interface PrivacyStore {
  /** Records the block; true when it is new, false when it was there already. */
  block(pair: BlockPair, at: number): Promise<boolean>;
  /** Takes the block back; true when there was one. */
  unblock(pair: BlockPair): Promise<boolean>;
  /** The users `blockerId` blocks, in user id order, after `after`: at most `limit`. */
  listBlocked(
    blockerId: string,
    after: string | undefined,
    limit: number,
  ): Promise<{ userIds: string[]; hasMore: boolean }>;
  /** Deletes every block `blockerId` holds and answers how many: the erasure of a user calls it. */
  removeAllBlocks(blockerId: string): Promise<number>;
  /** Those of `pairs` that are blocks now, read strongly consistent. */
  findBlocks(pairs: readonly BlockPair[]): Promise<BlockPair[]>;
  /**
   * Those of `userIds` whose presence `viewerId` may see: each wrote to `viewerId` in their
   * one-to-one conversation and does not block it. Read strongly consistent.
   */
  presenceVisibleTo(viewerId: string, userIds: readonly string[]): Promise<Set<string>>;
}

/** A device's push address, as stored (protocol 1.4). */
export interface PushRegistration {
  userId: string;
  deviceId: string;
  address: PushAddress;
  /** Epoch ms of the `registerPush` that stored it: tells a registration from a newer one of the same device. */
  registeredAt: number;
  /** The SNS platform endpoint made for an APNs or FCM token, once a push has made it. */
  platformEndpointArn?: string;
}

/** The devices' push addresses and the coalescing windows, one user a partition (`push-devices`). */
export interface PushRegistrationStore {
  /** Stores the device's address, replacing its earlier one, and answers the one it replaced. */
  putRegistration(registration: PushRegistration): Promise<PushRegistration | undefined>;
  /** Deletes the device's registration and answers it; undefined when there was none. */
  deleteRegistration(userId: string, deviceId: string): Promise<PushRegistration | undefined>;
  /**
   * Deletes the device's registration only if it is still the one stored at `registeredAt`:
   * a push service's "gone" must not delete the address the device registered since.
   */
  deleteRegistrationIfUnchanged(userId: string, deviceId: string, registeredAt: number): Promise<boolean>;
  /** The user's registrations, every device. */
  listRegistrations(userId: string): Promise<PushRegistration[]>;
  /** Keeps the SNS platform endpoint made for a registration, if it is still the one stored at `registeredAt`. */
  setPlatformEndpoint(
    userId: string,
    deviceId: string,
    registeredAt: number,
    endpointArn: string,
  ): Promise<void>;
  /**
   * Claims the coalescing window of one device and conversation: true when no push went to
   * that device for that conversation in the last `windowMs` (the caller pushes now), false
   * when one did (the caller coalesces). Atomic: two consumers cannot both claim it.
   */
  claimPushWindow(
    userId: string,
    deviceId: string,
    conversationId: string,
    now: number,
    windowMs: number,
  ): Promise<boolean>;
  /** Deletes every item of the user (registrations and windows) and answers the registrations it deleted: erasure. */
  removeAllForUser(userId: string): Promise<PushRegistration[]>;
}

/** What a push service (or SNS) made of one push. */
export type PushOutcome =
  /** Accepted for delivery. */
  | 'sent'
  /** The address no longer exists (404 or 410, or an SNS endpoint disabled by the platform): delete the registration. */
  | 'gone'
  /** 429 or 5xx after the sender's bounded retries: dropped and counted. */
  | 'throttled'
  /** Refused for another reason (a 400, a payload too large, a misconfiguration): dropped and counted. */
  | 'failed';

export interface PushSendOptions {
  /** The same for every push of one conversation, so that a push service keeps only the newest (RFC 8030 `Topic`, APNs/FCM collapse ids). */
  collapseKey: string;
  /** How long a push service keeps the push for an unreachable device, in seconds. */
  ttlSeconds: number;
}

/** Sends one push to one registration; one implementation per kind of address (Web Push, SNS). */
export interface PushSender {
  send(registration: PushRegistration, payload: PushPayload, options: PushSendOptions): Promise<PushOutcome>;
}

/** The SNS platform endpoints made for APNs and FCM tokens (protocol 1.4). */
export interface PlatformEndpoints {
  /** Deletes one; an endpoint already gone is not an error. */
  deleteEndpoint(endpointArn: string): Promise<void>;
}
