/**
 * `PARLEY_WEB_PORT` reaches both the web server of `npm start` and the `/api` proxy of
 * `npx vite web`.
 */
import type { ConfigEnv, UserConfig, UserConfigFnObject } from 'vite';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { webAppOrigins, webServerUrl } from '../../local/web-port.js';
import viteConfig from '../../web/vite.config.js';

afterEach(() => {
  vi.unstubAllEnvs();
});

function configFor(command: ConfigEnv['command']): UserConfig {
  return (viteConfig as UserConfigFnObject)({ command, mode: 'development' });
}

describe('the web server address', () => {
  it.each([
    [{}, 'http://127.0.0.1:3000'],
    [{ PARLEY_WEB_PORT: '' }, 'http://127.0.0.1:3000'],
    [{ PARLEY_WEB_PORT: '3100' }, 'http://127.0.0.1:3100'],
  ])('is %j → %s', (environment, url) => {
    expect(webServerUrl(environment)).toBe(url);
  });

  it.each(['0', '65536', '3000.5', 'web'])('refuses PARLEY_WEB_PORT=%s as npm start does', (text) => {
    expect(() => webServerUrl({ PARLEY_WEB_PORT: text })).toThrow(
      new RangeError(`PARLEY_WEB_PORT must be a port number from 1 to 65535, not ${text}`),
    );
  });
});

describe('the Vite config', () => {
  it('proxies /api and /config to the port PARLEY_WEB_PORT gives when it serves the app', () => {
    // prepare
    vi.stubEnv('PARLEY_WEB_PORT', '3100');

    // act
    const config = configFor('serve');

    // assess
    expect(config.server?.proxy).toEqual({
      '/api': 'http://127.0.0.1:3100',
      '/config': 'http://127.0.0.1:3100',
    });
  });

  it('proxies /api and /config to port 3000 when PARLEY_WEB_PORT is unset', () => {
    // prepare
    vi.stubEnv('PARLEY_WEB_PORT', undefined);

    // act
    const config = configFor('serve');

    // assess
    expect(config.server?.proxy).toEqual({
      '/api': 'http://127.0.0.1:3000',
      '/config': 'http://127.0.0.1:3000',
    });
  });

  it('reads no port when it builds, as npm start does before it serves the tokens itself', () => {
    // prepare
    vi.stubEnv('PARLEY_WEB_PORT', 'not a port');

    // act
    const config = configFor('build');

    // assess
    expect(config.server).toBeUndefined();
    expect(config.build).toEqual({ target: 'es2022', sourcemap: true });
  });
});

describe('the origins the local gateway lets handshakes come from', () => {
  it('are the web server’s and vite’s dev server’s, under every name of this machine', () => {
    expect(webAppOrigins(3100)).toEqual([
      'http://127.0.0.1:3100',
      'http://localhost:3100',
      'http://[::1]:3100',
      'http://127.0.0.1:5173',
      'http://localhost:5173',
      'http://[::1]:5173',
    ]);
  });
});
