/** The machine a run is measured on, and what else was running on it. */
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import type { Machine } from './results-model.js';

function commandLines(): Array<{ pid: number; commandLine: string }> {
  const lines: Array<{ pid: number; commandLine: string }> = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      lines.push({
        pid: Number(pid),
        commandLine: readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '),
      });
    } catch {
      // ended meanwhile
    }
  }
  return lines;
}

export function describeMachine(): Machine {
  let processes: Array<{ pid: number; commandLine: string }> = [];
  try {
    processes = commandLines();
  } catch {
    // no /proc: nothing to say about other work
  }
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    platform: `${platform()} ${release()}`,
    otherWork: {
      vitest: processes.some((p) => p.pid !== process.pid && p.commandLine.includes('vitest')),
      otherJava: processes.filter((p) => /(^|\/)java /.test(p.commandLine)).length,
      loadAverage: loadavg(),
    },
  };
}
