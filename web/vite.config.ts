/**
 * Vite builds the web app: `local/web-server.ts` (npm start) calls `build()` with this
 * file. For work on the app itself, `npx vite web` serves it with hot reload and asks
 * the running `npm start` for tokens, at the port `PARLEY_WEB_PORT` gives both.
 */
import { resolve } from 'node:path';
import { build, defaultClientConditions, defineConfig, type InlineConfig, type Plugin } from 'vite';
import { webServerUrl } from '../local/web-port.js';

// The SDK and the protocol are workspace packages, built from their TypeScript sources.
const conditions = ['@parley/source', ...defaultClientConditions];

/** `src/service-worker.ts` as one classic script, `sw.js`, with the protocol bundled in. */
function serviceWorkerBuild(root: string, outDir: string, write: boolean): InlineConfig {
  return {
    configFile: false,
    root,
    logLevel: 'warn',
    resolve: { conditions },
    define: { 'process.env.NODE_ENV': JSON.stringify('production') },
    build: {
      outDir,
      write,
      emptyOutDir: false,
      copyPublicDir: false,
      target: 'es2022',
      sourcemap: write,
      lib: {
        entry: resolve(root, 'src/service-worker.ts'),
        formats: ['iife'],
        name: 'parleyServiceWorker',
        fileName: () => 'sw.js',
      },
    },
  };
}

/**
 * The service worker at `/sw.js`: at the root, since a worker controls only the pages
 * under its own path, and a classic script, since not every browser runs a service worker
 * that is an ES module. Built after the app; the dev server builds it on each request.
 */
function serviceWorker(): Plugin {
  let root = '';
  let outDir = '';
  let building = false;
  return {
    name: 'parley-service-worker',
    configResolved(config) {
      root = config.root;
      outDir = resolve(config.root, config.build.outDir);
      building = config.command === 'build';
    },
    async closeBundle() {
      // The dev server closes its bundle too, on exit: it writes nothing.
      if (building) await build(serviceWorkerBuild(root, outDir, true));
    },
    configureServer(server) {
      server.middlewares.use('/sw.js', (_request, response, next) => {
        build(serviceWorkerBuild(root, outDir, false)).then((output) => {
          const [bundle] = Array.isArray(output) ? output : [output];
          const chunk = bundle && 'output' in bundle ? bundle.output[0] : undefined;
          if (!chunk) return next(new Error('the service worker did not build'));
          response.setHeader('content-type', 'text/javascript; charset=utf-8');
          response.end(chunk.code);
        }, next);
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
