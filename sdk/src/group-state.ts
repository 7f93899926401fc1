/**
 * What a device knows of a group besides its messages: its title, how many members it has,
 * whether this user is one of them, and the lowest watermarks over its members (everyone's
 * receipt). The conversation list and `groupInfo` give the facts as they stood at a seq (the
 * basis); the membership events held after that seq bring them up to date, whatever the
 * order in which they arrived, since they are read in `seq` order each time.
 */
import type { Everyone, Message, ReceiptKind } from '@parley/protocol';

/** The facts of a group as they stood at `seq`; what is not known is absent. */
export interface GroupBasis {
  seq: number;
  title?: string;
  memberCount?: number;
  member?: boolean;
}

/** The JSON a group's state is stored as, beside its timeline. */
export interface StoredGroup {
  basis: GroupBasis;
  everyone: Everyone;
}

/** A group's facts now, as far as this device knows them. */
export interface GroupFacts {
  title?: string;
  memberCount?: number;
  /** True unless this user left or was removed (and was not added again since). */
  member: boolean;
}

/**
 * The state of one group on one device.
 *
 * @example
 * group.setBasis({ seq: 7, title: 'Lunch', memberCount: 3, member: true });
 * group.facts(timeline.messages(), 'alice'); // { title: 'Lunch', memberCount: 4, member: true } after a members-added at 8
 */
export class GroupState {
  #basis: GroupBasis = { seq: 0 };
  #everyone: Everyone = { deliveredSeq: 0, readSeq: 0 };
  /** The facts computed from the basis and the events, until either changes. */
  #facts: GroupFacts | undefined;

  static fromJSON(stored: StoredGroup): GroupState {
    const group = new GroupState();
    group.#basis = { ...stored.basis };
    group.#everyone = { ...stored.everyone };
    return group;
  }

  toJSON(): StoredGroup {
    return { basis: this.#basis, everyone: this.#everyone };
  }

  get basis(): GroupBasis {
    return this.#basis;
  }

  get everyone(): Everyone {
    return this.#everyone;
  }

  /** Takes newer facts; those as of an earlier seq than the ones held change nothing. */
  setBasis(basis: GroupBasis): boolean {
    if (basis.seq < this.#basis.seq) return false;
    const merged = { ...this.#basis, ...basis };
    const changed = JSON.stringify(merged) !== JSON.stringify(this.#basis);
    this.#basis = merged;
    this.#facts = undefined;
    return changed;
  }

  /** A membership event was added: the facts are read again. */
  eventAdded(): void {
    this.#facts = undefined;
  }

  /**
   * Raises everyone's watermark of that kind (never lowers it: a member's departure can
   * only raise the lowest); everyone having read up to a seq also has it. True if it moved.
   */
  raiseEveryone(kind: ReceiptKind, seq: number): boolean {
    const current = this.#everyone;
    const next = {
      deliveredSeq: Math.max(current.deliveredSeq, seq),
      readSeq: kind === 'read' ? Math.max(current.readSeq, seq) : current.readSeq,
    };
    if (next.deliveredSeq === current.deliveredSeq && next.readSeq === current.readSeq) return false;
    this.#everyone = next;
    return true;
  }

  /** The facts now: the basis, then every membership event held after it, in seq order. */
  facts(messages: readonly Message[], userId: string): GroupFacts {
    if (this.#facts) return this.#facts;
    let { title, memberCount } = this.#basis;
    let member = this.#basis.member ?? true;
    for (const message of messages) {
      if (message.seq <= this.#basis.seq) continue;
      const joined = message.members ?? [];
      switch (message.kind) {
        case 'group-created':
          title = message.title;
          memberCount = joined.length;
          if (joined.includes(userId)) member = true;
          break;
        case 'members-added':
          // Unknown stays unknown: an addition says how many joined, not how many there are.
          if (memberCount !== undefined) memberCount += joined.length;
          if (joined.includes(userId)) member = true;
          break;
        case 'member-removed':
          if (memberCount !== undefined) memberCount -= 1;
          if (message.userId === userId) member = false;
          break;
        case 'title-changed':
          title = message.title;
          break;
      }
    }
    this.#facts = {
      ...(title !== undefined ? { title } : {}),
      ...(memberCount !== undefined ? { memberCount } : {}),
      member,
    };
    return this.#facts;
  }
}
