/**
 * Vite builds the web app: `local/web-server.ts` (npm start) calls `build()` with this
 * file. For work on the app itself, `npx vite web` serves it with hot reload and asks
 * the running `npm start` for tokens.
 */
import { defaultClientConditions, defineConfig } from 'vite';

export default defineConfig({
  // The SDK and the protocol are workspace packages, built from their TypeScript sources.
  resolve: { conditions: ['@parley/source', ...defaultClientConditions] },
  build: { target: 'es2022', sourcemap: true },
  server: { proxy: { '/api': 'http://127.0.0.1:3000' } },
});
