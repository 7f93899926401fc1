/**
 * The web app's port, `PARLEY_WEB_PORT`: `npm start` serves the app and its dev token endpoint
 * there, and `npx vite web` sends the app's `/api` requests there, so that both follow the one
 * setting.
 */

export const DEFAULT_WEB_PORT = 3000;

/**
 * The address of the web server `npm start` runs: `http://127.0.0.1:` and `PARLEY_WEB_PORT`, or
 * the default port when it is unset or empty. Throws a RangeError for a value that is not a
 * port, as `npm start` refuses it.
 *
 * @example
 * ```ts
 * webServerUrl({ PARLEY_WEB_PORT: '3100' }); // 'http://127.0.0.1:3100'
 * ```
 */
export function webServerUrl(environment: Readonly<Record<string, string | undefined>>): string {
  const text = environment.PARLEY_WEB_PORT;
  if (text === undefined || text.trim() === '') return `http://127.0.0.1:${DEFAULT_WEB_PORT}`;
  const port = Number(text);
  if (!(Number.isInteger(port) && port >= 1 && port <= 65535)) {
    throw new RangeError(`PARLEY_WEB_PORT must be a port number from 1 to 65535, not ${text}`);
  }
  return `http://127.0.0.1:${port}`;
}

/** The port `npx vite web` serves the app on, vite's default. */
export const VITE_DEV_PORT = 5173;

/**
 * The browser origins the local gateway lets handshakes come from unless `PARLEY_ALLOWED_ORIGINS`
 * says otherwise: the pages `npm start` serves on `webPort`, under each name of this machine,
 * and those of `npx vite web`. A page of any other site the browser has open gets 403.
 *
 * @example
 * ```ts
 * webAppOrigins(3000); // ['http://127.0.0.1:3000', 'http://localhost:3000', 'http://[::1]:3000', …5173]
 * ```
 */
export function webAppOrigins(webPort: number): string[] {
  return [webPort, VITE_DEV_PORT].flatMap((port) =>
    ['127.0.0.1', 'localhost', '[::1]'].map((host) => `http://${host}:${port}`),
  );
}
