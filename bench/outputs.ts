/** Prints a run's tables and writes bench/results: latest.json, latest.md and latency.svg. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { latencyChart } from './chart.js';
import { formatJson, machineLine, renderMarkdown, renderText, type Table, tablesOf } from './report.js';
import type { BenchResults, RateRow } from './results-model.js';
import { round } from './stats.js';

export function printResults(results: BenchResults, log: (line: string) => void): void {
  log('');
  for (const table of tablesOf(results)) log(`${renderText(table)}\n`);
  const { parley, floor } = results.highestSustained;
  log(
    'Highest rate sustained (≥ 95% of the rate achieved, p99 < 1 s, every delivery made, no backlog growth): ' +
      `Parley ${parley ? `${parley}/s` : 'none'}, floor ${floor ? `${floor}/s` : 'none'}`,
  );
}

/** Writes `value` as Biome formats JSON, its numbers rounded to three decimals; returns the path. */
export function writeRoundedJson(value: unknown, path: string): string {
  const rounded = JSON.parse(
    JSON.stringify(value, (_key, element) => (typeof element === 'number' ? round(element) : element)),
  );
  writeFileSync(path, `${formatJson(rounded)}\n`);
  return path;
}

/**
 * Writes `{name}.json` and `{name}.md` (a heading line, the tables, then `footer`) for a phase
 * with a results file of its own; returns their paths.
 */
export function writeTablesAndJson(
  directory: string,
  name: string,
  results: { date: string; durationSeconds: number; machine: BenchResults['machine'] },
  tables: readonly Table[],
  footer: readonly string[] = [],
): string[] {
  mkdirSync(directory, { recursive: true });
  const json = writeRoundedJson(results, join(directory, `${name}.json`));
  const markdown = join(directory, `${name}.md`);
  writeFileSync(
    markdown,
    [
      `Run ${results.date}, ${results.durationSeconds.toFixed(0)} s. Machine: ${machineLine({ machine: results.machine } as BenchResults)}.`,
      '',
      ...tables.map((table) => `${renderMarkdown(table)}\n`),
      ...footer,
    ].join('\n'),
  );
  return [json, markdown];
}

export function writeResults(results: BenchResults, directory: string): string[] {
  mkdirSync(directory, { recursive: true });
  const json = writeRoundedJson(results, join(directory, 'latest.json'));
  const markdown = join(directory, 'latest.md');
  writeFileSync(
    markdown,
    [
      `Run ${results.date}, ${results.durationSeconds.toFixed(0)} s. Machine: ${machineLine(results)}.`,
      '',
      ...tablesOf(results).map((table) => `${renderMarkdown(table)}\n`),
    ].join('\n'),
  );
  const { machine, rates, settings } = results;
  const values = (pick: (row: RateRow) => number | undefined) => rates.map((row) => pick(row) ?? Number.NaN);
  const sustained = rates.map((row) => row.parley?.sustained !== false);
  const svg = join(directory, 'latency.svg');
  writeFileSync(
    svg,
    latencyChart({
      title: `Parley send → receive latency, ${settings.users * settings.devicesPerUser} devices, local stack`,
      subtitle: `${machine.cores} × ${machine.cpuModel}, Node ${machine.node}, ${results.date.slice(0, 10)}; floor = plain WebSocket relay`,
      rates: rates.map((row) => row.rate),
      series: [
        {
          label: 'Parley p50',
          color: '#1f77b4',
          values: values((row) => row.parley?.receive.p50),
          sustained,
        },
        {
          label: 'Parley p95',
          color: '#ff7f0e',
          values: values((row) => row.parley?.receive.p95),
          sustained,
        },
        {
          label: 'Parley p99',
          color: '#d62728',
          values: values((row) => row.parley?.receive.p99),
          sustained,
        },
        {
          label: 'floor p50',
          color: '#1f77b4',
          dashed: true,
          values: values((row) => row.floor?.receive.p50),
        },
        {
          label: 'floor p99',
          color: '#d62728',
          dashed: true,
          values: values((row) => row.floor?.receive.p99),
        },
      ],
      references: [
        { label: `p50 target 30 ms (at ${settings.targetRate}/s)`, ms: 30, color: '#1f77b4' },
        { label: `p99 target 100 ms (at ${settings.targetRate}/s)`, ms: 100, color: '#d62728' },
      ],
    }),
  );
  return [json, markdown, svg];
}
