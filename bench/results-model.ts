/** The shape of bench/results/latest.json: every figure of a run and the machine it ran on. */
import type { ClientFigures, PerMessage, ServerFigures } from './analysis.js';
import type { CatchUpFigures } from './catch-up.js';
import type { CostEstimate } from './cost.js';
import type { SegmentFigures } from './segments.js';
import type { BenchSettings } from './settings.js';
import type { Distribution } from './stats.js';

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGb: number;
  node: string;
  platform: string;
  /** Whether anything else was running when the run started (a vitest run, other engines) and the load average. */
  otherWork: { vitest: boolean; otherJava: number; loadAverage: number[] };
  /** Cores other processes kept busy, and the hypervisor stole, on average over the whole run. */
  duringRun?: { otherCores: number; stealCores: number };
}

export interface ParleyRate extends ClientFigures {
  segments: SegmentFigures;
  server: ServerFigures;
  /** The stack's own DeliveryLatency metric (commit → post, per post), for comparison. */
  deliveryLatencyMetric: Distribution;
}

export interface RateRow {
  rate: number;
  floor?: ClientFigures;
  parley?: ParleyRate;
  /** Why Parley did not run this rate. */
  skipped?: string;
  /** Parley ÷ floor. */
  ratio?: { p50: number; p95: number; p99: number; max: number; sentP50: number; sentP99: number };
}

export interface CpuAttributionFigures {
  rate: number;
  seconds: number;
  messages: number;
  /** Share of the stack process's main-thread busy time spent in each function's invocations, and in nothing. */
  shares: Record<string, number>;
  handlerShare: number;
  /** Stack process CPU per message while the hooks ran (slowed by them), and at the same rate without them. */
  hookedStackCpuMs: number;
  cleanStackCpuMs: number;
  /** handlerShare × cleanStackCpuMs, and its split by function. */
  handlerCpuMs: number;
  byFunctionCpuMs: Record<string, number>;
}

export interface TargetCheck {
  name: string;
  target: string;
  measured: string;
  met: boolean | undefined;
}

export interface BenchResults {
  version: 1;
  date: string;
  durationSeconds: number;
  machine: Machine;
  settings: Omit<BenchSettings, 'resultsDir'>;
  startup: { stackMs?: number; parleyConnectMs?: number; floorConnectMs?: number };
  rates: RateRow[];
  highestSustained: { parley: number | null; floor: number | null };
  cpuAttribution?: CpuAttributionFigures;
  /** Per-message figures and cost at `costRate` (the target rate, else the last rate measured). */
  costRate?: number;
  /** The phase the cost is priced from, when it ran: its rate, messages, and whether devices acked. */
  costPhase?: { rate: number; seconds: number; messages: number; acks: boolean };
  perMessage?: PerMessage;
  cost?: CostEstimate;
  catchUp: CatchUpFigures[];
  targets: TargetCheck[];
}
