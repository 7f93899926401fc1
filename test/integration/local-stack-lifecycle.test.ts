import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createAwsModel } from '../../bench/aws-hops.js';
import { assertPortFree, findFreePort, startDynamoDbLocal } from '../../local/engines.js';
import { nodeArgsOfScript, REPOSITORY_ROOT } from '../support/npm-script.js';
import { connectAs, startTestStack, uniqueId } from '../support/stack.js';

const ROOT = REPOSITORY_ROOT;
/** What `npm start` runs once npm has exec'd it: node and its arguments. */
const START_ARGS = nodeArgsOfScript('start');
const ENGINE = /DynamoDBLocal\.jar|kinesis-local\/main\.js/;

interface ProcessEntry {
  pid: number;
  ppid: number;
  /** R, S, Z (ended, not yet reaped)… as in /proc/<pid>/stat. */
  state: string;
}

/** Every process of the machine, from /proc. */
function processTable(): ProcessEntry[] {
  const entries: ProcessEntry[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // The command name in parentheses may hold spaces: the fields follow its last ')'.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      entries.push({ pid: Number(name), ppid: Number(ppid), state: state ?? '' });
    } catch {
      // ended meanwhile
    }
  }
  return entries;
}

function readProc(pid: number, file: 'cmdline' | 'environ'): string[] {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** The engine processes whose parent is `parentPid`, with the port each serves. */
function enginesOf(parentPid: number): Array<{ pid: number; port: number }> {
  return processTable()
    .filter((entry) => entry.ppid === parentPid && entry.state !== 'Z')
    .map((entry) => ({ pid: entry.pid, args: readProc(entry.pid, 'cmdline') }))
    .filter(({ args }) => ENGINE.test(args.join(' ')))
    .map(({ pid, args }) => {
      // DynamoDB Local takes `-port N`; kinesis-mock reads KINESIS_MOCK_PLAIN_PORT.
      const portArg = args.indexOf('-port');
      const port =
        portArg >= 0
          ? args[portArg + 1]
          : readProc(pid, 'environ')
              .find((variable) => variable.startsWith('KINESIS_MOCK_PLAIN_PORT='))
              ?.split('=')[1];
      return { pid, port: Number(port) };
    });
}

/**
 * Live processes (not ended) that carry `marker` in their environment: the stack started
 * with it and every engine it spawned, whoever their parent is now.
 */
function processesMarked(marker: string): number[] {
  return processTable()
    .filter((entry) => entry.state !== 'Z' && readProc(entry.pid, 'environ').includes(marker))
    .map((entry) => entry.pid);
}

const isAlive = (pid: number) => processTable().some((entry) => entry.pid === pid && entry.state !== 'Z');

/** Resolves once `check` holds, asking again every 20 ms. */
async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** True when something accepts connections on the port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

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

  /** Alice and Bob connected to `stack`, and Bob's next message; all closed after the test. */
  async function aliceAndBob(stack: Awaited<ReturnType<typeof startTestStack>>) {
    cleanups.push(() => stack.stop());
    const alice = await connectAs(stack, 'alice', 'phone');
    const bob = await connectAs(stack, 'bob', 'phone');
    cleanups.push(
      () => alice.close(),
      () => bob.close(),
    );
    return { alice, delivered: bob.next((frame) => frame.type === 'message') };
  }

  it('delivers a message under a model of AWS, every hop on its path drawing a delay', async () => {
    // prepare: the benchmark's model, no cold starts
    const model = createAwsModel(1, 0);
    const { alice, delivered } = await aliceAndBob(await startTestStack({ hopDelays: model.hopDelays }));

    // act
    const sent = await alice.request({
      action: 'send',
      to: 'bob',
      clientMessageId: 'modelled',
      body: 'hello',
    });
    const message = await delivered;

    // assess: the same handlers answered, through the gateway's and the proxies' delays
    expect(sent).toMatchObject({ type: 'sent', seq: 1 });
    expect(message).toMatchObject({ type: 'message', seq: 1, body: 'hello' });
    const counts = model.counts();
    for (const hop of [
      'clientToGateway',
      'gatewayToClient',
      'invokeWarm',
      'dynamodbTransaction',
      'kinesisPut',
      'postToConnection',
    ] as const) {
      expect(counts[hop], hop).toBeGreaterThan(0);
    }
  });

  it('hands stream records to the consumers no sooner than streamDelayMs after the put', async () => {
    // The fast path would deliver before the stream does: this is about the stream alone.
    const { alice, delivered } = await aliceAndBob(
      await startTestStack({ streamDelayMs: 1500, fastPathMaxConnections: 0 }),
    );

    const sendingAt = Date.now();
    await alice.request({ action: 'send', to: 'bob', clientMessageId: 'delayed', body: 'hello' });
    await delivered;

    // The fanout consumer reached bob only after the delay: the put came after sendingAt.
    expect(Date.now() - sendingAt).toBeGreaterThanOrEqual(1500);
  });

  /**
   * Starts `command` (node running the local stack, or a parent of it) with free ports and a
   * marker in its environment that every process it starts inherits.
   */
  async function startProcess(
    command: string,
    args: string[],
    environment: Record<string, string> = {},
  ): Promise<{
    child: ChildProcess;
    wsPort: number;
    webPort: number;
    pushPort: number;
    marker: string;
    output: () => string;
    exited: Promise<[number | null, NodeJS.Signals | null]>;
  }> {
    const wsPort = await findFreePort();
    let webPort = await findFreePort();
    while (webPort === wsPort) webPort = await findFreePort();
    let pushPort = await findFreePort();
    while (pushPort === wsPort || pushPort === webPort) pushPort = await findFreePort();
    const runId = randomUUID();
    const marker = `PARLEY_TEST_RUN=${runId}`;
    const child = spawn(command, args, {
      cwd: ROOT,
      env: {
        ...process.env,
        PARLEY_WS_PORT: String(wsPort),
        PARLEY_WEB_PORT: String(webPort),
        PARLEY_PUSH_PORT: String(pushPort),
        PARLEY_TEST_RUN: runId,
        ...environment,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const append = (chunk: Buffer) => {
      output += chunk.toString();
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    cleanups.push(() => {
      for (const pid of processesMarked(marker)) process.kill(pid, 'SIGKILL');
    });
    await once(child, 'spawn');
    return { child, wsPort, webPort, pushPort, marker, output: () => output, exited };
  }

  /** The local stack as `npm start` runs it, once npm has exec'd node. */
  const startStack = (environment: Record<string, string> = {}, args: string[] = []) =>
    startProcess(process.execPath, [...START_ARGS, ...args], environment);

  /** Nothing the run started is left, and none of its ports is taken. */
  async function expectAllStopped(marker: string, ports: number[]): Promise<void> {
    expect(processesMarked(marker)).toEqual([]);
    for (const port of ports) await assertPortFree(port, `port ${port}, used by the stopped stack`);
  }

  const moments = [
    { moment: 'at once', signal: 'SIGTERM', code: 143, enginesAtLeast: 0, when: async () => {} },
    {
      moment: 'as soon as its first engine process appears',
      signal: 'SIGTERM',
      code: 143,
      enginesAtLeast: 1,
      when: (pid: number) => until(() => enginesOf(pid).length > 0, 'a first engine process'),
    },
    {
      moment: 'as soon as its first engine process appears',
      signal: 'SIGINT',
      code: 130,
      enginesAtLeast: 1,
      when: (pid: number) => until(() => enginesOf(pid).length > 0, 'a first engine process'),
    },
    {
      // The gateway opens once both engines are ready; tables, stream and mappings follow.
      moment: 'just before it is ready, once its WebSocket gateway listens',
      signal: 'SIGTERM',
      code: 143,
      enginesAtLeast: 2,
      when: (_pid: number, wsPort: number) => until(() => accepts(wsPort), 'the WebSocket gateway'),
    },
  ] as const;
  for (const { moment, signal, code, enginesAtLeast, when } of moments) {
    it(`npm start stops everything it started on ${signal} ${moment}`, async () => {
      const run = await startStack();
      const pid = run.child.pid as number;

      await when(pid, run.wsPort);
      const engines = enginesOf(pid);
      run.child.kill(signal);
      const [exitCode, endedBy] = await run.exited;

      expect(engines.length).toBeGreaterThanOrEqual(enginesAtLeast);
      if (enginesAtLeast === 0) {
        // Node may not have run a line of the stack yet: then the signal itself ends it.
        expect(exitCode === code || endedBy === signal, `exit ${exitCode}, signal ${endedBy}`).toBe(true);
      } else {
        expect(exitCode, run.output()).toBe(code);
        expect(run.output()).toContain(`${signal}: stopping the local stack`);
        expect(run.output()).toContain('stopped.');
      }
      expect(engines.filter(({ pid: enginePid }) => isAlive(enginePid))).toEqual([]);
      await expectAllStopped(run.marker, [run.wsPort, run.webPort, ...engines.map(({ port }) => port)]);
    }, 120_000);
  }

  it('npm start stops everything it started when the process that started it dies during the start-up', async () => {
    // A shell that does not pass signals on, as the comment in bin/local-stack.ts describes.
    const run = await startProcess('sh', ['-c', `'${process.execPath}' ${START_ARGS.join(' ')} & wait`]);
    const shellPid = run.child.pid as number;
    let stackPid = 0;
    await until(() => {
      stackPid = processTable().find((entry) => entry.ppid === shellPid)?.pid ?? 0;
      return stackPid > 0;
    }, 'the stack process');
    await until(() => enginesOf(stackPid).length > 0, 'a first engine process');
    const engines = enginesOf(stackPid);

    run.child.kill('SIGKILL');
    await until(() => !isAlive(stackPid), 'the orphaned stack to stop');

    expect(run.output()).toContain('parent process gone: stopping the local stack');
    expect(run.output()).toContain('stopped.');
    await expectAllStopped(run.marker, [run.wsPort, run.webPort, ...engines.map(({ port }) => port)]);
  }, 120_000);

  const wrongSettings: Array<{
    given: string;
    environment?: Record<string, string>;
    args?: string[];
    message: string;
  }> = [
    {
      given: 'PARLEY_STREAM_DELAY_MS=-5',
      environment: { PARLEY_STREAM_DELAY_MS: '-5' },
      message: 'PARLEY_STREAM_DELAY_MS must be a number of milliseconds from 0 to 10000, not -5',
    },
    {
      given: 'PARLEY_STREAM_DELAY_MS=soon',
      environment: { PARLEY_STREAM_DELAY_MS: 'soon' },
      message: 'PARLEY_STREAM_DELAY_MS must be a number of milliseconds from 0 to 10000, not soon',
    },
    {
      given: 'PARLEY_WS_PORT=70000',
      environment: { PARLEY_WS_PORT: '70000' },
      message: 'PARLEY_WS_PORT must be a port number from 1 to 65535, not 70000',
    },
    {
      given: 'FAST_PATH_MAX_CONNECTIONS=1.5',
      environment: { FAST_PATH_MAX_CONNECTIONS: '1.5' },
      message: 'FAST_PATH_MAX_CONNECTIONS must be a whole number of connections from 0 to 1000, not 1.5',
    },
    { given: 'an unknown option', args: ['--bogus'], message: "Unknown option '--bogus'" },
  ];
  for (const { given, environment, args, message } of wrongSettings) {
    it(`npm start refuses ${given} with exit code 2 and says why, starting nothing`, async () => {
      const run = await startStack(environment, args);

      const [exitCode] = await run.exited;

      expect(exitCode).toBe(2);
      expect(run.output()).toContain(message);
      expect(run.output()).not.toContain('starting DynamoDB Local');
    }, 60_000);
  }

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'npm start is ready, then stops every engine it started on %s',
    async (signal) => {
      const run = await startProcess('npm', ['start']);
      await until(() => {
        if (run.child.exitCode !== null) throw new Error(`npm start exited before ready:\n${run.output()}`);
        return run.output().includes('Parley is ready');
      }, 'the ready message');
      expect(run.output()).toContain(`ws://127.0.0.1:${run.wsPort}`);
      expect(run.output()).toContain('npm run token -- alice');
      expect(run.output()).toContain(`push service    http://127.0.0.1:${run.pushPort}`);
      // The web app subscribes with the key the push-notifier signs with.
      const vapidKey = /VAPID key {7}(\S+)/.exec(run.output())?.[1];
      const page = await (await fetch(`http://127.0.0.1:${run.webPort}/config`)).json();
      expect(page).toMatchObject({ vapidPublicKey: vapidKey });
      // npm execs node, so the stack is npm's child and the engines are the stack's children.
      const stackPid = processTable().find((entry) => entry.ppid === run.child.pid)?.pid ?? 0;
      const engines = enginesOf(stackPid);
      expect(engines).toHaveLength(2);

      run.child.kill(signal);
      const [exitCode] = await run.exited;

      expect(exitCode).toBe(signal === 'SIGINT' ? 130 : 143);
      expect(run.output()).toContain('stopped.');
      expect(isAlive(stackPid)).toBe(false);
      await expectAllStopped(run.marker, [
        run.wsPort,
        run.webPort,
        run.pushPort,
        ...engines.map(({ port }) => port),
      ]);
    },
    120_000,
  );
});
