/**
 * Groups, from the client's side: creating one (through the outbox, so that it can be done
 * offline and its messages follow it), the membership actions (which need the connection:
 * an admin acts on the group as it is now), and `groupInfo` page after page. Every input is
 * checked with the protocol's own schemas before anything is queued or sent, so that a bad
 * title or member list throws at once, naming the field.
 */
import {
  addMembersFrameSchema,
  createGroupFrameSchema,
  GROUP_PREFIX,
  type GroupChangedFrame,
  type GroupFrame,
  type GroupMember,
  groupInfoFrameSchema,
  removeMemberFrameSchema,
  setAdminFrameSchema,
  setTitleFrameSchema,
} from '@parley/protocol';
import type { ReconnectingConnection } from './connection.js';
import type { Conversations } from './conversations.js';
import { codeOf, isDisconnect, ParleyError, ParleyErrorCode } from './errors.js';
import { type Identity, newClientMessageId } from './identity.js';
import type { Outbox, OutboxGroupItem } from './outbox.js';
import type { OutboxSender } from './outbox-sender.js';
import type { Timeline } from './timeline.js';

/**
 * What `createGroup` takes.
 *
 * @example
 * const options: CreateGroupOptions = { title: 'Lunch', members: ['bob', 'carol'] };
 */
export interface CreateGroupOptions {
  /** 1 to 100 characters. */
  title: string;
  /** The other members (1 to 1,023 user ids), not the caller: it joins as admin. */
  members: string[];
  /** `grp:` and 1 to 64 of `[A-Za-z0-9_-]`; default `grp:` and a new UUID (`newGroupId()`). */
  conversationId?: string;
}

/**
 * A group the server created: its id, and the seq of the last event the creation made.
 *
 * @example
 * const { conversationId, seq }: CreatedGroup = await client.createGroup({ title: 'Lunch', members: ['bob'] });
 */
export interface CreatedGroup {
  conversationId: string;
  seq: number;
}

/**
 * The answer to a membership action: the seq of the event it made, or null when it changed
 * nothing (adding a member already in, a title already set…).
 *
 * @example
 * const { seq }: GroupChange = await client.setTitle(id, 'Dinner');
 */
export interface GroupChange {
  seq: number | null;
}

/**
 * A group as `groupInfo` tells it: every current member, in user id order, with its role,
 * where it joined, and its watermarks.
 *
 * @example
 * const info: GroupInfo = await client.groupInfo(id);
 * const admins = info.members.filter((m) => m.admin).map((m) => m.userId);
 */
export interface GroupInfo {
  conversationId: string;
  title: string;
  createdBy: string;
  lastSeq: number;
  memberCount: number;
  members: GroupMember[];
}

/**
 * A new group id, `grp:` and a UUID: what `createGroup` uses when it is given none.
 *
 * @example
 * const id = newGroupId(); // 'grp:3b0e…'; open the chat now, create it offline
 */
export function newGroupId(): string {
  return `${GROUP_PREFIX}:${newClientMessageId()}`;
}

/** What the groups need of the client. */
export interface GroupsOptions {
  identity: Identity;
  connection: Pick<ReconnectingConnection, 'request' | 'isOpen'>;
  outbox: Outbox;
  sender: Pick<OutboxSender, 'queued'>;
  conversations: Conversations;
  now: () => number;
  report: (error: unknown) => void;
}

interface Waiter {
  resolve: (created: CreatedGroup) => void;
  reject: (error: ParleyError) => void;
}

/**
 * The group actions of one client.
 *
 * @example
 * const created = await groups.create({ title: 'Lunch', members: ['bob'] }); // after the answer
 * await groups.change({ action: 'setTitle', conversationId: created.conversationId, title: 'Dinner' });
 */
export class Groups {
  readonly #options: GroupsOptions;
  /** The createGroup calls waiting for their answer, by group id. */
  readonly #waiting = new Map<string, Waiter[]>();
  /** Groups whose title this device asked the server for (it joined without seeing one). */
  readonly #asked = new Set<string>();

  constructor(options: GroupsOptions) {
    this.#options = options;
  }

  /**
   * Queues the group's creation, and resolves once the server answered it. Called again
   * with the id of a creation still waiting, it waits for the same answer.
   */
  async create(options: CreateGroupOptions): Promise<CreatedGroup> {
    const { identity, outbox, sender, now } = this.#options;
    const conversationId = options.conversationId ?? newGroupId();
    const { title, members } = options;
    checkFrame(createGroupFrameSchema, { action: 'createGroup', conversationId, title, members });
    if (members.includes(identity.userId)) {
      throw new ParleyError(ParleyErrorCode.BadRequest, 'members: must not name you: you join as admin');
    }
    const waiting = outbox
      .items()
      .find((item) => item.kind === 'group-created' && item.conversationId === conversationId);
    const answered = new Promise<CreatedGroup>((resolve, reject) => {
      const waiters = this.#waiting.get(conversationId) ?? [];
      waiters.push({ resolve, reject });
      this.#waiting.set(conversationId, waiters);
    });
    if (!waiting) {
      const item: OutboxGroupItem = {
        kind: 'group-created',
        clientMessageId: newClientMessageId(),
        conversationId,
        title,
        members: [...members],
        senderId: identity.userId,
        createdAt: now(),
        status: 'pending',
        attempts: 0,
      };
      try {
        outbox.add(item);
      } catch (error) {
        this.#waiting.delete(conversationId);
        throw error;
      }
      await sender.queued(item);
    }
    return answered;
  }

