/**
 * Push registrations and coalescing windows in memory, with the contract of
 * `DynamoDbPushRegistrationStore`: one registration per device, replaced by the next;
 * a window claimed at most once until it ends.
 */
import type { PushRegistration, PushRegistrationStore } from '../../../lambdas/domain/ports.js';

const key = (...parts: string[]) => parts.join('\u0000');

export class InMemoryPushRegistrationStore implements PushRegistrationStore {
  /** userId → deviceId → its registration. */
  readonly #registrations = new Map<string, Map<string, PushRegistration>>();
  /** userId, deviceId and conversationId → when the window claimed last ends. */
  readonly #windows = new Map<string, number>();

  async putRegistration(registration: PushRegistration): Promise<PushRegistration | undefined> {
    const devices = this.#registrations.get(registration.userId) ?? new Map<string, PushRegistration>();
    this.#registrations.set(registration.userId, devices);
    const replaced = devices.get(registration.deviceId);
    devices.set(registration.deviceId, structuredClone(registration));
    return replaced;
  }

  async deleteRegistration(userId: string, deviceId: string): Promise<PushRegistration | undefined> {
    const devices = this.#registrations.get(userId);
    const deleted = devices?.get(deviceId);
    devices?.delete(deviceId);
    return deleted;
  }

  async deleteRegistrationIfUnchanged(
    userId: string,
    deviceId: string,
    registeredAt: number,
  ): Promise<boolean> {
    const devices = this.#registrations.get(userId);
    if (devices?.get(deviceId)?.registeredAt !== registeredAt) return false;
    devices.delete(deviceId);
    return true;
  }

  async listRegistrations(userId: string): Promise<PushRegistration[]> {
    // DynamoDB answers a partition in sort key order: `device#{deviceId}`.
    return [...(this.#registrations.get(userId)?.values() ?? [])]
      .sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0))
      .map((registration) => structuredClone(registration));
  }

  async setPlatformEndpoint(
    userId: string,
    deviceId: string,
    registeredAt: number,
    endpointArn: string,
  ): Promise<void> {
    const registration = this.#registrations.get(userId)?.get(deviceId);
    if (registration?.registeredAt === registeredAt) registration.platformEndpointArn = endpointArn;
  }

  async claimPushWindow(
    userId: string,
    deviceId: string,
    conversationId: string,
    now: number,
    windowMs: number,
  ): Promise<boolean> {
    const windowKey = key(userId, deviceId, conversationId);
    const endsAt = this.#windows.get(windowKey);
    if (endsAt !== undefined && endsAt > now) return false;
    this.#windows.set(windowKey, now + windowMs);
    return true;
  }

  async removeAllForUser(userId: string): Promise<PushRegistration[]> {
    const removed = await this.listRegistrations(userId);
    this.#registrations.delete(userId);
    for (const windowKey of this.#windows.keys()) {
      if (windowKey.startsWith(key(userId, ''))) this.#windows.delete(windowKey);
    }
    return removed;
  }
}
