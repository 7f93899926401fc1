/**
 * Where the client keeps what must survive a restart: the outbox, the conversations
 * cursor and each conversation's messages. Values are plain JSON. `MemoryStorage` keeps
 * them for the life of the process; `FileStorage` (Node, `@parley/sdk/file-storage`) and
 * `IndexedDbStorage` (browsers, `@parley/sdk/indexeddb-storage`) keep them across restarts.
 */
/**
 * A place to keep JSON values by key.
 *
 * @example
 * const storage: ParleyStorage = new MemoryStorage();
 * await storage.save('k', { a: 1 });
 */
export interface ParleyStorage {
  /** The value saved under `key`, or undefined. */
  load(key: string): Promise<unknown | undefined>;
  /** Saves `value` (JSON-able) under `key`, durably once the promise resolves. */
  save(key: string, value: unknown): Promise<void>;
  remove(key: string): Promise<void>;
}

/**
 * Keeps values in memory: nothing survives the process. The default storage.
 *
 * @example
 * const client = new ParleyClient({ url, token, deviceId: 'test', storage: new MemoryStorage() });
 */
export class MemoryStorage implements ParleyStorage {
  readonly #values = new Map<string, string>();

  async load(key: string): Promise<unknown | undefined> {
    const text = this.#values.get(key);
    // Stored as text so that a caller can never change a saved value through a reference.
    return text === undefined ? undefined : JSON.parse(text);
  }

  async save(key: string, value: unknown): Promise<void> {
    this.#values.set(key, JSON.stringify(value));
  }

  async remove(key: string): Promise<void> {
    this.#values.delete(key);
  }
}
