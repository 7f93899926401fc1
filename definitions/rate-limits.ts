/**
 * The per-user limits on frames and handshakes (docs/adr/0012-per-user-limits.md): which
 * routes have one, their default values, and the shape of the `PARLEY_RATE_LIMITS` setting
 * (CDK context `rateLimits`) that overrides them. Plain data and its schema, read by the
 * CDK stack, the handlers and the local stack alike.
 */
import { z } from 'zod';

/** A user's counters for a route start again every this many seconds. */
export const RATE_WINDOW_SECONDS = 10;

/** The routes limited per user, named as in the setting (`$connect` is the handshake). */
export const LIMITED_ROUTES = [
  'send',
  'ack',
  'sync',
  'conversations',
  'typing',
  'subscribePresence',
  'connect',
  'registerPush',
  'unregisterPush',
] as const;
export type LimitedRoute = (typeof LIMITED_ROUTES)[number];

/** How many frames (or handshakes) of one route one user may make, across all its connections. */
export interface RouteLimit {
  /** In any one second of the clock. */
  perSecond: number;
  /** In each window of RATE_WINDOW_SECONDS: the sustained rate, times ten. */
  perWindow: number;
}

export type RateLimits = Record<LimitedRoute, RouteLimit>;

/**
 * Generous for any person and for a client flushing a long offline outbox: 100 sends in a
 * second and 40 a second sustained; acks keep pace with sends; a reconnect's catch-up
 * (`conversations`, then a `sync` per changed conversation) fits in a second or two.
 */
export const DEFAULT_RATE_LIMITS: RateLimits = {
  send: { perSecond: 100, perWindow: 400 },
  ack: { perSecond: 100, perWindow: 400 },
  sync: { perSecond: 50, perWindow: 200 },
  conversations: { perSecond: 20, perWindow: 60 },
  typing: { perSecond: 20, perWindow: 50 },
  subscribePresence: { perSecond: 10, perWindow: 30 },
  // A user's ten devices (the connection cap) reconnecting at once, and some retrying.
  connect: { perSecond: 20, perWindow: 60 },
  // A device registers again when its subscription or token changes: a few times a day.
  registerPush: { perSecond: 10, perWindow: 30 },
  unregisterPush: { perSecond: 10, perWindow: 30 },
};

/** The route key of API Gateway for a limited route. */
export function routeKeyOf(route: LimitedRoute): string {
  return route === 'connect' ? '$connect' : route;
}

/** The limited route of an API Gateway route key, if it has a limit. */
export function limitedRouteOf(routeKey: string): LimitedRoute | undefined {
  const name = routeKey === '$connect' ? 'connect' : routeKey;
  return (LIMITED_ROUTES as readonly string[]).includes(name) ? (name as LimitedRoute) : undefined;
}

const routeLimitSchema = z
  .object({
    perSecond: z.number().int().min(1).max(100_000),
    perWindow: z.number().int().min(1).max(1_000_000),
  })
  .strict();

/**
 * The setting: a JSON object naming only the routes whose limits change, e.g.
 * `{"send":{"perSecond":200,"perWindow":800}}`; the others keep their defaults.
 */
export const rateLimitsSettingSchema = z
  .object(Object.fromEntries(LIMITED_ROUTES.map((route) => [route, routeLimitSchema.optional()])))
  .strict();

/** The limits with `overrides` (the parsed setting) over the defaults. */
export function withDefaults(overrides: Partial<RateLimits> = {}): RateLimits {
  return Object.fromEntries(
    LIMITED_ROUTES.map((route) => [route, overrides[route] ?? DEFAULT_RATE_LIMITS[route]]),
  ) as RateLimits;
}

/**
 * Parses the setting's text; throws with a message naming what is wrong. An empty text is
 * the defaults.
 */
export function parseRateLimits(text: string | undefined): RateLimits {
  if (text === undefined || text.trim() === '') return withDefaults();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error('must be a JSON object such as {"send":{"perSecond":100,"perWindow":400}}');
  }
  const parsed = rateLimitsSettingSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${issue?.path.join('.') || 'limits'}: ${issue?.message}`);
  }
  return withDefaults(parsed.data as Partial<RateLimits>);
}
