import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LOCAL_JWT_SECRET } from '../../lambdas/config.js';
import { mintToken } from '../../lambdas/domain/tokens.js';
import type { ParleyDeps } from '../../lambdas/runtime.js';
import type { RunningLocalStack } from '../../local/stack.js';
import { nodeArgsOfScript, REPOSITORY_ROOT } from '../support/npm-script.js';
import { startTestStack, uniqueId } from '../support/stack.js';
import { TestClient } from '../support/ws-client.js';

/** `opened`, or the HTTP status that refused the handshake of a device with `token`. */
const outcomeOf = (stack: RunningLocalStack, token: string) =>
  TestClient.connect(stack.url, { token, deviceId: 'phone' }).then(
    async (client) => {
      await client.close();
      return 'opened';
    },
    (error: { status?: number }) => error.status,
  );

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

  it('opens a connection for a token from npm run token', async () => {
    // prepare: the command as npm runs it, with the local stack's default key
    const { PARLEY_JWT_SECRET: _otherKey, ...environment } = process.env;
    const token = execFileSync(process.execPath, [...nodeArgsOfScript('token'), uniqueId('alice')], {
      cwd: REPOSITORY_ROOT,
      env: environment,
      encoding: 'utf8',
    }).trim();

    // act
    const client = await TestClient.connect(stack.url, { token, deviceId: 'phone' });

    // assess
    expect(await client.request({ action: 'ping', requestId: 'p1' })).toEqual({
      type: 'pong',
      requestId: 'p1',
    });
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

  const outcome = (token: string) => outcomeOf(stack, token);
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

describe('the WebSocket handshake with the web app’s origins configured', () => {
  const WEB_APP = 'http://127.0.0.1:3000';
  let stack: RunningLocalStack;
  beforeAll(async () => {
    stack = await startTestStack({ allowedOrigins: [WEB_APP] });
  });
  afterAll(async () => {
    await stack.stop();
  });

  /** The status of a handshake sent with `origin` (none when undefined), or 101 when it opens. */
  const statusFrom = async (origin: string | undefined) => {
    const token = await mintToken(uniqueId('u'), LOCAL_JWT_SECRET);
    return new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(`${stack.url}/?token=${token}&deviceId=phone`, origin ? { origin } : {});
      socket.once('open', () => {
        socket.terminate();
        resolve(101);
      });
      socket.once('unexpected-response', (_request, response) => {
        resolve(response.statusCode ?? 0);
        socket.terminate();
      });
      socket.once('error', reject);
    });
  };

  it('opens a connection for a page of the web app', async () => {
    expect(await statusFrom(WEB_APP)).toBe(101);
  });

  it('opens a connection for a client that sends no Origin, as native clients and the SDK in Node do', async () => {
    expect(await statusFrom(undefined)).toBe(101);
  });

  it.each(['https://evil.example', 'http://localhost:3000', 'http://127.0.0.1:3001', 'null'])(
    'refuses a page of %s with 403',
    async (origin) => {
      expect(await statusFrom(origin)).toBe(403);
    },
  );
});

describe('the WebSocket handshake with a maximum token age', () => {
  let stack: RunningLocalStack;
  beforeAll(async () => {
    stack = await startTestStack({ maxTokenAgeSeconds: 60 * 60 });
  });
  afterAll(async () => {
    await stack.stop();
  });

  const outcome = (token: string) => outcomeOf(stack, token);

  it('opens a connection for a token that lives exactly that long', async () => {
    expect(await outcome(await mintToken(uniqueId('u'), LOCAL_JWT_SECRET, { expiresIn: '1h' }))).toBe(
      'opened',
    );
  });

  it('refuses with 401 a fresh token that would live longer', async () => {
    expect(await outcome(await mintToken(uniqueId('u'), LOCAL_JWT_SECRET, { expiresIn: '61m' }))).toBe(401);
  });
});

describe('the WebSocket handshake while the local stack starts', () => {
  /** The status and Retry-After of a handshake, or 101 when it opens. */
  const handshake = (url: string) =>
    new Promise<{ status: number; retryAfter: string | undefined }>((resolve, reject) => {
      const socket = new WebSocket(url);
      socket.once('open', () => {
        socket.terminate();
        resolve({ status: 101, retryAfter: undefined });
      });
      socket.once('unexpected-response', (_request, response) => {
        resolve({ status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'] });
        socket.terminate();
      });
      socket.once('error', reject);
    });

  it('answers 503 with Retry-After until the tables, stream and mappings are there, then opens, also after a gateway restart', async () => {
    // prepare: a handshake the moment the gateway's address is known, and the tables made
    // only once it is answered, so that it certainly comes before the stack is ready
    const token = await mintToken(uniqueId('u'), LOCAL_JWT_SECRET);
    let early: Promise<{ status: number; retryAfter: string | undefined }> | undefined;
    const gateTables = (deps: ParleyDeps): ParleyDeps => {
      const gateway = deps.config.endpoints.connections?.replace(/^http/, 'ws');
      const url = `${gateway}/?token=${token}&deviceId=phone`;
      const answered = handshake(url);
      early = answered;
      const dynamodb = new Proxy(deps.clients.dynamodb, {
        get(target, key, receiver) {
          const value: unknown = Reflect.get(target, key, receiver);
          if (key !== 'send' || typeof value !== 'function') return value;
          return async (...args: unknown[]) => {
            await answered.catch(() => undefined);
            return value.apply(target, args);
          };
        },
      });
      return { ...deps, clients: { ...deps.clients, dynamodb } };
    };

    // act
    const stack = await startTestStack({ deps: { wrap: gateTables } });
    try {
      const later = await handshake(`${stack.url}/?token=${token}&deviceId=phone`);
      await stack.restartGateway();
      const afterRestart = await handshake(`${stack.url}/?token=${token}&deviceId=phone`);

      // assess: a gateway restarted once the stack is ready is ready at once
      expect(await early).toEqual({ status: 503, retryAfter: '1' });
      expect(later.status).toBe(101);
      expect(afterRestart.status).toBe(101);
    } finally {
      await stack.stop();
    }
  });
});
