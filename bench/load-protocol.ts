/**
 * What the benchmark's process and its load generator (`load-client.ts`, a child process
 * of its own so that the clients' CPU is not the server's) say to each other over IPC.
 */

export interface DeviceSpec {
  userId: string;
  deviceId: string;
  /** The query string of the WebSocket URL: the token and device id for Parley, the ids for the relay. */
  query: Record<string, string>;
}

export type LoadCommand =
  | { kind: 'connect'; url: string; devices: DeviceSpec[]; concurrency: number }
  | {
      kind: 'run';
      tag: string;
      /** Messages a second, sent open-loop: each at its due time, whatever the answers. */
      rate: number;
      durationMs: number;
      seed: number;
      bodyChars: number;
      /** After the last send, how long to wait for the last delivery. */
      drainTimeoutMs: number;
      /** The first message of each pair goes to that pair, so every conversation is warm. */
      coverAllPairs: boolean;
      /**
       * The recipient's first device acks each message `delivered` after the SDK's ack window,
       * then `read` once its own receipt confirms that, both without `requestId` as the SDK
       * sends them: one ack of each kind per message, as docs/capacity.md §1 assumes.
       */
      acks?: boolean;
    }
  | {
      kind: 'groupRun';
      tag: string;
      /** The group (`grp:…`) and its members' user ids: every connected device of theirs receives. */
      conversationId: string;
      members: string[];
      /** Messages sent one at a time: the next goes once every device has the last, or the wait ended. */
      messages: number;
      seed: number;
      bodyChars: number;
      /** How long to wait for every device to have one message before sending the next anyway. */
      deliveryTimeoutMs: number;
    }
  | { kind: 'disconnect' };

export interface SentMessage {
  clientMessageId: string;
  /** The pair of users (0 in a group run). */
  pair: number;
  from: string;
  /** The peer's user id, or the group's conversation id in a group run. */
  to: string;
  /** Index of the sending device in the connect command's `devices`. */
  fromDevice: number;
  /** When the message was due, and when it went out (ms since the epoch, see `clock.ts`). */
  due: number;
  sentAt: number;
  /** When the `sent` answer (or an error) came back. */
  answeredAt?: number;
  error?: string;
}

export interface RunResult {
  tag: string;
  rate: number;
  messages: SentMessage[];
  /** [message index, device index, arrival time] for every device but the sending one. */
  receives: Array<[number, number, number]>;
  /**
   * Message frames that reached the sending device itself: none for a one-to-one send, which
   * asks for no echo (protocol 1.5); one for a group send, which keeps it.
   */
  echoes: number;
  /** The same message arriving twice on one device. */
  duplicates: number;
  /** Receives and answers still missing when the wait ended. */
  missingReceives: number;
  missingAnswers: number;
  drainedAt: number;
}

export type LoadReply =
  | { kind: 'connected'; devices: number; ms: number }
  | { kind: 'ran'; result: RunResult }
  | { kind: 'disconnected' }
  | { kind: 'failed'; message: string };
