/**
 * A connection for the unit tests of the client's parts that make requests (catch-up,
 * receipts…): each request waits until the test answers it or fails it, in the order made.
 */
import type { ServerFrame } from '@parley/protocol';

export interface ScriptedRequest {
  frame: Record<string, unknown>;
  answer: (frame: object) => void;
  fail: (error: Error) => void;
}

/** A connection whose requests wait until the test answers them, in the order made. */
export class ScriptedConnection {
  isOpen = true;
  /** The frames sent without waiting for an answer, in order. */
  readonly sent: Array<Record<string, unknown>> = [];
  readonly #requests: ScriptedRequest[] = [];
  #waiter: ((request: ScriptedRequest) => void) | undefined;

  request<Answer extends ServerFrame>(frame: Record<string, unknown>): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      const answer = (reply: object) => resolve({ requestId: 'r', ...reply } as Answer);
      const request = { frame, answer, fail: reject };
      const waiter = this.#waiter;
      this.#waiter = undefined;
      if (waiter) waiter(request);
      else this.#requests.push(request);
    });
  }

  /** Sends a frame that gets no answer; false when not open, as the real connection. */
  send(frame: Record<string, unknown>): boolean {
    if (!this.isOpen) return false;
    this.sent.push(frame);
    return true;
  }

  /** The oldest request not taken yet, or the next one made. */
  next(): Promise<ScriptedRequest> {
    const request = this.#requests.shift();
    if (request) return Promise.resolve(request);
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  get unanswered(): number {
    return this.#requests.length;
  }
}
