/**
 * Node only: keeps each key in a JSON file of its own in a folder, written to a temporary
 * file and renamed into place, so that a crash mid-write leaves the previous value whole.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ParleyStorage } from './storage.js';

/**
 * Storage in a folder of JSON files, for clients that run in Node.
 *
 * @example
 * import { FileStorage } from '@parley/sdk/file-storage';
 * const client = new ParleyClient({ url, token, deviceId: 'cli', storage: new FileStorage('.parley') });
 */
export class FileStorage implements ParleyStorage {
  readonly #folder: string;
  #writes = 0;

  constructor(folder: string) {
    this.#folder = folder;
  }

  #pathOf(key: string): string {
    return join(this.#folder, `${encodeURIComponent(key)}.json`);
  }

  async load(key: string): Promise<unknown | undefined> {
    try {
      return JSON.parse(await readFile(this.#pathOf(key), 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async save(key: string, value: unknown): Promise<void> {
    await mkdir(this.#folder, { recursive: true });
    const path = this.#pathOf(key);
    const temporary = `${path}.${process.pid}.${++this.#writes}.tmp`;
    await writeFile(temporary, JSON.stringify(value));
    await rename(temporary, path);
  }

  async remove(key: string): Promise<void> {
    await rm(this.#pathOf(key), { force: true });
  }
}
