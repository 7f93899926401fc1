/**
 * CPU time: of this process (the handlers, the emulated API Gateway and event source
 * mapping), of the engines and the load generator (child processes, read from /proc), and
 * the share of this process's main thread that runs inside handler invocations.
 */
import { AsyncLocalStorage, createHook } from 'node:async_hooks';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export type ProcessRole = 'dynamodb-local' | 'kinesis-mock' | 'load-generator';

export interface CpuSnapshot {
  /** This process (user + system), ms. */
  self: number;
  /** The whole machine from /proc/stat, ms summed over cores: busy, and stolen by the hypervisor. */
  machine: { busy: number; steal: number } | undefined;
  /** Each child process by role, ms; absent where /proc cannot be read. */
  children: Partial<Record<ProcessRole, number>>;
  at: number;
}

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

function roleOf(commandLine: string): ProcessRole | undefined {
  if (commandLine.includes('DynamoDBLocal.jar')) return 'dynamodb-local';
  if (commandLine.includes('kinesis-local')) return 'kinesis-mock';
  if (commandLine.includes('load-client')) return 'load-generator';
  return undefined;
}

/** CPU ms of this process's children, by role (Linux /proc; empty elsewhere). */
function childrenCpu(): Partial<Record<ProcessRole, number>> {
  const totals: Partial<Record<ProcessRole, number>> = {};
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return totals;
  }
  for (const pid of entries) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // The command name may hold spaces and parentheses: the fields start after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== process.pid) continue;
      const role = roleOf(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      if (!role) continue;
      const ticks = Number(fields[11]) + Number(fields[12]);
      totals[role] = (totals[role] ?? 0) + (ticks * 1000) / clockTicks();
    } catch {
      // the process ended meanwhile
    }
  }
  return totals;
}

function machineCpu(): CpuSnapshot['machine'] {
  try {
    const [, user, nice, system, , , irq, softirq, steal] =
      readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).map(Number) ?? [];
    const toMs = (ticks: number) => (ticks * 1000) / clockTicks();
    return {
      busy: toMs((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0)),
      steal: toMs(steal ?? 0),
    };
  } catch {
    return undefined;
  }
}

export function cpuSnapshot(): CpuSnapshot {
  const { user, system } = process.cpuUsage();
  return {
    self: (user + system) / 1000,
    machine: machineCpu(),
    children: childrenCpu(),
    at: performance.now(),
  };
}

export interface CpuUse {
  /** CPU ms over the interval, by process. */
  ms: Record<'stack' | ProcessRole, number>;
  /** Wall-clock ms of the interval. */
  wallMs: number;
  /** Cores busy with processes that are not the benchmark's, and stolen by the hypervisor, on average. */
  machine: { otherCores: number; stealCores: number } | undefined;
}

export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): CpuUse {
  const child = (role: ProcessRole) => (after.children[role] ?? 0) - (before.children[role] ?? 0);
  const ms = {
    stack: after.self - before.self,
    'dynamodb-local': child('dynamodb-local'),
    'kinesis-mock': child('kinesis-mock'),
    'load-generator': child('load-generator'),
  };
  const wallMs = after.at - before.at;
  const ours = Object.values(ms).reduce((total, value) => total + value, 0);
  return {
    ms,
    wallMs,
    machine:
      before.machine && after.machine && wallMs > 0
        ? {
            otherCores: Math.max(0, after.machine.busy - before.machine.busy - ours) / wallMs,
            stealCores: (after.machine.steal - before.machine.steal) / wallMs,
          }
        : undefined,
  };
}

/**
 * Splits the main thread's busy time between handler invocations and everything else.
 * Each invocation runs in an AsyncLocalStorage context named after its function; an
 * async hook times every callback (and the invocation's synchronous start) and charges it
 * to the context it runs in, so an `await` continuation, a timer or a socket callback
 * created by a handler counts for that handler, and the emulated gateway, the event source
 * mapping and the benchmark's own bookkeeping count as other. Hooks slow every callback
 * down, so use the share it gives, not its absolute times; it is active only while started.
 */
export class CpuAttribution {
  readonly #storage = new AsyncLocalStorage<string>();
  readonly #stack: Array<{ owner: string; since: number }> = [];
  readonly #totals = new Map<string, number>();
  readonly #hook = createHook({
    before: () => this.#enter(this.#storage.getStore() ?? OTHER),
    after: () => this.#leave(),
  });
  active = false;

  start(): void {
    this.#totals.clear();
    this.#stack.length = 0;
    this.active = true;
    this.#hook.enable();
  }

  /** Stops timing; returns ms by function id, and `other` for the rest. */
  stop(): Map<string, number> {
    this.#hook.disable();
    this.#storage.disable();
    this.active = false;
    this.#stack.length = 0;
    return new Map(this.#totals);
  }

  /** Runs `body` (a handler invocation) as `owner`, its synchronous part included. */
  run<T>(owner: string, body: () => T): T {
    this.#enter(owner);
    try {
      return this.#storage.run(owner, body);
    } finally {
      this.#leave();
    }
  }

  #charge(owner: string, ms: number): void {
    this.#totals.set(owner, (this.#totals.get(owner) ?? 0) + ms);
  }

  #enter(owner: string): void {
    const at = performance.now();
    const top = this.#stack.at(-1);
    if (top) this.#charge(top.owner, at - top.since);
    this.#stack.push({ owner, since: at });
  }

  #leave(): void {
    const at = performance.now();
    const top = this.#stack.pop();
    if (top) this.#charge(top.owner, at - top.since);
    const parent = this.#stack.at(-1);
    if (parent) parent.since = at;
  }
}

export const OTHER = 'other';
