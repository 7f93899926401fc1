/**
 * A WebSocket server the test controls, for the SDK's unit tests (after centrifuge-js
 * `fakeServer.ts`): it listens on a free port of 127.0.0.1, hands each connection to the
 * test, and does only what the test tells it: answer, answer late, answer twice, drop the
 * connection, refuse new ones. It verifies nothing: the token is only read back.
 *
 * Every server and connection is tracked; `closeFakeServers()` in `afterEach` ends them
 * all and frees the ports.
 */
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';

/** A frame the client sent, parsed. */
export type ClientFrame = Record<string, unknown> & { action: string; requestId?: string };

/** Hands out items in arrival order; `next()` waits when none is there. */
class AsyncQueue<Item> {
  readonly #items: Item[] = [];
  #waiters: Array<{ resolve: (item: Item) => void; reject: (error: Error) => void }> = [];
  #ended: Error | undefined;

  push(item: Item): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(item);
    else this.#items.push(item);
  }

  next(): Promise<Item> {
    if (this.#items.length > 0) return Promise.resolve(this.#items.shift() as Item);
    if (this.#ended) return Promise.reject(this.#ended);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** How many items wait to be taken. */
  get size(): number {
    return this.#items.length;
  }

  /** Fails the waiting `next()` calls (and later ones once the queue is empty) with `error`. */
  end(error: Error): void {
    this.#ended = error;
    for (const waiter of this.#waiters) waiter.reject(error);
    this.#waiters = [];
  }
}

/** One connection the server accepted. */
export class FakeConnection {
  /** The handshake's query parameters. */
  readonly query: URLSearchParams;
  /** Every frame received, in arrival order, taken by `nextFrame()` or not. */
  readonly frames: ClientFrame[] = [];
  /** Resolves once the connection is closed, whoever closed it. */
  readonly closed: Promise<void>;
  /** The close code the server saw, once closed (1006 when the connection was cut). */
  closeCode: number | undefined;
  readonly #socket: WebSocket;
  readonly #unread = new AsyncQueue<ClientFrame>();

  constructor(socket: WebSocket, query: URLSearchParams) {
    this.#socket = socket;
    this.query = query;
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as ClientFrame;
      this.frames.push(frame);
      this.#unread.push(frame);
    });
    this.closed = new Promise((resolve) =>
      socket.once('close', (code) => {
        this.closeCode = code;
        this.#unread.end(new Error('the connection closed while the test waited for a frame'));
        resolve();
      }),
    );
  }

  /** The `token` query parameter. */
  get token(): string | null {
    return this.query.get('token');
  }

  /** The `deviceId` query parameter. */
  get deviceId(): string | null {
    return this.query.get('deviceId');
  }

  get isOpen(): boolean {
    return this.#socket.readyState === this.#socket.OPEN;
  }

  /** The next frame not taken yet (waits for it); rejects if the connection closes first. */
  nextFrame(): Promise<ClientFrame> {
    return this.#unread.next();
  }

  /** How many received frames no `nextFrame()` has taken yet. */
  get unreadCount(): number {
    return this.#unread.size;
  }

  send(frame: object): void {
    this.#socket.send(JSON.stringify(frame));
  }

  /** Sends `frame` as the answer to `request` (echoing its requestId). */
  answer(request: ClientFrame, frame: object): void {
    this.send({ ...frame, requestId: request.requestId });
  }

  /** Cuts the connection with no closing handshake, as a lost network does. */
  drop(): void {
    this.#socket.terminate();
  }
}

export class FakeServer {
  /** `ws://127.0.0.1:{port}`. */
  readonly url: string;
  /** Every connection accepted, in order. */
  readonly connections: FakeConnection[] = [];
  /** Handshakes seen, refused ones included. */
  handshakes = 0;
  /** While true, handshakes are refused with `refusalStatus`, by default 503, as a server that is down. */
  refusing = false;
  refusalStatus = 503;
  readonly #server: WebSocketServer;
  readonly #accepted = new AsyncQueue<FakeConnection>();

  private constructor(server: WebSocketServer) {
    this.#server = server;
    this.url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
    server.on('connection', (socket, request) => {
      const query = new URL(request.url ?? '/', 'http://127.0.0.1').searchParams;
      const connection = new FakeConnection(socket, query);
      this.connections.push(connection);
      this.#accepted.push(connection);
    });
  }

  /** Starts a server on a free port of 127.0.0.1. */
  static async start(): Promise<FakeServer> {
    const server = await new Promise<WebSocketServer>((resolve, reject) => {
      const created: WebSocketServer = new WebSocketServer(
        {
          host: '127.0.0.1',
          port: 0,
          verifyClient: (_info, callback) => {
            const fake = servers.get(created);
            if (fake) fake.handshakes += 1;
            if (fake?.refusing) callback(false, fake.refusalStatus, 'refused');
            else callback(true);
          },
        },
        () => resolve(created),
      );
      created.once('error', reject);
    });
    const fake = new FakeServer(server);
    servers.set(server, fake);
    return fake;
  }

  /** The next connection accepted (waits for it). */
  nextConnection(): Promise<FakeConnection> {
    return this.#accepted.next();
  }

  /** Ends every connection and frees the port. */
  async close(): Promise<void> {
    servers.delete(this.#server);
    this.#accepted.end(new Error('the server closed while the test waited for a connection'));
    for (const socket of this.#server.clients) socket.terminate();
    await Promise.all(this.connections.map((connection) => connection.closed));
    await new Promise<void>((resolve, reject) =>
      this.#server.close((error) => (error ? reject(error) : resolve())),
    );
  }
}

const servers = new Map<WebSocketServer, FakeServer>();

/** Starts a fake server, closed by `closeFakeServers()`. */
export function startFakeServer(): Promise<FakeServer> {
  return FakeServer.start();
}

/** Closes every fake server still running: call in `afterEach`. */
export async function closeFakeServers(): Promise<void> {
  await Promise.all([...servers.values()].map((server) => server.close()));
}
