import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_JWT_SECRET } from '../../lambdas/config.js';
import { mintToken } from '../../lambdas/domain/tokens.js';
import type { RunningLocalStack } from '../../local/stack.js';
import { startTestStack, uniqueId } from '../support/stack.js';
import { TestClient } from '../support/ws-client.js';

describe('the WebSocket handshake', () => {
  let stack: RunningLocalStack;
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(async () => {
    await stack.stop();
  });

  const refusal = (query: Record<string, string | undefined>) =>
    TestClient.connect(stack.url, query).then(
      async (client) => {
        await client.close();
        return 'opened';
      },
      (error: { status?: number }) => error.status,
    );

  it('refuses a handshake without a token with 401', async () => {
    expect(await refusal({ deviceId: 'phone' })).toBe(401);
  });

  it('refuses a token signed with another secret with 401', async () => {
    const forged = await mintToken('alice', 'not-the-secret');
    expect(await refusal({ token: forged, deviceId: 'phone' })).toBe(401);
  });

  it('refuses an expired token with 401', async () => {
    const expired = await mintToken('alice', LOCAL_JWT_SECRET, {
      expiresIn: Math.floor(Date.now() / 1000) - 60,
    });
    expect(await refusal({ token: expired, deviceId: 'phone' })).toBe(401);
  });

  it('refuses a token whose subject is not a valid user id with 401', async () => {
    const token = await mintToken('not a user!', LOCAL_JWT_SECRET);
    expect(await refusal({ token, deviceId: 'phone' })).toBe(401);
  });

  it('refuses a missing or malformed deviceId with 400', async () => {
    const token = await mintToken('alice', LOCAL_JWT_SECRET);
    expect(await refusal({ token })).toBe(400);
    expect(await refusal({ token, deviceId: 'has space' })).toBe(400);
    expect(await refusal({ token, deviceId: 'x'.repeat(65) })).toBe(400);
  });

  it('opens a connection for a valid token and deviceId and answers ping', async () => {
    const token = await mintToken(uniqueId('u'), LOCAL_JWT_SECRET, { expiresIn: '1h' });
    const client = await TestClient.connect(stack.url, { token, deviceId: 'phone_1-A' });
    const pong = await client.request({ action: 'ping', requestId: 'p1' });
    expect(pong).toEqual({ type: 'pong', requestId: 'p1' });
    await client.close();
  });
});

describe('the WebSocket handshake with an issuer and an audience configured', () => {
  const ISSUER = 'https://id.parley.example';
  const AUDIENCE = 'parley-api';
  let stack: RunningLocalStack;
  beforeAll(async () => {
    stack = await startTestStack({ jwtIssuer: ISSUER, jwtAudience: AUDIENCE });
  });
  afterAll(async () => {
    await stack.stop();
  });

  const outcome = (token: string) =>
    TestClient.connect(stack.url, { token, deviceId: 'phone' }).then(
      async (client) => {
        await client.close();
        return 'opened';
      },
      (error: { status?: number }) => error.status,
    );
  const tokenFor = (
    claims: { issuer?: string; audience?: string; expiresIn?: string | number },
    secret = LOCAL_JWT_SECRET,
  ) => mintToken(uniqueId('alice'), secret, claims);

  it('opens a connection for a token from that issuer for that audience', async () => {
    expect(await outcome(await tokenFor({ issuer: ISSUER, audience: AUDIENCE, expiresIn: '1h' }))).toBe(
      'opened',
    );
  });

  it.each([
    ['from another issuer', { issuer: 'https://evil.example', audience: AUDIENCE }],
    ['without an issuer', { audience: AUDIENCE }],
    ['for another audience', { issuer: ISSUER, audience: 'other-api' }],
    ['without an audience', { issuer: ISSUER }],
    ['that expired', { issuer: ISSUER, audience: AUDIENCE, expiresIn: Math.floor(Date.now() / 1000) - 60 }],
  ])('refuses a token %s with 401', async (_case, claims) => {
    expect(await outcome(await tokenFor(claims))).toBe(401);
  });

  it('refuses a token with the right claims signed with another key with 401', async () => {
    const forged = await tokenFor({ issuer: ISSUER, audience: AUDIENCE, expiresIn: '1h' }, 'not-the-secret');
    expect(await outcome(forged)).toBe(401);
  });
});
