/**
 * Who this tab is: its device id (one per tab, kept across reloads of that tab), the
 * signed-in user, and dev tokens from the web server's `/api/token`.
 */
import { userIdSchema } from '@parley/protocol';

const DEVICE_KEY = 'parley.deviceId';
const SESSION_KEY = 'parley.session';

/** Whether a user or device id follows the protocol's rule for ids. */
export function isValidId(id: string): boolean {
  return userIdSchema.safeParse(id).success;
}

/** The protocol's rule for user ids, as the forms say it. */
export const USER_ID_RULE = 'A user id is 1 to 64 characters of A-Z, a-z, 0-9, _ or -.';

export interface Session {
  userId: string;
  token: string;
  /** The WebSocket URL the server told us to connect to. */
  url: string;
}

/** This tab's device id: `web-` and 12 random hex digits, made once per tab. */
export function deviceId(): string {
  let id = sessionStorage.getItem(DEVICE_KEY);
  if (!id || !isValidId(id)) {
    const bytes = crypto.getRandomValues(new Uint8Array(6));
    id = `web-${Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
    sessionStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

/** Asks the web server for a dev token; throws with the server's own words on a refusal. */
export async function fetchSession(userId: string): Promise<Session> {
  let response: Response;
  try {
    response = await fetch(`/api/token?userId=${encodeURIComponent(userId)}`, { cache: 'no-store' });
  } catch (error) {
    throw new Error('cannot reach the Parley web server', { cause: error });
  }
  const body = (await response.json().catch(() => ({}))) as {
    token?: string;
    url?: string;
    message?: string;
  };
  if (!response.ok || !body.token || !body.url) {
    throw new Error(body.message ?? `the web server answered ${response.status}`);
  }
  return { userId, token: body.token, url: body.url };
}

export function storedSession(): Session | undefined {
  try {
    const session = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null') as Session | null;
    return session && isValidId(session.userId) ? session : undefined;
  } catch {
    return undefined;
  }
}

export function storeSession(session: Session | undefined): void {
  if (session) sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(SESSION_KEY);
}

/** Whether a JWT expires within `marginMs` (or cannot be read). */
function expiresSoon(token: string, marginMs = 60_000): boolean {
  try {
    const payload = token.split('.')[1] ?? '';
    const { exp } = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: number };
    return exp !== undefined && exp * 1000 - marginMs < Date.now();
  } catch {
    return true;
  }
}

/**
 * The token for each (re)connect: the one we hold while it is good, else a fresh one,
 * kept for the next reload of the tab.
 */
export function tokenSource(session: Session): () => Promise<string> {
  let current = session;
  return async () => {
    if (expiresSoon(current.token)) {
      current = await fetchSession(current.userId);
      storeSession(current);
    }
    return current.token;
  };
}
