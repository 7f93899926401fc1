/**
 * The SDK sends with `"echo": false` (protocol 1.5): the server posts no `message` event of
 * its own send back to the sending connection, so the device takes its message from the
 * `sent` answer alone, and still orders by seq and fills gaps as for any message.
 */
import { describeZodError, pingFrameSchema } from '@parley/protocol';
import { MessageStatus } from '@parley/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BOB,
  cleanUpSdkTest,
  connectedClient,
  expectNothingSent,
  processed,
  until,
  WITH_BOB,
} from './support/clients.js';
import type { ClientFrame, FakeConnection } from './support/fake-server.js';
import { startFakeServer } from './support/fake-server.js';
import { errorAnswer, message, messageEvent, sentAnswer, storedFrom } from './support/frames.js';

afterEach(cleanUpSdkTest);

/** The next frame of `action` the client sends; the frames before it (delivered acks) are left aside. */
async function nextFrameOf(connection: FakeConnection, action: string): Promise<ClientFrame> {
  for (;;) {
    const frame = await connection.nextFrame();
    if (frame.action === action) return frame;
  }
}

describe('a message sent without echo', () => {
  it('asks for no echo, and shows the message once, with its seq, from the sent answer alone', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    const written = await client.send({ to: BOB }, 'hello');
    const send = await connection.nextFrame();
    connection.answer(send, sentAnswer(send, 1));
    await until(client, () => client.messages(WITH_BOB)[0]?.status === MessageStatus.Sent);

    expect(send).toMatchObject({ action: 'send', to: BOB, body: 'hello', echo: false });
    expect(client.messages(WITH_BOB)).toEqual([
      expect.objectContaining({
        seq: 1,
        clientMessageId: written.clientMessageId,
        body: 'hello',
        mine: true,
        status: MessageStatus.Sent,
      }),
    ]);
    // Nothing missing, nothing to ask: no sync.
    await expectNothingSent(connection, client);
  });

  it('fills the gap its own seq shows when other members wrote in between, and drops a late echo', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    connection.send(messageEvent(message(1)));
    await processed(connection, client);

    await client.send({ to: BOB }, 'mine');
    const send = await nextFrameOf(connection, 'send');
    // Bob's seq 2 never reached this device; its own message took seq 3.
    connection.answer(send, sentAnswer(send, 3));
    const sync = await nextFrameOf(connection, 'sync');
    connection.answer(sync, {
      type: 'history',
      conversationId: WITH_BOB,
      messages: [message(2), storedFrom(send, 3)],
      lastSeq: 3,
      hasMore: false,
      receipts: [],
    });
    await until(client, () => client.messages(WITH_BOB).length === 3);
    // A repeat of its own message (a resend's, say) changes nothing.
    connection.send(messageEvent(storedFrom(send, 3)));
    await processed(connection, client);

    expect(send).toMatchObject({ echo: false });
    expect(sync).toMatchObject({ action: 'sync', conversationId: WITH_BOB, afterSeq: 1 });
    expect(client.messages(WITH_BOB).map((shown) => [shown.seq, shown.senderId, shown.body])).toEqual([
      [1, 'bob', 'message 1'],
      [2, 'bob', 'message 2'],
      [3, 'alice', 'mine'],
    ]);
  });

  it('sends as 1.4 did, at once and from then on, when a server older than 1.5 refuses the field', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    // What a 1.0 to 1.4 server answers: its strict frame schema, as every action's today, names the field.
    const parsed = pingFrameSchema.safeParse({ action: 'ping', requestId: 'r1', echo: false });
    const unknownField = parsed.success ? 'parsed' : describeZodError(parsed.error);

    const first = await client.send({ to: BOB }, 'one');
    const refused = await nextFrameOf(connection, 'send');
    connection.answer(refused, errorAnswer(refused, 'bad_request', unknownField));
    const resent = await nextFrameOf(connection, 'send');
    connection.answer(resent, sentAnswer(resent, 1));
    await until(client, () => client.messages(WITH_BOB)[0]?.status === MessageStatus.Sent);
    await client.send({ to: BOB }, 'two');
    const next = await nextFrameOf(connection, 'send');
    connection.answer(next, sentAnswer(next, 2));
    await until(client, () => client.messages(WITH_BOB)[1]?.status === MessageStatus.Sent);

    expect(refused).toMatchObject({ clientMessageId: first.clientMessageId, echo: false });
    expect(resent).toMatchObject({ clientMessageId: first.clientMessageId });
    expect(resent).not.toHaveProperty('echo');
    expect(next).not.toHaveProperty('echo');
    expect(client.messages(WITH_BOB).map((shown) => [shown.seq, shown.body, shown.status])).toEqual([
      [1, 'one', MessageStatus.Sent],
      [2, 'two', MessageStatus.Sent],
    ]);
  });

  it('still fails a message that any server refuses for what it says', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    await client.send({ to: BOB }, 'one');
    const refused = await nextFrameOf(connection, 'send');
    connection.answer(refused, errorAnswer(refused, 'bad_request', 'body: must be 1 to 4096 characters'));
    await until(client, () => client.messages(WITH_BOB)[0]?.status === MessageStatus.Failed);

    expect(refused).toMatchObject({ echo: false });
    await expectNothingSent(connection, client);
  });
});
