/**
 * Vite builds the web app: `local/web-server.ts` (npm start) calls `build()` with this
 * file. For work on the app itself, `npx vite web` serves it with hot reload and asks
 * the running `npm start` for tokens, at the port `PARLEY_WEB_PORT` gives both.
 */
import { defaultClientConditions, defineConfig } from 'vite';
import { webServerUrl } from '../local/web-port.js';

export default defineConfig(({ command }) => ({
  // The SDK and the protocol are workspace packages, built from their TypeScript sources.
  resolve: { conditions: ['@parley/source', ...defaultClientConditions] },
  build: { target: 'es2022', sourcemap: true },
  // Only a dev server needs the proxy: npm start builds, then serves the tokens itself.
  ...(command === 'serve' ? { server: { proxy: { '/api': webServerUrl(process.env) } } } : {}),
}));
