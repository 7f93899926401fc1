/**
 * The web app's development server: builds `web/` with Vite once at start, serves the
 * result with node:http, and mints dev tokens at `GET /api/token?userId=alice` so the
 * page can sign in as anyone, and tells the page at `GET /config` its WebSocket URL and the
 * VAPID public key it subscribes to Web Push with. A local tool: it trusts whoever can reach it, which is this
 * machine only: it listens on the loopback interface and answers only requests addressed to
 * a loopback name, so that a page of another site cannot reach it through DNS rebinding.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ID_RULE_MESSAGE, userIdSchema } from '@parley/protocol';
import { build } from 'vite';
import { mintToken } from '../lambdas/domain/tokens.js';
import { WebServerStartError } from './errors.js';
import { webAppOrigins } from './web-port.js';

const WEB_ROOT = fileURLToPath(new URL('../web/', import.meta.url));

export interface WebServerOptions {
  /** 0 picks a free port. */
  port: number;
  host?: string;
  /** The WebSocket URL the page connects to, e.g. the local stack's `ws://127.0.0.1:3001`. */
  wsUrl: string;
  /** The HS256 secret the WebSocket gateway verifies tokens with. */
  tokenSecret: string;
  /** How long minted tokens live, as jose reads it; default `24h`. */
  tokenExpiresIn?: string;
  /**
   * The deployment's VAPID public key (base64url, the stack's `VapidPublicKey` output), which
   * the page subscribes to Web Push with; without it the page offers no notifications.
   */
  vapidPublicKey?: string;
}

export interface RunningWebServer {
  /** `http://host:port`, with the port actually bound. */
  url: string;
  stop(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  });
  response.end(JSON.stringify(body));
}

/** An uncompressed P-256 public key is 65 bytes: 87 base64url characters without padding. */
const VAPID_PUBLIC_KEY = /^[A-Za-z0-9_-]{87}$/;

/** What a VAPID public key must look like, as the stack's `VapidPublicKey` output gives it. */
export const VAPID_PUBLIC_KEY_RULE =
  'must be 87 base64url characters (an uncompressed P-256 key, as the stack’s VapidPublicKey output gives it)';

/** Whether `key` is a VAPID public key a browser can subscribe with. */
export function isVapidPublicKey(key: string): boolean {
  return VAPID_PUBLIC_KEY.test(key);
}

/** Takes the port at once, so that a busy one fails before the build, not after it. */
async function listenOn(server: Server, host: string, port: number): Promise<void> {
  await new Promise<void>((listening, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new WebServerStartError(
          error.code === 'EADDRINUSE'
            ? `port ${port} (the web app, PARLEY_WEB_PORT) is already in use: stop what runs there or choose another port`
            : `cannot listen on ${host}:${port} (the web app): ${error.message}`,
          { cause: error },
        ),
      ),
    );
    server.listen(port, host, () => listening());
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise<void>((closed) => {
    server.close(() => closed());
    server.closeAllConnections();
  });
}

/** Builds `web/` into a new temporary folder and returns the folder. */
async function buildWebApp(): Promise<string> {
  const outDir = await mkdtemp(join(tmpdir(), 'parley-web-'));
  // Vite sets NODE_ENV for its build; the rest of this process must not see it change.
  const nodeEnv = process.env.NODE_ENV;
  try {
    await build({
      root: WEB_ROOT,
      configFile: join(WEB_ROOT, 'vite.config.ts'),
      logLevel: 'warn',
      build: { outDir, emptyOutDir: true },
    });
  } catch (error) {
    await rm(outDir, { recursive: true, force: true });
    throw error;
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
  return outDir;
}

/** What the request handlers need: the built app (awaited by requests that come early) and the token settings. */
interface WebApp {
  built: Promise<string>;
  wsUrl: string;
  tokenSecret: string;
  expiresIn: string;
  vapidPublicKey: string | null;
  /** The `Host` headers answered: loopback names with this server's port, or vite's proxying to it. */
  hosts: ReadonlySet<string>;
}

async function serveToken(app: WebApp, url: URL, response: ServerResponse): Promise<void> {
  const userId = userIdSchema.safeParse(url.searchParams.get('userId') ?? undefined);
  if (!userId.success) {
    sendJson(response, 400, {
      error: 'bad_request',
      message: `userId: ${ID_RULE_MESSAGE}`,
    });
    return;
  }
  const token = await mintToken(userId.data, app.tokenSecret, { expiresIn: app.expiresIn });
  sendJson(response, 200, { token, url: app.wsUrl });
}

async function serveFile(
  app: WebApp,
  request: IncomingMessage,
  url: URL,
  response: ServerResponse,
): Promise<void> {
  const root = await app.built;
  let pathname: string;
  try {
    pathname = decodeURIComponent(url.pathname);
  } catch {
    sendJson(response, 400, { error: 'bad_request', message: 'path: not a valid URL path' });
    return;
  }
  const wanted = resolve(root, `.${pathname}`);
  const inside = wanted === root || wanted.startsWith(root + sep);
  let file = inside ? wanted : undefined;
  if (file && !(await stat(file).catch(() => undefined))?.isFile()) file = undefined;
  if (!file) {
    // A path with an extension names a file that is not there; any other path is a
    // page of the app, which index.html serves.
    if (extname(pathname)) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      response.end('not found');
      return;
    }
    file = join(root, 'index.html');
  }
  const body = await readFile(file);
  const hashed = file.startsWith(join(root, 'assets') + sep);
  response.writeHead(200, {
    'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    'content-length': body.length,
    'cache-control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
  });
  response.end(request.method === 'HEAD' ? undefined : body);
}

