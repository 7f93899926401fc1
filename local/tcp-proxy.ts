/**
 * A TCP proxy on a fixed port in front of an engine, so that the engine can be restarted
 * behind it while every client keeps its endpoint: while paused, it cuts every connection
 * and refuses new ones, as an outage looks from the client's side.
 */
import { createServer, type Socket, connect as tcpConnect } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Cuts every open connection and refuses new ones until `resume`. */
  pause(): void;
  /** Forwards new connections to `targetPort` from now on. */
  resume(targetPort: number): void;
  stop(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let target = targetPort;
  let paused = false;
  const open = new Set<Socket>();
  const track = (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  };
  const server = createServer((client) => {
    if (paused) {
      client.destroy();
      return;
    }
    const upstream = tcpConnect(target, '127.0.0.1');
    track(client);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    // Either side failing ends both: the client sees its connection reset, as in an outage.
    client.once('error', () => upstream.destroy());
    upstream.once('error', () => client.destroy());
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('the proxy has no port');
  return {
    port: address.port,
    pause() {
      paused = true;
      for (const socket of open) socket.destroy();
    },
    resume(targetPort: number) {
      target = targetPort;
      paused = false;
    },
    async stop() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
