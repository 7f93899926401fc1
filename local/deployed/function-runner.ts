/**
 * Runs a Lambda function from its bundle as the Lambda service does: each execution
 * environment (a worker thread here) loads the bundle once with the function's
 * environment and handles one invocation at a time; concurrent invocations get more
 * environments, up to a bound; an invocation that outlives the function's timeout fails
 * with Lambda's message and its environment is thrown away.
 */
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FunctionError } from '../errors.js';

const WORKER_SCRIPT = fileURLToPath(new URL('./lambda-worker.cjs', import.meta.url));

export interface FunctionSpec {
  /** The function's physical name, as the template's function would be named. */
  functionName: string;
  /** The folder holding the bundle (`cdk.out/asset.…`). */
  bundleDir: string;
  /** `index.handler`: file and export. */
  handler: string;
  environment: Record<string, string>;
  memoryMiB: number;
  timeoutSeconds: number;
}

export interface FunctionRunnerOptions {
  region: string;
  accountId: string;
  /** Execution environments at most per function; invocations beyond wait for one. Default 4. */
  maxEnvironments?: number;
  /** Each line the function writes to stdout or stderr (its JSON logs and EMF metrics). */
  onOutput?: (functionName: string, line: string) => void;
}

interface Environment {
  worker: Worker;
  ready: Promise<void>;
  busy: boolean;
}

interface Pending {
  environment: Environment;
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
}

export class FunctionRunner {
  readonly #spec: FunctionSpec;
  readonly #options: FunctionRunnerOptions;
  readonly #environments = new Set<Environment>();
  readonly #waiting: Array<(environment: Environment) => void> = [];
  readonly #pending = new Map<string, Pending>();
  #stopped = false;

  constructor(spec: FunctionSpec, options: FunctionRunnerOptions) {
    this.#spec = spec;
    this.#options = options;
  }

  get functionName(): string {
    return this.#spec.functionName;
  }

  /** Starts one environment ahead of the first invocation, as provisioned concurrency would. */
  async warm(): Promise<void> {
    if (this.#environments.size === 0) await this.#start().ready;
  }

  async invoke<Result = unknown>(event: unknown): Promise<Result> {
    if (this.#stopped)
      throw new FunctionError(this.functionName, 'ServiceException', 'the function is stopped');
    const environment = await this.#acquire();
    const id = randomUUID();
    const timeoutMs = this.#spec.timeoutSeconds * 1000;
    const started = Date.now();
    try {
      return (await new Promise<unknown>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.#pending.delete(id);
          // Lambda stops the environment of a timed-out invocation; the next one starts anew.
          this.#discard(environment);
          const seconds = ((Date.now() - started) / 1000).toFixed(2);
          reject(
            new FunctionError(
              this.functionName,
              'Sandbox.Timedout',
              `Task timed out after ${seconds} seconds`,
            ),
          );
        }, timeoutMs);
        this.#pending.set(id, {
          environment,
          resolve: (result) => {
            clearTimeout(timer);
            resolve(result);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        });
        environment.worker.postMessage({
          type: 'invoke',
          id,
          requestId: id,
          event,
          deadline: started + timeoutMs,
        });
      })) as Result;
    } finally {
      this.#release(environment);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all([...this.#environments].map((environment) => environment.worker.terminate()));
    this.#environments.clear();
    for (const [id, pending] of this.#pending) {
      pending.reject(new FunctionError(this.functionName, 'ServiceException', 'the function was stopped'));
      this.#pending.delete(id);
    }
  }

  async #acquire(): Promise<Environment> {
    for (const environment of this.#environments) {
      if (!environment.busy) {
        environment.busy = true;
        await environment.ready;
        return environment;
      }
    }
    if (this.#environments.size < (this.#options.maxEnvironments ?? 4)) {
      const environment = this.#start();
      environment.busy = true;
      await environment.ready;
      return environment;
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(environment: Environment): void {
    if (!this.#environments.has(environment)) {
      // Discarded (timed out): a waiting invocation gets a new environment instead.
      const next = this.#waiting.shift();
      if (next) void this.#acquire().then(next);
      return;
    }
    const next = this.#waiting.shift();
    if (next) next(environment);
    else environment.busy = false;
  }

  #discard(environment: Environment): void {
    this.#environments.delete(environment);
    void environment.worker.terminate();
  }

  #start(): Environment {
    const spec = this.#spec;
    const worker = new Worker(WORKER_SCRIPT, {
      env: spec.environment,
      stdout: true,
      stderr: true,
      workerData: {
        bundleDir: spec.bundleDir,
        handlerName: spec.handler,
        functionName: spec.functionName,
        memoryMiB: spec.memoryMiB,
        region: this.#options.region,
        accountId: this.#options.accountId,
      },
    });
    this.#forward(worker.stdout);
    this.#forward(worker.stderr);
    let markReady: () => void = () => {};
    const environment: Environment = {
      worker,
      busy: false,
      ready: new Promise<void>((resolve) => {
        markReady = resolve;
      }),
    };
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'ready') {
        if (message.initError) {
          this.#options.onOutput?.(
            spec.functionName,
            JSON.stringify({ level: 'ERROR', message: 'INIT failed', error: message.initError }),
          );
        }
        markReady();
        return;
      }
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      if (message.error) {
        const { name, message: text, stack } = message.error;
        pending.reject(new FunctionError(spec.functionName, name, text, stack));
      } else {
        pending.resolve(message.result);
      }
    });
    worker.on('error', (error) => {
      // A crash of the environment fails what it was running, as Runtime.ExitError does.
      this.#environments.delete(environment);
      markReady();
      for (const [id, pending] of this.#pending) {
        if (pending.environment !== environment) continue;
        pending.reject(new FunctionError(spec.functionName, 'Runtime.ExitError', error.message));
        this.#pending.delete(id);
      }
    });
    this.#environments.add(environment);
    return environment;
  }

  #forward(stream: Readable): void {
    const onOutput = this.#options.onOutput;
    if (!onOutput) {
      stream.resume();
      return;
    }
    createInterface({ input: stream }).on('line', (line) => onOutput(this.#spec.functionName, line));
  }
}

type WorkerMessage =
  | { type: 'ready'; initError?: { name: string; message: string; stack?: string } }
  | {
      type: 'result';
      id: string;
      result?: unknown;
      error?: { name: string; message: string; stack?: string };
    };
