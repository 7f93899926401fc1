/**
 * Counts the invocations of one function that the local stack has finished serving, for a
 * test to await a count instead of a time: a frame that gets no answer (an `ack` without
 * `requestId`, any `typing` frame) shows no other sign of having been served.
 */
import type { FunctionId } from '../../definitions/functions.js';
import type { FunctionWrapper } from '../../local/stack.js';

export interface ServedInvocations {
  /** Give it to `useTestStack({ wrapFunction })`. */
  wrapFunction: FunctionWrapper;
  /** How many invocations have ended so far, answered or failed. */
  count(): number;
  /** Resolves once `count` invocations have ended. */
  until(count: number): Promise<void>;
}

export function servedInvocations(functionId: FunctionId): ServedInvocations {
  let served = 0;
  const watchers = new Set<() => void>();
  return {
    wrapFunction: (id, handler) => {
      if (id !== functionId) return handler;
      return async (event, context) => {
        try {
          return await handler(event, context);
        } finally {
          served++;
          for (const watcher of watchers) watcher();
        }
      };
    },
    count: () => served,
    until: (count) =>
      new Promise((resolve) => {
        const watcher = () => {
          if (served < count) return;
          watchers.delete(watcher);
          resolve();
        };
        watchers.add(watcher);
        watcher();
      }),
  };
}
