/**
 * Presence in the SDK under consent (protocol 1.3): a user's presence shows only to those it
 * wrote to, so a first message may reveal what read as a stranger's, with no event to say so.
 */

import { afterEach, describe, expect, it, vi } from 'vitest';
import { CONSENT_SETTLE_MS } from '../../../sdk/src/presence.js';
import {
  BOB,
  cleanUpSdkTest,
  connectedClient,
  framesSentSoFar,
  processed,
  until,
  useFakeClock,
} from './support/clients.js';
import type { ClientFrame } from './support/fake-server.js';
import { startFakeServer } from './support/fake-server.js';
import { message, messageEvent } from './support/frames.js';

afterEach(cleanUpSdkTest);

const isPresenceRequest = (frame: ClientFrame) => frame.action === 'subscribePresence';
const stranger = { userId: BOB, online: false, lastSeen: null };

describe('presence after a message', () => {
  it('asks once more for a user read as a stranger once a burst of its messages arrives', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const subscribing = client.subscribePresence([BOB]);
    const first = await connection.nextFrame();
    connection.answer(first, { type: 'presence', users: [{ userId: BOB, online: false, lastSeen: null }] });
    await subscribing;

    for (const seq of [1, 2, 3]) connection.send(messageEvent(message(seq)));
    await processed(connection, client);
    const asked = (await framesSentSoFar(connection, client)).filter(isPresenceRequest);
    expect(asked).toEqual([{ action: 'subscribePresence', requestId: expect.any(String), userIds: [BOB] }]);
    connection.answer(asked[0] as ClientFrame, {
      type: 'presence',
      users: [{ userId: BOB, online: true, lastSeen: null }],
    });

    await until(client, () => client.presenceOf(BOB)?.online === true);
  });

  it('asks once more a little later while the answer still reads as a stranger’s, and then stops', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const subscribing = client.subscribePresence([BOB]);
    connection.answer(await connection.nextFrame(), { type: 'presence', users: [stranger] });
    await subscribing;
    useFakeClock();

    connection.send(messageEvent(message(1)));
    await processed(connection, client);
    const [asked] = (await framesSentSoFar(connection, client)).filter(isPresenceRequest);
    connection.answer(asked as ClientFrame, { type: 'presence', users: [stranger] });
    await processed(connection, client);
    expect((await framesSentSoFar(connection, client)).filter(isPresenceRequest)).toEqual([]);
    await vi.advanceTimersByTimeAsync(CONSENT_SETTLE_MS);
    const [again] = (await framesSentSoFar(connection, client)).filter(isPresenceRequest);
    connection.answer(again as ClientFrame, { type: 'presence', users: [stranger] });
    await processed(connection, client);
    await vi.advanceTimersByTimeAsync(CONSENT_SETTLE_MS);

    expect(again).toMatchObject({ action: 'subscribePresence', userIds: [BOB] });
    expect((await framesSentSoFar(connection, client)).filter(isPresenceRequest)).toEqual([]);
  });

  it('does not ask again for a user whose presence already shows', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);
    const subscribing = client.subscribePresence([BOB]);
    const first = await connection.nextFrame();
    connection.answer(first, { type: 'presence', users: [{ userId: BOB, online: false, lastSeen: 1_000 }] });
    await subscribing;

    connection.send(messageEvent(message(1)));
    await processed(connection, client);

    expect((await framesSentSoFar(connection, client)).filter(isPresenceRequest)).toEqual([]);
  });

  it('asks nothing of a user it does not follow', async () => {
    const server = await startFakeServer();
    const { client, connection } = await connectedClient(server);

    connection.send(messageEvent(message(1)));
    await processed(connection, client);

    expect((await framesSentSoFar(connection, client)).filter(isPresenceRequest)).toEqual([]);
  });
});
