/**
 * A {@link ParleyStorage} over the browser's IndexedDB, so a client's state and outbox
 * survive a reload of the page. Browser only: it imports nothing from Node.
 */
import type { ParleyStorage } from './index.js';

const STORE = 'kv';

function promised<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/**
 * Keeps the SDK's state in one IndexedDB object store, one record per key. Values must be
 * JSON-able (plain objects, arrays, strings, numbers, booleans, null); they are stored as
 * structured clones and come back as copies.
 *
 * The database is opened at the first call and kept open; a page that has several users
 * or devices gives each its own `dbName`.
 *
 * @example
 * ```ts
 * import { ParleyClient } from '@parley/sdk';
 * import { IndexedDbStorage } from '@parley/sdk/indexeddb-storage';
 *
 * const client = new ParleyClient({
 *   url: 'ws://127.0.0.1:3001',
 *   token: () => fetchToken(),
 *   deviceId: 'web-3f9a',
 *   storage: new IndexedDbStorage('parley-alice-web-3f9a'),
 * });
 * await client.connect(); // messages queued before a reload are sent now
 * ```
 */
export class IndexedDbStorage implements ParleyStorage {
  readonly #dbName: string;
  #db: Promise<IDBDatabase> | undefined;

  /**
   * @param dbName the IndexedDB database to use; created with its store when missing.
   *
   * @example
   * ```ts
   * const storage = new IndexedDbStorage(`parley-${userId}-${deviceId}`);
   * ```
   */
  constructor(dbName = 'parley') {
    this.#dbName = dbName;
  }

  /**
   * The value saved under `key`, or `undefined` if there is none.
   *
   * @example
   * ```ts
   * const outbox = (await storage.load('outbox')) ?? [];
   * ```
   */
  async load(key: string): Promise<unknown | undefined> {
    const store = await this.#store('readonly');
    return promised(store.get(key));
  }

  /**
   * Saves `value` under `key`, replacing what was there; resolves once the write is
   * committed.
   *
   * @example
   * ```ts
   * await storage.save('outbox', [{ clientMessageId: 'c1', body: 'hello' }]);
   * ```
   */
  async save(key: string, value: unknown): Promise<void> {
    const store = await this.#store('readwrite');
    const done = committed(store.transaction);
    store.put(value, key);
    await done;
  }

  /**
   * Deletes the value under `key`; removing a missing key is not an error.
   *
   * @example
   * ```ts
   * await storage.remove('outbox');
   * ```
   */
  async remove(key: string): Promise<void> {
    const store = await this.#store('readwrite');
    const done = committed(store.transaction);
    store.delete(key);
    await done;
  }

  /**
   * Closes the database connection; a later call opens it again.
   *
   * @example
   * ```ts
   * await client.close();
   * storage.close();
   * ```
   */
  close(): void {
    const db = this.#db;
    this.#db = undefined;
    void db?.then((opened) => opened.close()).catch(() => {});
  }

  async #store(mode: IDBTransactionMode): Promise<IDBObjectStore> {
    const db = await this.#open();
    return db.transaction(STORE, mode).objectStore(STORE);
  }

  #open(): Promise<IDBDatabase> {
    if (!this.#db) {
      const opening = new Promise<IDBDatabase>((resolve, reject) => {
        const request = indexedDB.open(this.#dbName, 1);
        request.onupgradeneeded = () => {
          if (!request.result.objectStoreNames.contains(STORE)) request.result.createObjectStore(STORE);
        };
        request.onsuccess = () => {
          const db = request.result;
          // Another tab upgrading the database asks us to let go; the next call reopens it.
          db.onversionchange = () => {
            db.close();
            if (this.#db === opening) this.#db = undefined;
          };
          resolve(db);
        };
        request.onerror = () => reject(request.error);
      });
      this.#db = opening;
      // A failed open is retried at the next call.
      opening.catch(() => {
        if (this.#db === opening) this.#db = undefined;
      });
    }
    return this.#db;
  }
}

function committed(transaction: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error ?? new Error('IndexedDB transaction aborted'));
  });
}
