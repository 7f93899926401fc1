/** The benchmark's side of the load generator: starts `load-client.ts` and sends it one command at a time. */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { DeviceSpec, LoadCommand, LoadReply, RunResult } from './load-protocol.js';

export class LoadGenerator {
  readonly #child: ChildProcess;
  #exited: Promise<void>;

  private constructor(child: ChildProcess) {
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** Forks the load generator with this process's loader flags (tsx), so it runs the TypeScript source. */
  static start(): LoadGenerator {
    const child = fork(fileURLToPath(new URL('./load-client.ts', import.meta.url)), [], {
      execArgv: process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new LoadGenerator(child);
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  #ask(command: LoadCommand): Promise<LoadReply> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`the load generator exited (${code})`));
      this.#child.once('exit', onExit);
      this.#child.once('message', (reply: LoadReply) => {
        this.#child.off('exit', onExit);
        if (reply.kind === 'failed') reject(new Error(`load generator: ${reply.message}`));
        else resolve(reply);
      });
      this.#child.send(command);
    });
  }

  async connect(url: string, devices: DeviceSpec[], concurrency = 16): Promise<number> {
    const reply = await this.#ask({ kind: 'connect', url, devices, concurrency });
    return reply.kind === 'connected' ? reply.ms : Number.NaN;
  }

  async run(command: Omit<Extract<LoadCommand, { kind: 'run' }>, 'kind'>): Promise<RunResult> {
    const reply = await this.#ask({ kind: 'run', ...command });
    if (reply.kind !== 'ran') throw new Error(`load generator answered ${reply.kind} to run`);
    return reply.result;
  }

  async groupRun(command: Omit<Extract<LoadCommand, { kind: 'groupRun' }>, 'kind'>): Promise<RunResult> {
    const reply = await this.#ask({ kind: 'groupRun', ...command });
    if (reply.kind !== 'ran') throw new Error(`load generator answered ${reply.kind} to groupRun`);
    return reply.result;
  }

  async disconnect(): Promise<void> {
    await this.#ask({ kind: 'disconnect' });
  }

  /** Ends the child: it exits when its IPC channel closes; killed if it does not within 3 s. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#child.disconnect();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 3000);
    await this.#exited;
    clearTimeout(timer);
  }
}
