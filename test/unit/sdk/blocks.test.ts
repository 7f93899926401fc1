/** Blocking in the SDK (protocol 1.3), against a fake server the test drives. */
import { ParleyErrorCode } from '@parley/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import {
  answerCatchUp,
  BOB,
  CAROL,
  cleanUpSdkTest,
  connectedClient,
  record,
  until,
} from './support/clients.js';
import { startFakeServer } from './support/fake-server.js';

afterEach(cleanUpSdkTest);

describe('blocking', () => {
  it('blocks with a frame, resolves on the answer, and reports the change', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const changes = record(client, 'block');

    const blocking = client.block(BOB);
    const frame = await connection.nextFrame();
    connection.answer(frame, { type: 'blocked', userId: BOB });
    await blocking;

    expect(frame).toEqual({ action: 'block', requestId: expect.any(String), userId: BOB });
    expect(client.isBlocked(BOB)).toBe(true);
    expect(changes).toEqual([{ userId: BOB, blocked: true }]);
  });

  it('follows the blocked and unblocked events another device of the user causes', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const changes = record(client, 'block');

    connection.send({ type: 'blocked', userId: CAROL });
    await until(client, () => client.isBlocked(CAROL));
    connection.send({ type: 'unblocked', userId: CAROL });
    await until(client, () => !client.isBlocked(CAROL));

    expect(changes).toEqual([
      { userId: CAROL, blocked: true },
      { userId: CAROL, blocked: false },
    ]);
  });

  it('reads every page of the list, and reads it again after a reconnect', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    const listing = client.blocks();
    const first = await connection.nextFrame();
    connection.answer(first, { type: 'blocks', userIds: [BOB], hasMore: true });
    const second = await connection.nextFrame();
    connection.answer(second, { type: 'blocks', userIds: [CAROL], hasMore: false });
    const listed = await listing;
    connection.drop();
    const next = await server.nextConnection();
    await answerCatchUp(next);
    const again = await next.nextFrame();
    next.answer(again, { type: 'blocks', userIds: [CAROL], hasMore: false });
    await until(client, () => !client.isBlocked(BOB));

    expect(first).toEqual({ action: 'blocks', requestId: expect.any(String) });
    expect(second).toEqual({ action: 'blocks', requestId: expect.any(String), after: BOB });
    expect(listed).toEqual([BOB, CAROL]);
    expect(again).toMatchObject({ action: 'blocks' });
    expect(client.isBlocked(CAROL)).toBe(true);
  });

  it('rejects with the server’s error and changes nothing', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    const blocking = client.block(BOB);
    const frame = await connection.nextFrame();
    connection.answer(frame, {
      type: 'error',
      code: 'bad_request',
      message: 'userId: must be another user than the caller',
    });

    await expect(blocking).rejects.toMatchObject({ code: ParleyErrorCode.BadRequest });
    expect(client.isBlocked(BOB)).toBe(false);
  });
});