  /** The outbox sender's word on a creation: true when a `create` call was waiting for it. */
  settled(item: OutboxGroupItem, outcome: { seq: number } | { error: ParleyError }): boolean {
    const waiters = this.#waiting.get(item.conversationId) ?? [];
    this.#waiting.delete(item.conversationId);
    for (const waiter of waiters) {
      if ('error' in outcome) waiter.reject(outcome.error);
      else waiter.resolve({ conversationId: item.conversationId, seq: outcome.seq });
    }
    return waiters.length > 0;
  }

  /** Sends a membership action, checked first, and resolves with the seq of its event. */
  async change(frame: MembershipFrame): Promise<GroupChange> {
    checkFrame(MEMBERSHIP_SCHEMAS[frame.action], frame);
    const answer = await this.#options.connection.request<GroupChangedFrame>({ ...frame });
    return { seq: answer.seq };
  }

  /** Every page of the group's members; the group's title and size are kept for its list entry. */
  async info(conversationId: string): Promise<GroupInfo> {
    checkFrame(groupInfoFrameSchema, { action: 'groupInfo', conversationId });
    const members: GroupMember[] = [];
    let page: GroupFrame;
    for (;;) {
      const after = members.at(-1)?.userId;
      page = await this.#options.connection.request<GroupFrame>({
        action: 'groupInfo',
        conversationId,
        ...(after ? { after } : {}),
      });
      members.push(...page.members);
      // A page with no member would ask for the same page again.
      if (!page.hasMore || page.members.length === 0) break;
    }
    const { title, createdBy, lastSeq, memberCount } = page;
    const { conversations } = this.#options;
    const timeline = conversations.timeline(conversationId);
    if (timeline.group?.setBasis({ seq: lastSeq, title, memberCount, member: true }))
      conversations.changed(timeline);
    return { conversationId, title, createdBy, lastSeq, memberCount, members };
  }

  /**
   * A group this user joined without seeing its title (added after its creation): asks the
   * server once, so that its list entry has a title and a size.
   */
  learn(timeline: Timeline): void {
    const { group, conversationId } = timeline;
    if (!group || this.#asked.has(conversationId) || !this.#options.connection.isOpen) return;
    const facts = group.facts(timeline.messages(), this.#options.identity.userId);
    if (facts.title !== undefined || !facts.member) return;
    this.#asked.add(conversationId);
    this.info(conversationId).catch((error: unknown) => {
      this.#asked.delete(conversationId);
      if (!isDisconnect(codeOf(error))) this.#options.report(error);
    });
  }

  /** The client closed: the waiting creations stay in the outbox, their calls fail. */
  close(): void {
    const closed = new ParleyError(ParleyErrorCode.Closed, 'the client was closed');
    for (const waiters of this.#waiting.values()) for (const waiter of waiters) waiter.reject(closed);
    this.#waiting.clear();
  }
}

/** The membership actions, as the frames they send (without requestId). */
export type MembershipFrame =
  | { action: 'addMembers'; conversationId: string; members: string[] }
  | { action: 'removeMember'; conversationId: string; userId: string }
  | { action: 'setTitle'; conversationId: string; title: string }
  | { action: 'setAdmin'; conversationId: string; userId: string; admin: boolean };

const MEMBERSHIP_SCHEMAS = {
  addMembers: addMembersFrameSchema,
  removeMember: removeMemberFrameSchema,
  setTitle: setTitleFrameSchema,
  setAdmin: setAdminFrameSchema,
} as const;

/** What `checkFrame` needs of a zod schema. */
interface FrameSchema {
  safeParse(
    value: unknown,
  ):
    | { success: true }
    | { success: false; error: { issues: Array<{ path: PropertyKey[]; message: string }> } };
}

/** Throws `bad_request` naming the field, as the server would answer the frame. */
function checkFrame(schema: FrameSchema, frame: object): void {
  // The connection adds the requestId; any valid one stands in for it here.
  const checked = schema.safeParse({ ...frame, requestId: 'check' });
  if (checked.success) return;
  const issue = checked.error.issues[0];
  const field = issue?.path.map(String).join('.') || 'frame';
  throw new ParleyError(ParleyErrorCode.BadRequest, `${field}: ${issue?.message ?? 'is not valid'}`);
}
