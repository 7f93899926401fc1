import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findFreePort, startDynamoDbLocal } from '../../local/engines.js';
import { connectAs, startTestStack, uniqueId } from '../support/stack.js';

/** Pids of the engine processes whose parent is `parentPid`. */
function enginesOf(parentPid: number): number[] {
  const table = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' });
  return table
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter(
      (match) =>
        match &&
        Number(match[2]) === parentPid &&
        /DynamoDBLocal\.jar|kinesis-local\/main\.js/.test(match[3] ?? ''),
    )
    .map((match) => Number(match?.[1]));
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('starting and stopping the local stack', () => {
  const cleanups: Array<() => void | Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('says which port is taken when the WebSocket port is busy', async () => {
    const port = await findFreePort();
    const blocker: Server = createServer().listen(port, '127.0.0.1');
    await once(blocker, 'listening');
    cleanups.push(() => new Promise<void>((resolve) => blocker.close(() => resolve())));

    await expect(startTestStack({ wsPort: port })).rejects.toThrow(
      `port ${port} (the WebSocket gateway, PARLEY_WS_PORT) is already in use`,
    );
  });

  it('says how to install Java when java is not on the PATH', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    cleanups.push(() => {
      process.env.PATH = path;
    });
    await expect(startDynamoDbLocal()).rejects.toThrow(
      /needs Java 17.*apt-get install openjdk-17-jre-headless/s,
    );
  });

  it('keeps its DynamoDB data across a restart when given a data folder', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'parley-data-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const options = { dataDir, resourcePrefix: uniqueId('persist') };
    const sendOnce = async (clientMessageId: string) => {
      const stack = await startTestStack({ ...options, dynamodbEndpoint: undefined });
      try {
        const phone = await connectAs(stack, 'alice', 'phone');
        const sent = await phone.request({
          action: 'send',
          to: 'bob',
          clientMessageId,
          body: clientMessageId,
        });
        await phone.close();
        return sent;
      } finally {
        await stack.stop();
      }
    };

    const first = await sendOnce('before-restart');
    const second = await sendOnce('after-restart');

    expect(first.seq).toBe(1);
    expect(second.seq).toBe(2);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'npm start is ready, then stops every engine it started on %s',
    async (signal) => {
      const wsPort = await findFreePort();
      const child: ChildProcess = spawn('npm', ['start'], {
        env: { ...process.env, PARLEY_WS_PORT: String(wsPort) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      cleanups.push(() => {
        if (child.exitCode === null) child.kill('SIGKILL');
      });
      let output = '';
      const ready = new Promise<void>((resolve, reject) => {
        child.stdout?.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('Parley is ready')) resolve();
        });
        child.once('exit', (code) =>
          reject(new Error(`npm start exited (${code}) before ready:\n${output}`)),
        );
      });
      await ready;
      expect(output).toContain(`ws://127.0.0.1:${wsPort}`);
      expect(output).toContain('npm run token -- alice');
      // npm execs node, so the stack is npm's child and the engines are the stack's children.
      const stackPid = Number(
        execFileSync('pgrep', ['-P', String(child.pid), '-f', 'local-stack'], { encoding: 'utf8' }).trim(),
      );
      const engines = enginesOf(stackPid);
      expect(engines).toHaveLength(2);

      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;

      expect(output).toContain('stopped.');
      expect(isAlive(stackPid)).toBe(false);
      expect(engines.filter(isAlive)).toEqual([]);
    },
    60_000,
  );
});
