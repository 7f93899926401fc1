/**
 * What a client developer in another repository gets: the SDK and the protocol packed with
 * `npm pack`, installed from the tarballs in an empty project, and the README's SDK example
 * run there, as written, against `npm start`.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertPortFree, findFreePort } from '../../local/engines.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** The first ```js block of the README's "Client SDK" section. */
function sdkExampleOf(readme: string): string {
  const section = readme.split(/^## /m).find((part) => part.startsWith('Client SDK'));
  const example = section?.match(/```js\n([\s\S]*?)```/)?.[1];
  if (!example) throw new Error('README.md: the Client SDK section has no ```js example');
  return example;
}

/** `npm start` on free ports, resolved once its banner says it is ready. */
async function startLocalStackProcess(): Promise<{ child: ChildProcess; webPort: number; wsPort: number }> {
  const wsPort = await findFreePort();
  let webPort = await findFreePort();
  while (webPort === wsPort) webPort = await findFreePort();
  let pushPort = await findFreePort();
  while (pushPort === wsPort || pushPort === webPort) pushPort = await findFreePort();
  const child = spawn(NPM, ['start'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PARLEY_WS_PORT: String(wsPort),
      PARLEY_WEB_PORT: String(webPort),
      PARLEY_PUSH_PORT: String(pushPort),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ctrl-C stops everything')) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`npm start exited (${code}) before it was ready:\n${output}`)),
    );
  });
  return { child, webPort, wsPort };
}

describe('the SDK as a package', () => {
  let project: string;
  let stack: Awaited<ReturnType<typeof startLocalStackProcess>> | undefined;

  beforeAll(async () => {
    project = await mkdtemp(join(tmpdir(), 'parley-sdk-user-'));
    // Packing runs each package's prepack script, which builds dist/ (JavaScript and types).
    await run(
      NPM,
      [
        'pack',
        '--workspace',
        '@parley/protocol',
        '--workspace',
        '@parley/sdk',
        '--pack-destination',
        project,
      ],
      { cwd: ROOT },
    );
    const tarballs = (await readdir(project)).filter((name) => name.endsWith('.tgz')).sort();
    expect(tarballs).toEqual(['parley-protocol-0.1.0.tgz', 'parley-sdk-0.1.0.tgz']);
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify({ name: 'a-parley-app', private: true, type: 'module' }),
    );
    // ws: Node 20 has no WebSocket of its own (Node 22 does, and browsers do).
    await run(NPM, ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs, 'ws@8'], {
      cwd: project,
    });
    stack = await startLocalStackProcess();
  }, 300_000);

  afterAll(async () => {
    if (stack) {
      const exited = once(stack.child, 'exit');
      stack.child.kill('SIGTERM');
      await exited;
      await assertPortFree(stack.wsPort, 'the stopped stack’s WebSocket port');
      await assertPortFree(stack.webPort, 'the stopped stack’s web port');
    }
    await rm(project, { recursive: true, force: true });
  }, 60_000);

  it('installs from its tarball with its types and both storage entry points', async () => {
    const sdk = JSON.parse(await readFile(join(project, 'node_modules/@parley/sdk/package.json'), 'utf8'));
    expect(Object.keys(sdk.exports)).toEqual([
      '.',
      './indexeddb-storage',
      './file-storage',
      './package.json',
    ]);
    await expect(
      readFile(join(project, 'node_modules/@parley/sdk/dist/index.d.ts'), 'utf8'),
    ).resolves.toContain('ParleyClient');
    const { stdout } = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const sdk = await import('@parley/sdk'); const files = await import('@parley/sdk/file-storage');" +
          'console.log(typeof sdk.ParleyClient, typeof files.FileStorage)',
      ],
      { cwd: project },
    );
    expect(stdout.trim()).toBe('function function');
  });

  it('runs the README example as written, from the installed package, against npm start', async () => {
    const example = sdkExampleOf(await readFile(join(ROOT, 'README.md'), 'utf8'));
    await writeFile(join(project, 'example.mjs'), example);

    const { stdout } = await run(process.execPath, ['example.mjs'], {
      cwd: project,
      env: { ...process.env, PARLEY_WEB_URL: `http://127.0.0.1:${stack?.webPort}` },
      timeout: 60_000,
    });

    expect(stdout).toContain('alice hello pending');
    expect(stdout).toContain('alice hello sent');
    // It stored what it needs to catch up after a restart, where the example said.
    expect((await readdir(join(project, '.parley'))).length).toBeGreaterThan(0);
  });
});
