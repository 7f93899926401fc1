/** The web app's server (`local/web-server.ts`) over plain HTTP: no browser, no stack. */
import { get } from 'node:http';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenVerifier } from '../../lambdas/domain/tokens.js';
import { WebServerStartError } from '../../local/errors.js';
import { type RunningWebServer, startWebServer } from '../../local/web-server.js';

const SECRET = 'web-server-test-secret';
const WS_URL = 'ws://127.0.0.1:39999';
/** A VAPID public key's shape: 65 bytes, 87 base64url characters. */
const VAPID_PUBLIC_KEY = `B${'x'.repeat(86)}`;

/** A GET with the path (and Host, when given) sent as it is: `fetch` would normalise the dots away. */
function rawGet(base: string, path: string, host?: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    get({ hostname, port, path, ...(host ? { headers: { host } } : {}) }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

describe('the web server', () => {
  let web: RunningWebServer;

  beforeAll(async () => {
    web = await startWebServer({
      port: 0,
      wsUrl: WS_URL,
      tokenSecret: SECRET,
      vapidPublicKey: VAPID_PUBLIC_KEY,
    });
  });

  afterAll(async () => {
    await web?.stop();
  });

  it('answers requests addressed to this machine by any of its loopback names', async () => {
    const { port } = new URL(web.url);

    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
      expect((await rawGet(web.url, '/api/token?userId=alice', host)).status, host).toBe(200);
    }
  });

  it.each(['evil.example', 'localhost', '127.0.0.1:1', '192.168.1.20'])(
    'refuses a request whose Host is %s with 403, as a DNS-rebound page would send',
    async (name) => {
      const { port } = new URL(web.url);
      const host = name === 'localhost' || name.includes(':') ? name : `${name}:${port}`;

      const refused = await rawGet(web.url, '/api/token?userId=alice', host);

      expect(refused.status).toBe(403);
      expect(JSON.parse(refused.body)).toEqual({
        error: 'forbidden',
        message: `Host: ${host} is not this machine; use 127.0.0.1:${port}`,
      });
    },
  );

  it('serves the built app, and index.html for any page path', async () => {
    const index = await fetch(web.url);
    const html = await index.text();
    const page = await fetch(`${web.url}/some/page`);

    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(html).toContain('<div id="root">');
    expect(page.status).toBe(200);
    expect(await page.text()).toBe(html);
  });

  it('serves the bundled script and styles with their content types', async () => {
    const html = await (await fetch(web.url)).text();
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((match) => match[1]);
    const types = await Promise.all(
      assets.map(async (path) => {
        const response = await fetch(`${web.url}${path}`);
        await response.arrayBuffer();
        return [path?.split('.').pop(), response.status, response.headers.get('content-type')];
      }),
    );

    expect(types).toEqual(
      expect.arrayContaining([
        ['js', 200, 'text/javascript; charset=utf-8'],
        ['css', 200, 'text/css; charset=utf-8'],
      ]),
    );
  });

  it('answers 404 for a missing file, and never serves a file out of its folder', async () => {
    const missing = await rawGet(web.url, '/assets/nothing.js');
    const outside = await rawGet(web.url, '/../../../../../etc/passwd');
    const encoded = await rawGet(web.url, '/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd');

    expect(missing.status).toBe(404);
    // No extension: a page path, answered with the app.
    for (const attempt of [outside, encoded]) {
      expect(attempt.status).toBe(200);
      expect(attempt.body).toContain('<div id="root">');
      expect(attempt.body).not.toContain('root:');
    }
  });

  it('answers 400 to a path that is not a URL path, and keeps serving', async () => {
    const odd = await rawGet(web.url, '//');
    const index = await fetch(web.url);

    expect(odd.status).toBe(400);
    expect(JSON.parse(odd.body)).toEqual({ error: 'bad_request', message: 'not a request path: //' });
    expect(index.status).toBe(200);
  });

  it('mints a token for the user, which the gateway’s verifier accepts, with the WebSocket URL', async () => {
    const response = await fetch(`${web.url}/api/token?userId=alice_1`);
    const body = (await response.json()) as { token: string; url: string };

    expect(response.status).toBe(200);
    expect(body.url).toBe(WS_URL);
    await expect(createTokenVerifier({ secret: SECRET })(body.token)).resolves.toEqual({ userId: 'alice_1' });
  });

  it('refuses a missing or malformed user id with a 400 and a JSON error', async () => {
    for (const query of ['', '?userId=', '?userId=al%20ice', `?userId=${'a'.repeat(65)}`]) {
      const response = await fetch(`${web.url}/api/token${query}`);

      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        error: 'bad_request',
        message: 'userId: must be 1 to 64 characters of A-Z, a-z, 0-9, _ or -',
      });
    }
  });

  it('tells the page its WebSocket URL and the VAPID public key at /config', async () => {
    const response = await fetch(`${web.url}/config`);

    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toEqual({ url: WS_URL, vapidPublicKey: VAPID_PUBLIC_KEY });
  });

  it('serves the service worker at /sw.js as a script the browser re-checks', async () => {
    const response = await fetch(`${web.url}/sw.js`);
    const script = await response.text();

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-cache');
    // One classic script: a worker that is not an ES module has no import statements.
    expect(script).toContain('showNotification');
    expect(script).not.toMatch(/^\s*import[\s{]/m);
  });

  it('answers a null VAPID public key when it was given none', async () => {
    const other = await startWebServer({ port: 0, wsUrl: WS_URL, tokenSecret: SECRET });
    try {
      expect(await (await fetch(`${other.url}/config`)).json()).toEqual({
        url: WS_URL,
        vapidPublicKey: null,
      });
    } finally {
      await other.stop();
    }
  });

  it.each(['', 'BAAA', `B${'x'.repeat(86)}=`, `B${'+'.repeat(86)}`])(
    'refuses to start with a VAPID public key that is not one (%j)',
    async (vapidPublicKey) => {
      await expect(
        startWebServer({ port: 0, wsUrl: WS_URL, tokenSecret: SECRET, vapidPublicKey }),
      ).rejects.toThrow('the VAPID public key must be 87 base64url characters');
    },
  );

  it('fails with a clear error on a busy port, and frees its port when stopped', async () => {
    const other = await startWebServer({ port: 0, wsUrl: WS_URL, tokenSecret: SECRET });
    const port = Number(new URL(other.url).port);

    const busy = startWebServer({ port, wsUrl: WS_URL, tokenSecret: SECRET });
    await expect(busy).rejects.toThrow(WebServerStartError);
    await expect(busy).rejects.toThrow(`port ${port} (the web app, PARLEY_WEB_PORT) is already in use`);
    await other.stop();
    const probe = createServer();
    await new Promise<void>((listening, reject) => {
      probe.once('error', reject);
      probe.listen(port, '127.0.0.1', () => listening());
    });
    await new Promise<void>((closed) => probe.close(() => closed()));
  });
});
