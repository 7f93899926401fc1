/**
 * The local push service: plays both a browser and its push service (RFC 8030), so that
 * the local stack and the tests can see Web Push arrive without a browser or the internet.
 *
 * - `POST /subscriptions` (`{label?}`) makes a subscription as a browser would (a P-256 key
 *   pair and a 16-byte authentication secret, kept here) and answers it as
 *   `PushSubscription.toJSON()` does: `{endpoint, keys: {p256dh, auth}}`.
 * - `POST /push/{id}` is what a Web Push sender calls: VAPID (RFC 8292) is checked, the body
 *   decrypted (RFC 8291), read as a push payload, stored, and answered 201.
 * - `GET /subscriptions/{id}/pushes` lists what arrived (`arrivals`), what a device would
 *   still get (`pending`: a push with the `Topic` of an undelivered one replaces it), and
 *   what was refused (`refused`, with the reason).
 * - `POST /subscriptions/{id}/respond` (`{status, count?, retryAfterSeconds?}`) makes the
 *   next pushes (`count` of them, else all) answer that status: 404, 410, 429, 500…
 *
 * It listens on 127.0.0.1 and answers only requests addressed to a loopback name.
 */
import { createECDH, type ECDH, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type PushPayload, pushPayloadSchema } from '@parley/protocol';
import ece from 'http_ece';
import { checkVapid } from './vapid.js';

/** RFC 8030 §7.2: a push service must accept at least 4096 bytes of payload; more is refused, as most do. */
const MAX_PUSH_BYTES = 4096;
/** RFC 8030 §5.4: a Topic is at most 32 characters of the URL and filename safe base64 alphabet. */
const TOPIC = /^[A-Za-z0-9_-]{1,32}$/;

export interface PushServiceOptions {
  /** 0 picks a free port. */
  port: number;
  /** When set, a push must be signed with this VAPID key (the deployment's). */
  vapidPublicKey?: string;
  /** One line per push that arrives or is refused; none when absent. */
  log?: (line: string) => void;
  now?: () => number;
}

/** One push as the device would read it. */
export interface ArrivedPush {
  payload: PushPayload;
  ttl: number;
  topic?: string;
  urgency?: string;
  receivedAt: number;
}

export interface RefusedPush {
  status: number;
  reason: string;
  receivedAt: number;
}

export interface PushSubscriptionJson {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export interface SubscriptionPushes {
  arrivals: ArrivedPush[];
  pending: ArrivedPush[];
  refused: RefusedPush[];
}

export interface RunningPushService {
  /** `http://127.0.0.1:{port}`: the origin to allow in `PARLEY_PUSH_ENDPOINT_HOSTS`. */
  origin: string;
  port: number;
  stop(): Promise<void>;
}

interface Subscription {
  id: string;
  label: string;
  keys: ECDH;
  auth: Buffer;
  arrivals: ArrivedPush[];
  pending: ArrivedPush[];
  refused: RefusedPush[];
  /** The status the next pushes answer instead of being read, and for how many. */
  forced?: { status: number; remaining: number; retryAfterSeconds?: number };
}

class PushRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'PushRequestError';
  }
}

