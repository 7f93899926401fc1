import { availableParallelism } from 'node:os';
import { defaultServerConditions } from 'vite';
import { configDefaults, defineConfig } from 'vitest/config';

/**
 * The workspace packages (@parley/protocol, @parley/sdk) resolve to their TypeScript sources.
 * Vitest's own default conditions leave out `module`: packages that export a `module` build
 * (the AWS SDK's dist-es) are loaded by Node, which cannot run it.
 */
const resolve = {
  conditions: ['@parley/source', ...defaultServerConditions.filter((condition) => condition !== 'module')],
};

/**
 * The unit and infra files use nothing but the CPU and share nothing, so they run first, on
 * at least two workers: vitest's default of one worker fewer than the cores leaves one of two
 * cores idle. The projects that start engines and stacks run after them, as many at once as
 * vitest's default allows (one on two cores), since their timings share the machine with the
 * engines'. Projects with different worker counts need different `groupOrder`s
 * (docs/adr/0017-test-workers.md).
 */
const CPU_ONLY = { sequence: { groupOrder: 0 }, maxWorkers: Math.max(2, availableParallelism() - 1) };
const WITH_ENGINES = { sequence: { groupOrder: 1 } };

export default defineConfig({
  resolve,
  ssr: { resolve },
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          ...CPU_ONLY,
          // The files of a worker share one module graph: each module is loaded once, not once a
          // file. So a file leaves nothing behind: the AWS client mocks are restored after it,
          // and fixtures are set up per file (docs/adr/0017-test-workers.md).
          isolate: false,
        },
      },
      {
        extends: true,
        test: {
          // Integration, end-to-end and chaos tests share one DynamoDB Local and one
          // kinesis-mock, started by the global setup; each test file makes its own tables and
          // stream (the chaos test starts a kinesis-mock of its own, which it restarts).
          name: 'engines',
          ...WITH_ENGINES,
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/chaos/**/*.test.ts'],
          // The one-way keepalive route is the template's: the deployed project runs it from
          // there, and its idle limits take real seconds (test/e2e/keep-alive.test.ts covers
          // the SDK's side in this project).
          exclude: [...configDefaults.exclude, 'test/e2e/keepalive-route.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          // What deploys: `cdk synth` once (global setup), then every function runs from its
          // bundle with the template's environment. The bundle checks, and the end-to-end
          // files that together reach every route, the authorizer and both stream consumers,
          // run here against the synthesized stack as well as against the handlers in-process.
          name: 'deployed',
          ...WITH_ENGINES,
          include: [
            'test/deployed/**/*.test.ts',
            'test/e2e/send-sync.test.ts',
            'test/e2e/receipts-typing-conversations.test.ts',
            'test/e2e/presence.test.ts',
            'test/e2e/hostile-input.test.ts',
            'test/e2e/convergence.test.ts',
            'test/e2e/sdk.test.ts',
            'test/e2e/connection-cap.test.ts',
            'test/e2e/groups.test.ts',
            'test/e2e/group-access.test.ts',
            'test/e2e/group-delivery.test.ts',
            'test/e2e/push-stack.test.ts',
            'test/e2e/keepalive-route.test.ts',
            'test/chaos/chaos.test.ts',
          ],
          env: { PARLEY_TEST_STACK: 'deployed' },
          globalSetup: ['test/support/global-setup.ts', 'test/support/synthesize-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          // The SDK packed, installed in an empty project, and the README's example run from
          // it against `npm start` (which starts engines of its own).
          name: 'package',
          ...WITH_ENGINES,
          include: ['test/package/**/*.test.ts'],
          testTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          // CDK Template assertions: synthesis only, no AWS account, no network.
          name: 'infra',
          ...CPU_ONLY,
          include: ['test/infra/**/*.test.ts'],
          // Files of a worker share one module graph, hence one synthesis of each stack
          // (test/infra/support/synthesize.ts caches them): seconds each, with cdk-nag.
          isolate: false,
          // The first test of a file pays for the synthesis, which passes 5 s on a busy machine.
          testTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          // The web app in Debian's Chromium (playwright-core), against a local stack of
          // its own on the engines of the same global setup. Not part of `npm test`:
          // `npm run test:browser`.
          name: 'browser',
          ...WITH_ENGINES,
          include: ['test/browser/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
