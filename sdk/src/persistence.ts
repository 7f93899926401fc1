/**
 * What a client keeps in its storage, and when it writes it. Every key starts with
 * `parley/{userId}/{deviceId}/`:
 *
 * - `outbox`: the unsent messages, written before `send` resolves;
 * - `cursor`: the conversations cursor of the last catch-up;
 * - `conversations`: the ids of the conversations held, and `conversation/{id}` each one's
 *   timeline (messages and watermarks);
 * - `acks`: the acks the server has not confirmed yet.
 *
 * All but the outbox are written together, shortly after they change, one write after
 * another so that an older snapshot never lands after a newer one.
 */
import type { ReceiptKind } from '@parley/protocol';
import type { Identity } from './identity.js';
import type { Outbox, OutboxEntry } from './outbox.js';
import type { ParleyStorage } from './storage.js';
import { type StoredTimeline, Timeline } from './timeline.js';

/** The acks not confirmed yet: per conversation, the highest seq of each kind. */
export type UnconfirmedAcks = Array<[string, Partial<Record<ReceiptKind, number>>]>;

/** What the client holds besides the outbox, read when it is saved. */
export interface SavedState {
  timelines: ReadonlyMap<string, Timeline>;
  cursor: string | undefined;
  acks: UnconfirmedAcks;
}

/** What a client stored when it last ran. */
export interface LoadedState {
  outbox: OutboxEntry[];
  cursor: string | undefined;
  timelines: Timeline[];
  acks: UnconfirmedAcks;
}

/** How long changes gather before they are saved together. */
const SAVE_DELAY_MS = 100;

/**
 * Loads and saves the state of one device of one user.
 *
 * @example
 * const persistence = new Persistence({ storage, identity, outbox, state: () => current(), report: console.error });
 * const stored = await persistence.load();
 * persistence.changed('dm:alice:bob'); // saved within 100 ms
 * await persistence.flush(); // before closing
 */
export class Persistence {
  readonly #storage: ParleyStorage;
  readonly #identity: Identity;
  readonly #outbox: Outbox;
  readonly #state: () => SavedState;
  readonly #report: (error: unknown) => void;
  readonly #dirtyTimelines = new Set<string>();
  #saveTimer: ReturnType<typeof setTimeout> | undefined;
  #saving: Promise<void> = Promise.resolve();

  constructor(options: {
    storage: ParleyStorage;
    identity: Identity;
    outbox: Outbox;
    state: () => SavedState;
    report: (error: unknown) => void;
  }) {
    this.#storage = options.storage;
    this.#identity = options.identity;
    this.#outbox = options.outbox;
    this.#state = options.state;
    this.#report = options.report;
  }

  /** Reads what the device stored; what is missing or malformed reads as empty. */
  async load(): Promise<LoadedState> {
    const [outbox, cursor, index, acks] = await Promise.all([
      this.#storage.load(this.#key('outbox')),
      this.#storage.load(this.#key('cursor')),
      this.#storage.load(this.#key('conversations')),
      this.#storage.load(this.#key('acks')),
    ]);
    const ids = Array.isArray(index) ? (index as string[]) : [];
    const stored = await Promise.all(ids.map((id) => this.#storage.load(this.#key(`conversation/${id}`))));
    const timelines = stored.flatMap((timeline) =>
      timeline && typeof timeline === 'object' ? [Timeline.fromJSON(timeline as StoredTimeline)] : [],
    );
    return {
      outbox: Array.isArray(outbox) ? (outbox as OutboxEntry[]) : [],
      cursor: typeof cursor === 'string' ? cursor : undefined,
      timelines,
      acks: Array.isArray(acks) ? (acks as UnconfirmedAcks) : [],
    };
  }

  /** The outbox is saved before `send` resolves: it is the promise that nothing is lost. */
  async saveOutbox(): Promise<void> {
    const snapshot = structuredClone(this.#outbox.toJSON());
    this.#saving = this.#saving
      .then(() => this.#storage.save(this.#key('outbox'), snapshot))
      .catch((error: unknown) => this.#report(error));
    await this.#saving;
  }

  /** The conversation changed (or, without one, the cursor or the acks): save soon. */
  changed(conversationId?: string): void {
    if (conversationId !== undefined) this.#dirtyTimelines.add(conversationId);
    if (this.#saveTimer) return;
    this.#saveTimer = setTimeout(() => {
      this.#saveTimer = undefined;
      void this.#saveState();
    }, SAVE_DELAY_MS);
  }

  /** Saves what waits to be saved now, and resolves once every write so far is done. */
  async flush(): Promise<void> {
    if (this.#saveTimer) {
      clearTimeout(this.#saveTimer);
      this.#saveTimer = undefined;
      await this.#saveState();
    }
    await this.#saving;
  }

  #key(name: string): string {
    return `parley/${this.#identity.userId}/${this.#identity.deviceId}/${name}`;
  }

  async #saveState(): Promise<void> {
    const state = this.#state();
    const dirty = [...this.#dirtyTimelines];
    this.#dirtyTimelines.clear();
    const snapshots = dirty.flatMap((id) => {
      const timeline = state.timelines.get(id);
      return timeline ? [[id, timeline.toJSON()] as const] : [];
    });
    const index = [...state.timelines.keys()];
    const { cursor } = state;
    const acks = structuredClone(state.acks);
    this.#saving = this.#saving
      .then(async () => {
        await Promise.all(
          snapshots.map(([id, value]) => this.#storage.save(this.#key(`conversation/${id}`), value)),
        );
        await this.#storage.save(this.#key('conversations'), index);
        if (cursor !== undefined) await this.#storage.save(this.#key('cursor'), cursor);
        await this.#storage.save(this.#key('acks'), acks);
      })
      .catch((error: unknown) => this.#report(error));
    await this.#saving;
  }
}
