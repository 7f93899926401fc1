/**
 * Which chat is open, kept for the tab across reloads, and the chats started from "new
 * chat" that have no message yet (drafts), which the client does not list.
 */
import { membersOf } from '@parley/protocol';
import { type ConversationView, conversationIdFor, type ParleyClient } from '@parley/sdk';

/** A chat started from "new chat" that has no message yet, so the client does not list it. */
interface Draft {
  conversationId: string;
  peerId: string;
}

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

  /** The other member of a conversation. */
  peerOf(conversationId: string): string | undefined {
    const listed = this.client.conversations().find((c) => c.conversationId === conversationId);
    if (listed) return listed.peerId;
    const draft = this.drafts.get(conversationId);
    if (draft) return draft.peerId;
    const members = membersOf(conversationId);
    if (!members) return undefined;
    return members[0] === this.me ? members[1] : members[0];
  }

  /** The drafts first, then the conversations the client lists; a listed chat is no longer a draft. */
  conversationsToShow(): ConversationView[] {
    const listed = this.client.conversations();
    for (const view of listed) this.drafts.delete(view.conversationId);
    const draftViews: ConversationView[] = [...this.drafts.values()].map((draft) => ({
      conversationId: draft.conversationId,
      peerId: draft.peerId,
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
