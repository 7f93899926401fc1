/**
 * A protocol-level WebSocket client: sends frames, awaits answers by requestId and events
 * by predicate, with no sleeps. The benchmarks that take one step at a time (catch-up,
 * spine) and the end-to-end tests (`test/support/ws-client.ts`) both speak through it;
 * the load generator keeps a leaner socket loop of its own.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

export type Frame = Record<string, unknown> & { type: string };

interface Waiter {
  predicate: (frame: Frame) => boolean;
  resolve: (frame: Frame) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export class FrameClient {
  /** Every frame received, in arrival order. */
  readonly received: Frame[] = [];
  readonly #socket: WebSocket;
  #waiters: Waiter[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      this.received.push(frame);
      for (const waiter of [...this.#waiters]) {
        if (waiter.predicate(frame)) {
          clearTimeout(waiter.timer);
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          waiter.resolve(frame);
        }
      }
    });
    this.closed = new Promise((resolve) =>
      socket.once('close', (code, reason) => {
        for (const waiter of this.#waiters) {
          clearTimeout(waiter.timer);
          waiter.reject(new Error(`connection closed (${code}) while waiting`));
        }
        this.#waiters = [];
        resolve({ code, reason: reason.toString() });
      }),
    );
  }

  /** Opens a connection; rejects with the HTTP status when the upgrade is refused. */
  static connect(url: string, query: Record<string, string | undefined>): Promise<FrameClient> {
    const target = new URL(url);
    for (const [key, value] of Object.entries(query))
      if (value !== undefined) target.searchParams.set(key, value);
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(target);
      socket.once('open', () => resolve(new FrameClient(socket)));
      socket.once('unexpected-response', (_request, response) => {
        reject(
          Object.assign(new Error(`upgrade refused: ${response.statusCode}`), {
            status: response.statusCode,
          }),
        );
        socket.terminate();
      });
      socket.once('error', reject);
    });
  }

  get isOpen(): boolean {
    return this.#socket.readyState === WebSocket.OPEN;
  }

  sendRaw(data: string): void {
    this.#socket.send(data);
  }

  /** Waits for a frame, counting frames already received that match. */
  waitFor(predicate: (frame: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    const seen = this.received.find(predicate);
    if (seen) return Promise.resolve(seen);
    return this.next(predicate, timeoutMs);
  }

  /** Waits for the next frame that matches, ignoring those received before. */
  next(predicate: (frame: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.timer !== timer);
        reject(
          new Error(
            `no matching frame within ${timeoutMs} ms; received ${JSON.stringify(this.received.slice(-5))}`,
          ),
        );
      }, timeoutMs);
      this.#waiters.push({ predicate, resolve, reject, timer });
    });
  }

  /** Sends a frame (with a fresh requestId unless given) and resolves with its answer. */
  request(frame: Record<string, unknown>, timeoutMs = 10_000): Promise<Frame> {
    const requestId = (frame.requestId as string | undefined) ?? randomUUID();
    const answer = this.next((f) => f.requestId === requestId && f.type !== 'message', timeoutMs);
    this.sendRaw(JSON.stringify({ ...frame, requestId }));
    return answer;
  }

  /** Waits until `count` distinct message seqs of the conversation have arrived. */
  async messagesOf(conversationId: string, count: number, timeoutMs = 15_000): Promise<Frame[]> {
    const distinct = () => {
      const bySeq = new Map<number, Frame>();
      for (const f of this.received) {
        if (f.type === 'message' && f.conversationId === conversationId) bySeq.set(f.seq as number, f);
      }
      return [...bySeq.values()].sort((a, b) => (a.seq as number) - (b.seq as number));
    };
    const deadline = Date.now() + timeoutMs;
    while (distinct().length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`only ${distinct().length} of ${count} messages arrived`);
      await this.next((f) => f.type === 'message' && f.conversationId === conversationId, left).catch(
        () => undefined,
      );
    }
    return distinct();
  }

  async close(): Promise<void> {
    if (this.#socket.readyState === WebSocket.CLOSED) return;
    this.#socket.close();
    await this.closed;
  }
}
