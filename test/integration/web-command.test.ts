/**
 * `npm run web` (bin/web.ts): the web app pointed at a deployed stack, run as a user runs
 * it, with the stack's signing key read through a local stand-in for Secrets Manager.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenVerifier } from '../../lambdas/domain/tokens.js';
import { type RunningSecretsManager, startSecretsManager } from '../../local/deployed/secrets-manager.js';
import { nodeArgsOfScript, REPOSITORY_ROOT } from '../support/npm-script.js';

/** What `npm run web` runs once npm has exec'd it: node and its arguments. */
const WEB_ARGS = nodeArgsOfScript('web');
const STACK_URL = 'wss://abc123defg.execute-api.us-east-1.amazonaws.com/dev';
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:TokenSigningKey-AbCdEf';
const KEY = 'the-deployed-stacks-signing-key';

const started: ChildProcess[] = [];
let secretsManager: RunningSecretsManager | undefined;

afterEach(async () => {
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
  await secretsManager?.stop();
  secretsManager = undefined;
});

/** Runs the command with only the environment a user would give it (no inherited key). */
function runWeb(args: string[], environment: Record<string, string> = {}) {
  const { PARLEY_JWT_SECRET: _ignored, ...inherited } = process.env;
  const child = spawn(process.execPath, [...WEB_ARGS, ...args], {
    cwd: REPOSITORY_ROOT,
    env: {
      ...inherited,
      PARLEY_WEB_PORT: '0',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      ...environment,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = once(child, 'exit').then(([code]) => ({ code: code as number | null, stdout, stderr }));
  /** The web app's URL, once the command prints it. */
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', () => {
      const url = /web app: (http:\/\/\S+)/.exec(stdout)?.[1];
      if (url) resolve(url);
    });
    void exited.then(({ code }) => reject(new Error(`npm run web exited ${code}: ${stderr}`)));
  });
  // Tests of a refusal await `exited` only: their `ready` rejects unobserved.
  ready.catch(() => undefined);
  return { child, ready, exited };
}

describe('npm run web', () => {
  it('serves the app with the stack’s WebSocket URL and tokens signed with the key its secret holds', async () => {
    secretsManager = await startSecretsManager([{ arn: SECRET_ARN, name: 'TokenSigningKey', value: KEY }]);
    const web = runWeb(['--url', STACK_URL, '--secret-arn', SECRET_ARN], {
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.endpoint,
    });

    const url = await web.ready;
    const page = await fetch(url);
    const session = (await (await fetch(`${url}/api/token?userId=alice`)).json()) as {
      token: string;
      url: string;
    };

    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="root">');
    expect(session.url).toBe(STACK_URL);
    await expect(createTokenVerifier({ secret: KEY })(session.token)).resolves.toEqual({ userId: 'alice' });
    web.child.kill('SIGTERM');
    expect((await web.exited).code).toBe(143);
  }, 90_000);

  it('takes the key from PARLEY_JWT_SECRET when no secret is named', async () => {
    const web = runWeb(['--url', STACK_URL], { PARLEY_JWT_SECRET: KEY });

    const url = await web.ready;
    const session = (await (await fetch(`${url}/api/token?userId=bob`)).json()) as { token: string };

    await expect(createTokenVerifier({ secret: KEY })(session.token)).resolves.toEqual({ userId: 'bob' });
    web.child.kill('SIGINT');
    expect((await web.exited).code).toBe(130);
  }, 90_000);

  it('gives the page the stack’s VAPID public key at /config', async () => {
    const vapidPublicKey = `B${'q'.repeat(86)}`;
    const web = runWeb(['--url', STACK_URL, '--vapid-public-key', vapidPublicKey], {
      PARLEY_JWT_SECRET: KEY,
    });

    const url = await web.ready;
    const config = await (await fetch(`${url}/config`)).json();

    expect(config).toEqual({ url: STACK_URL, vapidPublicKey });
    web.child.kill('SIGTERM');
    expect((await web.exited).code).toBe(143);
  }, 90_000);

  it('stops with a message naming the secret when the secret cannot be read', async () => {
    secretsManager = await startSecretsManager([]);
    const web = runWeb(['--url', STACK_URL, '--secret-arn', SECRET_ARN], {
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.endpoint,
    });

    const { code, stderr } = await web.exited;

    expect(code).toBe(2);
    expect(stderr).toContain(`could not read the secret ${SECRET_ARN}`);
  });

  it.each([
    { args: [], message: '--url is required' },
    { args: ['--url', 'https://abc123defg.execute-api.us-east-1.amazonaws.com/dev'], message: 'wss://' },
    { args: ['--url', 'not a url'], message: '--url: not a URL' },
    { args: ['--url', STACK_URL], message: 'PARLEY_JWT_SECRET' },
    { args: ['--url', STACK_URL, '--port', '80'], message: "Unknown option '--port'" },
    {
      args: ['--url', STACK_URL, '--vapid-public-key', 'BAAA'],
      message: '--vapid-public-key: must be 87 base64url characters',
    },
  ])('refuses $args with a message and the usage, and exits 2', async ({ args, message }) => {
    const { code, stderr } = await runWeb(args).exited;

    expect(code).toBe(2);
    expect(stderr).toContain(message);
    expect(stderr).toContain('usage: npm run web');
  });

  it('refuses a PARLEY_WEB_PORT that is not a port', async () => {
    const { code, stderr } = await runWeb(['--url', STACK_URL], {
      PARLEY_JWT_SECRET: KEY,
      PARLEY_WEB_PORT: 'eighty',
    }).exited;

    expect(code).toBe(2);
    expect(stderr).toContain('PARLEY_WEB_PORT: must be a port number');
  });

  it('exits 1 with a clear message when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    try {
      const { code, stderr } = await runWeb(['--url', STACK_URL], {
        PARLEY_JWT_SECRET: KEY,
        PARLEY_WEB_PORT: String(port),
      }).exited;

      expect(code).toBe(1);
      expect(stderr).toContain(`port ${port} (the web app, PARLEY_WEB_PORT) is already in use`);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});