export async function startPushService(options: PushServiceOptions): Promise<RunningPushService> {
  const subscriptions = new Map<string, Subscription>();
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => {});
  let origin = '';

  const subscribe = async (request: IncomingMessage): Promise<PushSubscriptionJson> => {
    const body = jsonOf(await readBody(request, 1024));
    const label = typeof body.label === 'string' ? body.label : '';
    const keys = createECDH('prime256v1');
    keys.generateKeys();
    const subscription: Subscription = {
      id: randomUUID(),
      label,
      keys,
      auth: randomBytes(16),
      arrivals: [],
      pending: [],
      refused: [],
    };
    subscriptions.set(subscription.id, subscription);
    return {
      endpoint: `${origin}/push/${subscription.id}`,
      keys: {
        p256dh: keys.getPublicKey().toString('base64url'),
        auth: subscription.auth.toString('base64url'),
      },
    };
  };

  const receive = async (request: IncomingMessage, subscription: Subscription): Promise<ArrivedPush> => {
    const vapid = await checkVapid(request.headers.authorization, {
      audience: origin,
      ...(options.vapidPublicKey ? { publicKey: options.vapidPublicKey } : {}),
      now: now(),
    });
    if (!vapid.ok) throw new PushRequestError(vapid.status, vapid.reason);
    const ttl = Number(request.headers.ttl);
    if (request.headers.ttl === undefined || !Number.isInteger(ttl) || ttl < 0) {
      throw new PushRequestError(400, 'TTL header: required, a whole number of seconds');
    }
    const topic = header(request, 'topic');
    if (topic !== undefined && !TOPIC.test(topic)) {
      throw new PushRequestError(400, 'Topic header: at most 32 base64url characters');
    }
    if (header(request, 'content-encoding') !== 'aes128gcm') {
      throw new PushRequestError(400, 'Content-Encoding header: must be aes128gcm (RFC 8291)');
    }
    const body = await readBody(request, MAX_PUSH_BYTES);
    let plain: Buffer;
    try {
      plain = ece.decrypt(body, {
        version: 'aes128gcm',
        privateKey: subscription.keys,
        authSecret: subscription.auth,
      });
    } catch (error) {
      throw new PushRequestError(
        400,
        `the body cannot be decrypted for this subscription: ${(error as Error).message}`,
      );
    }
    const parsed = pushPayloadSchema.safeParse(jsonOrUndefined(plain.toString('utf8')));
    if (!parsed.success) {
      throw new PushRequestError(
        400,
        `the payload is not a push payload: ${parsed.error.issues[0]?.message}`,
      );
    }
    const urgency = header(request, 'urgency');
    return {
      payload: parsed.data,
      ttl,
      ...(topic ? { topic } : {}),
      ...(urgency ? { urgency } : {}),
      receivedAt: now(),
    };
  };

  const push = async (request: IncomingMessage, response: ServerResponse, subscription: Subscription) => {
    const forced = subscription.forced;
    if (forced && forced.remaining > 0) {
      forced.remaining -= 1;
      if (forced.remaining === 0) delete subscription.forced;
      request.resume();
      subscription.refused.push({ status: forced.status, reason: 'answered as told', receivedAt: now() });
      log(`push → ${subscription.label || subscription.id}: answered ${forced.status} as told`);
      const retryAfter = forced.retryAfterSeconds;
      response.writeHead(
        forced.status,
        retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {},
      );
      response.end();
      return;
    }
    try {
      const arrived = await receive(request, subscription);
      subscription.arrivals.push(arrived);
      // A push service keeps only the newest undelivered push of a topic.
      subscription.pending = subscription.pending.filter(
        (kept) => kept.topic === undefined || kept.topic !== arrived.topic,
      );
      subscription.pending.push(arrived);
      const { payload } = arrived;
      log(
        `push → ${subscription.label || subscription.id}: ${payload.conversationId} seq ${payload.seq} from ${payload.senderId}, ${payload.unread} unread: ${JSON.stringify(payload.text)}`,
      );
      response.writeHead(201, { location: `${origin}/messages/${randomUUID()}` });
      response.end();
    } catch (error) {
      const status = error instanceof PushRequestError ? error.status : 500;
      const reason = (error as Error).message;
      request.resume();
      subscription.refused.push({ status, reason, receivedAt: now() });
      log(`push → ${subscription.label || subscription.id}: refused ${status}, ${reason}`);
      sendJson(response, status, { error: reason });
    }
  };

  const respondWith = async (request: IncomingMessage, subscription: Subscription) => {
    const body = jsonOf(await readBody(request, 1024));
    const status = Number(body.status);
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      throw new PushRequestError(400, 'status: a number from 200 to 599');
    }
    const count = body.count === undefined ? Number.POSITIVE_INFINITY : Number(body.count);
    if (status === 201) delete subscription.forced;
    else {
      subscription.forced = {
        status,
        remaining: count,
        ...(typeof body.retryAfterSeconds === 'number' ? { retryAfterSeconds: body.retryAfterSeconds } : {}),
      };
    }
  };

  const server = createServer((request, response) => {
    route(request, response).catch((error: unknown) => {
      const status = error instanceof PushRequestError ? error.status : 500;
      if (!response.headersSent) sendJson(response, status, { error: (error as Error).message });
      else response.destroy();
    });
  });

  const route = async (request: IncomingMessage, response: ServerResponse) => {
    // Only requests addressed to this machine by name: a page of another site cannot reach
    // the service through DNS rebinding and tell it how to answer.
    const { port } = new URL(origin);
    if (request.headers.host !== `127.0.0.1:${port}` && request.headers.host !== `localhost:${port}`) {
      request.resume();
      sendJson(response, 403, { error: 'only requests addressed to 127.0.0.1 or localhost are answered' });
      return;
    }
    const path = new URL(request.url ?? '/', origin).pathname;
    const [, first, id, action] = path.split('/');
    const subscription = id ? subscriptions.get(id) : undefined;
    if (request.method === 'POST' && first === 'subscriptions' && !id) {
      sendJson(response, 201, await subscribe(request));
    } else if (id && !subscription) {
      request.resume();
      // A push service answers 404 or 410 for a subscription it does not know (RFC 8030 §7.3).
      sendJson(response, 404, { error: 'no such subscription' });
    } else if (request.method === 'POST' && first === 'push' && subscription && !action) {
      await push(request, response, subscription);
    } else if (request.method === 'GET' && first === 'subscriptions' && subscription && action === 'pushes') {
      const { arrivals, pending, refused } = subscription;
      sendJson(response, 200, { arrivals, pending, refused } satisfies SubscriptionPushes);
    } else if (
      request.method === 'POST' &&
      first === 'subscriptions' &&
      subscription &&
      action === 'respond'
    ) {
      await respondWith(request, subscription);
      sendJson(response, 200, { forced: subscription.forced ?? null });
    } else {
      request.resume();
      sendJson(response, 404, { error: `no route ${request.method} ${path}` });
    }
  };

  await new Promise<void>((listening, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => listening());
  });
  const { port } = server.address() as AddressInfo;
  origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    port,
    stop: () =>
      new Promise<void>((stopped) => {
        server.close(() => stopped());
        server.closeAllConnections();
      }),
  };
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  response.end(JSON.stringify(body));
}

async function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new PushRequestError(413, `the body is larger than ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function jsonOf(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  const value = jsonOrUndefined(body.toString('utf8'));
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PushRequestError(400, 'the body must be a JSON object');
  }
  return value as Record<string, unknown>;
}
