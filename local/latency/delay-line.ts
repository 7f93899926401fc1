/**
 * A one-way line with a delay per item that keeps the order items entered it: an item leaves
 * after its own delay, but never before the items ahead of it, as frames on one TCP
 * connection arrive in the order they were sent however long each took.
 */
export class DelayLine {
  readonly #queue: Array<{ dueAt: number; deliver: () => void }> = [];
  #timer: NodeJS.Timeout | undefined;
  #lastDueAt = 0;

  /** Delivers now when `delayMs` is 0 and nothing waits ahead; else after `delayMs`, in order. */
  push(delayMs: number, deliver: () => void): void {
    const dueAt = Math.max(Date.now() + delayMs, this.#lastDueAt);
    if (delayMs <= 0 && this.#queue.length === 0) {
      deliver();
      return;
    }
    this.#lastDueAt = dueAt;
    this.#queue.push({ dueAt, deliver });
    if (this.#queue.length === 1) this.#arm();
  }

  /** Drops every item not yet delivered: the connection they travel on has closed. */
  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
    this.#lastDueAt = 0;
  }

  get waiting(): number {
    return this.#queue.length;
  }

  #arm(): void {
    const head = this.#queue[0];
    if (!head) return;
    this.#timer = setTimeout(() => this.#deliverDue(), Math.max(0, head.dueAt - Date.now()));
  }

  #deliverDue(): void {
    this.#timer = undefined;
    const now = Date.now();
    while (this.#queue.length > 0 && (this.#queue[0] as { dueAt: number }).dueAt <= now) {
      (this.#queue.shift() as { deliver: () => void }).deliver();
    }
    this.#arm();
  }
}
