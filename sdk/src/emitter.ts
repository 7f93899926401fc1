/**
 * A small typed event emitter: each event name has one payload type, and `on` returns the
 * function that removes the listener.
 */
export class TypedEmitter<Events extends Record<string, unknown>> {
  readonly #listeners = new Map<keyof Events, Set<(payload: never) => void>>();

  /**
   * Calls `listener` with every `event` until the returned function is called.
   *
   * @example
   * const off = client.on('state', (state) => console.log(state));
   * off();
   */
  on<Name extends keyof Events>(event: Name, listener: (payload: Events[Name]) => void): () => void {
    let listeners = this.#listeners.get(event);
    if (!listeners) {
      listeners = new Set();
      this.#listeners.set(event, listeners);
    }
    listeners.add(listener as (payload: never) => void);
    return () => this.off(event, listener);
  }

  /**
   * Removes a listener added with `on`.
   *
   * @example
   * client.off('message', onMessage);
   */
  off<Name extends keyof Events>(event: Name, listener: (payload: Events[Name]) => void): void {
    this.#listeners.get(event)?.delete(listener as (payload: never) => void);
  }

  protected emit<Name extends keyof Events>(event: Name, payload: Events[Name]): void {
    for (const listener of [...(this.#listeners.get(event) ?? [])]) {
      try {
        (listener as (payload: Events[Name]) => void)(payload);
      } catch (error) {
        // A listener's bug must not break the client; surface it where a developer looks.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
