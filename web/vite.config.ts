/**
 * Vite builds the web app: `local/web-server.ts` (npm start) calls `build()` with this
 * file. For work on the app itself, `npx vite web` serves it with hot reload and asks
 * the running `npm start` for tokens, at the port `PARLEY_WEB_PORT` gives both.
 */
import { resolve } from 'node:path';
import { build, defaultClientConditions, defineConfig, type Plugin } from 'vite';
import { webServerUrl } from '../local/web-port.js';

// The SDK and the protocol are workspace packages, built from their TypeScript sources.
const conditions = ['@parley/source', ...defaultClientConditions];

/**
 * Builds `src/service-worker.ts` into `/sw.js` after the app: one classic script with the
 * protocol bundled in, since a service worker at the root controls the whole app, and not
 * every browser runs a service worker that is an ES module.
 */
function serviceWorker(): Plugin {
  let root = '';
  let outDir = '';
  return {
    name: 'parley-service-worker',
    apply: 'build',
    configResolved(config) {
      root = config.root;
      outDir = resolve(config.root, config.build.outDir);
    },
    async closeBundle() {
      await build({
        configFile: false,
        root,
        logLevel: 'warn',
        resolve: { conditions },
        define: { 'process.env.NODE_ENV': JSON.stringify('production') },
        build: {
          outDir,
          emptyOutDir: false,
          copyPublicDir: false,
          target: 'es2022',
          sourcemap: true,
          lib: {
            entry: resolve(root, 'src/service-worker.ts'),
            formats: ['iife'],
            name: 'parleyServiceWorker',
            fileName: () => 'sw.js',
          },
        },
      });
    },
  };
}

export default defineConfig(({ command }) => ({
  resolve: { conditions },
  build: { target: 'es2022', sourcemap: true },
  plugins: [serviceWorker()],
  // Only a dev server needs the proxy: npm start builds, then serves the tokens itself.
  ...(command === 'serve'
    ? { server: { proxy: { '/api': webServerUrl(process.env), '/config': webServerUrl(process.env) } } }
    : {}),
}));
