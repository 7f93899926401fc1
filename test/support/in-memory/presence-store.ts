/**
 * Presence in memory, with the contract of `DynamoDbPresenceStore`: every connect bumps the
 * version and keeps the `lastSeen` of the record; a record online past its expiry does not
 * count as online before a connect; a disconnect holds only if the record is online at the
 * version read, and then drops the expiry (an offline record never expires); a read of
 * several users refuses a user named twice, as BatchGetItem does.
 */
import type { PresenceRecord, PresenceStore } from '../../../lambdas/domain/ports.js';

export class InMemoryPresenceStore implements PresenceStore {
  readonly #records = new Map<string, PresenceRecord>();

  async get(userId: string): Promise<PresenceRecord | undefined> {
    return structuredClone(this.#records.get(userId));
  }

  async getMany(userIds: string[]): Promise<PresenceRecord[]> {
    if (new Set(userIds).size < userIds.length) {
      throw new Error('ValidationException: Provided list of item keys contains duplicates');
    }
    return userIds
      .map((userId) => this.#records.get(userId))
      .filter((record) => record !== undefined)
      .map((record) => structuredClone(record));
  }

  async markOnline(
    userId: string,
    now: number,
    expiresAt: number,
  ): Promise<{ wasOnline: boolean; version: number }> {
    const before = this.#records.get(userId);
    const version = (before?.version ?? 0) + 1;
    this.#records.set(userId, {
      userId,
      online: true,
      lastSeen: before?.lastSeen ?? null,
      lastActiveAt: now,
      expiresAt,
      version,
    });
    return { wasOnline: !!before?.online && before.expiresAt > Math.floor(now / 1000), version };
  }

  async markOffline(userId: string, version: number, now: number): Promise<boolean> {
    const record = this.#records.get(userId);
    if (!record?.online || record.version !== version) return false;
    this.#records.set(userId, { ...record, online: false, lastSeen: now, expiresAt: 0 });
    return true;
  }

  /** Stores a record as it is, e.g. one a test says was left online by devices that died. */
  put(record: PresenceRecord): void {
    this.#records.set(record.userId, structuredClone(record));
  }
}
