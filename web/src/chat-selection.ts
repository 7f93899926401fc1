/**
 * Which chat is open, kept for the tab across reloads, and the chats started here that the
 * client does not list yet (drafts): a one-to-one chat from "new chat" until its first
 * message, a group until its creation is queued.
 */
import { isGroupConversationId, membersOf } from '@parley/protocol';
import { type ConversationView, conversationIdFor, type ParleyClient } from '@parley/sdk';

/** A chat started here that the client does not list yet. */
type Draft =
  | { conversationId: string; peerId: string }
  | { conversationId: string; title: string; memberCount: number };

export class ChatSelection {
  private readonly drafts = new Map<string, Draft>();
  private readonly storageKey: string;
  private opened: string | undefined;

  constructor(
    private readonly client: ParleyClient,
    private readonly me: string,
  ) {
    this.storageKey = `parley.open.${me}`;
    let openId = sessionStorage.getItem(this.storageKey) ?? undefined;
    if (openId && !this.isListed(openId)) {
      const peerId = this.peerOf(openId);
      if (peerId) this.drafts.set(openId, { conversationId: openId, peerId });
      else openId = undefined;
    }
    this.opened = openId;
  }

  /** The open chat, if any. */
  get openId(): string | undefined {
    return this.opened;
  }

  /** Opens a chat, and keeps the choice for a reload of the tab. */
  select(conversationId: string): void {
    this.opened = conversationId;
    sessionStorage.setItem(this.storageKey, conversationId);
  }

  /** Closes the open chat (on a phone: back to the list). */
  close(): void {
    this.opened = undefined;
    sessionStorage.removeItem(this.storageKey);
  }

  /** The chat with `peerId`, kept as a draft until it has a message. */
  chatWith(peerId: string): string {
    const conversationId = conversationIdFor(this.me, peerId);
    if (!this.isListed(conversationId)) this.drafts.set(conversationId, { conversationId, peerId });
    return conversationId;
  }

  /** A group being created, shown as a draft until the client lists it. */
  groupDraft(conversationId: string, title: string, members: readonly string[]): void {
    if (!this.isListed(conversationId)) {
      this.drafts.set(conversationId, { conversationId, title, memberCount: members.length + 1 });
    }
  }

  /** Forgets a draft the client refused (a group whose creation failed at once). */
  dropDraft(conversationId: string): void {
    this.drafts.delete(conversationId);
  }

  /** Whether the conversation is a group. */
  isGroup(conversationId: string): boolean {
    return isGroupConversationId(conversationId);
  }

  /** The other member of a one-to-one conversation; undefined for a group. */
  peerOf(conversationId: string): string | undefined {
    if (this.isGroup(conversationId)) return undefined;
    const listed = this.client.conversations().find((c) => c.conversationId === conversationId);
    if (listed) return listed.peerId;
    const draft = this.drafts.get(conversationId);
    if (draft && 'peerId' in draft) return draft.peerId;
    const members = membersOf(conversationId);
    if (!members) return undefined;
    return members[0] === this.me ? members[1] : members[0];
  }

  /** The conversation as the list shows it, drafts included. */
  viewOf(conversationId: string): ConversationView | undefined {
    return this.conversationsToShow().find((view) => view.conversationId === conversationId);
  }

  /** The drafts first, then the conversations the client lists; a listed chat is no longer a draft. */
  conversationsToShow(): ConversationView[] {
    const listed = this.client.conversations();
    for (const view of listed) this.drafts.delete(view.conversationId);
    const draftViews: ConversationView[] = [...this.drafts.values()].map((draft) => ({
      ...('peerId' in draft
        ? { kind: 'dm' as const, peerId: draft.peerId }
        : {
            kind: 'group' as const,
            peerId: '',
            title: draft.title,
            memberCount: draft.memberCount,
            member: true,
          }),
      conversationId: draft.conversationId,
      lastSeq: 0,
      unread: 0,
      updatedAt: Number.POSITIVE_INFINITY,
    }));
    return [...draftViews, ...listed];
  }

  private isListed(conversationId: string): boolean {
    return this.client.conversations().some((c) => c.conversationId === conversationId);
  }
}
