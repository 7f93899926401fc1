/**
 * The floor: a plain WebSocket relay in the benchmark's process, where the local stack runs
 * too. It does what Parley's delivery does minus storage, the stream and the Lambda
 * plumbing: reads the `send` frame, answers `sent`, and writes one `message` frame to every
 * connection of both members (but the sending one when the send asks for no echo, as Parley
 * does). Whatever latency it shows is the cost of the machine, Node.js and WebSockets alone.
 */
import type { AddressInfo } from 'node:net';
import { directConversationId } from '@parley/protocol';
import { WebSocket, WebSocketServer } from 'ws';

export interface RunningRelay {
  url: string;
  stop(): Promise<void>;
}

export async function startRelay(): Promise<RunningRelay> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const socketsOf = new Map<string, Set<WebSocket>>();
  const seqOf = new Map<string, number>();

  server.on('connection', (socket, request) => {
    const query = new URL(request.url ?? '/', 'ws://relay').searchParams;
    const userId = query.get('userId') ?? '';
    const deviceId = query.get('deviceId') ?? '';
    const sockets = socketsOf.get(userId) ?? new Set<WebSocket>();
    sockets.add(socket);
    socketsOf.set(userId, sockets);
    socket.on('close', () => sockets.delete(socket));
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as {
        action?: string;
        requestId?: string;
        to?: string;
        clientMessageId?: string;
        body?: string;
        echo?: boolean;
      };
      if (frame.action !== 'send' || typeof frame.to !== 'string') return;
      const conversationId = directConversationId(userId, frame.to);
      const seq = (seqOf.get(conversationId) ?? 0) + 1;
      seqOf.set(conversationId, seq);
      const serverTs = Date.now();
      const message = JSON.stringify({
        type: 'message',
        conversationId,
        seq,
        messageId: `${conversationId}#${seq}`,
        clientMessageId: frame.clientMessageId,
        senderId: userId,
        senderDeviceId: deviceId,
        body: frame.body,
        serverTs,
      });
      socket.send(
        JSON.stringify({
          type: 'sent',
          requestId: frame.requestId,
          conversationId,
          clientMessageId: frame.clientMessageId,
          seq,
          serverTs,
          duplicate: false,
        }),
      );
      for (const member of [userId, frame.to]) {
        for (const peer of socketsOf.get(member) ?? []) {
          if (peer === socket && frame.echo === false) continue;
          if (peer.readyState === WebSocket.OPEN) peer.send(message);
        }
      }
    });
  });

  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}