async function routeRequest(
  app: WebApp,
  request: IncomingMessage,
  url: URL,
  response: ServerResponse,
): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
    response.end('method not allowed');
  } else if (url.pathname === '/api/token') {
    await serveToken(app, url, response);
  } else if (url.pathname === '/config') {
    // What the page needs before it signs in or subscribes; nothing in it is secret.
    sendJson(response, 200, { url: app.wsUrl, vapidPublicKey: app.vapidPublicKey });
  } else if (url.pathname.startsWith('/api/')) {
    sendJson(response, 404, { error: 'not_found', message: `no API at ${url.pathname}` });
  } else {
    await serveFile(app, request, url, response);
  }
}

function handleRequest(app: WebApp, request: IncomingMessage, response: ServerResponse): void {
  // A site whose name the attacker points at 127.0.0.1 (DNS rebinding) reaches this port
  // from the victim's browser as the same origin, but with its own name in Host.
  if (!app.hosts.has(request.headers.host ?? '')) {
    sendJson(response, 403, {
      error: 'forbidden',
      message: `Host: ${request.headers.host ?? '(none)'} is not this machine; use ${[...app.hosts][0]}`,
    });
    return;
  }
  let url: URL;
  try {
    url = new URL(request.url ?? '/', 'http://localhost');
  } catch {
    // A path such as `//` is not a URL path: answer it rather than let it end the process.
    sendJson(response, 400, { error: 'bad_request', message: `not a request path: ${request.url}` });
    return;
  }
  routeRequest(app, request, url, response).catch((error: unknown) => {
    if (response.headersSent) {
      response.destroy();
      return;
    }
    sendJson(response, 500, {
      error: 'internal',
      message: error instanceof Error ? error.message : String(error),
    });
  });
}

/** Builds the app into a temporary folder, then serves it, the token endpoint and the page's config. */
export async function startWebServer(options: WebServerOptions): Promise<RunningWebServer> {
  const { vapidPublicKey } = options;
  if (vapidPublicKey !== undefined && !isVapidPublicKey(vapidPublicKey)) {
    // A browser refuses a malformed key only when the user subscribes: say it at start instead.
    throw new WebServerStartError(`the VAPID public key ${VAPID_PUBLIC_KEY_RULE}`);
  }
  const host = options.host ?? '127.0.0.1';
  const server = createServer();
  await listenOn(server, host, options.port);
  const { port } = server.address() as AddressInfo;

  // Requests that come while the app builds wait for it.
  const app: WebApp = {
    hosts: new Set(webAppOrigins(port).map((origin) => new URL(origin).host)),
    built: buildWebApp(),
    wsUrl: options.wsUrl,
    tokenSecret: options.tokenSecret,
    expiresIn: options.tokenExpiresIn ?? '24h',
    vapidPublicKey: vapidPublicKey ?? null,
  };
  server.on('request', (request: IncomingMessage, response: ServerResponse) =>
    handleRequest(app, request, response),
  );

  let staticRoot: string;
  try {
    staticRoot = await app.built;
  } catch (error) {
    await closeServer(server);
    throw new WebServerStartError(
      `cannot build the web app: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }

  let stopped: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    stop: () => {
      stopped ??= (async () => {
        await closeServer(server);
        await rm(staticRoot, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
