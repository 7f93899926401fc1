/** The benchmark's tables, as fixed-width text for the terminal and as Markdown for the README. */
import { costTable } from './cost-table.js';
import type { BenchResults, RateRow } from './results-model.js';
import { SEGMENTS } from './segments.js';

export interface Table {
  title: string;
  headers: string[];
  rows: string[][];
  notes?: string[];
  /** Lines after the notes, not indented: a conclusion a reader looks for. */
  footer?: string[];
}

const ms = (value: number | undefined) =>
  value === undefined || !Number.isFinite(value) ? '–' : value >= 100 ? value.toFixed(0) : value.toFixed(1);
const num = (value: number | undefined, digits = 2) =>
  value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits);
const times = (value: number | undefined) =>
  value === undefined || !Number.isFinite(value)
    ? '–'
    : `${value >= 10 ? value.toFixed(0) : value.toFixed(1)}×`;

function latencyTable(results: BenchResults): Table {
  const rows = results.rates.map((row) => {
    const p = row.parley;
    const f = row.floor;
    return [
      `${row.rate}/s`,
      p ? num(Math.min(p.offeredRate, p.deliveredRate), 1) : '–',
      p ? String(p.messages) : '–',
      ms(p?.receive.p50),
      ms(p?.receive.p95),
      ms(p?.receive.p99),
      ms(p?.receive.max),
      ms(p?.sent.p50),
      ms(p?.sent.p99),
      ms(f?.receive.p50),
      ms(f?.receive.p99),
      row.skipped ? 'skipped' : p ? (p.sustained ? 'yes' : 'no') : '–',
    ];
  });
  const notes: string[] = [];
  for (const row of results.rates) {
    if (row.parley && !row.parley.sustained)
      notes.push(`${row.rate}/s not sustained: ${row.parley.shortfalls.join('; ')}`);
    if (row.skipped) notes.push(`${row.rate}/s ${row.skipped}`);
  }
  return {
    title: 'Latency, send → receive at every receiving device (ms)',
    headers: [
      'rate',
      'achieved/s',
      'msgs',
      'p50',
      'p95',
      'p99',
      'max',
      'sent p50',
      'sent p99',
      'floor p50',
      'floor p99',
      'sustained',
    ],
    rows,
    notes,
  };
}

function ratioTable(results: BenchResults): Table {
  const withRatio = results.rates.filter((row): row is RateRow & { ratio: NonNullable<RateRow['ratio']> } =>
    Boolean(row.ratio),
  );
  return {
    title: 'Parley ÷ floor (a plain WebSocket relay on the same machine, same clients and rates)',
    headers: ['rate', 'p50', 'p95', 'p99', 'max', 'sent p50', 'sent p99'],
    rows: withRatio.map((row) => [
      `${row.rate}/s`,
      times(row.ratio.p50),
      times(row.ratio.p95),
      times(row.ratio.p99),
      times(row.ratio.max),
      times(row.ratio.sentP50),
      times(row.ratio.sentP99),
    ]),
  };
}

function segmentsTable(results: BenchResults): Table {
  const measured = results.rates.filter((row) => row.parley);
  const rows = SEGMENTS.map(({ key, name }) => [
    name,
    ...measured.map((row) => {
      const segment = row.parley?.segments.segments[key];
      return `${ms(segment?.mean)} / ${ms(segment?.p50)}`;
    }),
  ]);
  rows.push([
    'total (send → device)',
    ...measured.map(
      (row) => `${ms(row.parley?.segments.total.mean)} / ${ms(row.parley?.segments.total.p50)}`,
    ),
  ]);
  rows.push([
    'side: send handler end → `sent` at client',
    ...measured.map(
      (row) => `${ms(row.parley?.segments.sentReturn.mean)} / ${ms(row.parley?.segments.sentReturn.p50)}`,
    ),
  ]);
  rows.push([
    'side: @connections post round trip',
    ...measured.map(
      (row) =>
        `${ms(row.parley?.segments.postRoundTrip.mean)} / ${ms(row.parley?.segments.postRoundTrip.p50)}`,
    ),
  ]);
  rows.push([
    'side: fanout invocation (records per batch)',
    ...measured.map(
      (row) =>
        `${ms(row.parley?.server.fanoutBatch.meanMs)} (${num(row.parley?.server.fanoutBatch.recordsPerInvocation, 1)})`,
    ),
  ]);
  rows.push([
    'side: fanout list update (beside the posts)',
    ...measured.map((row) => ms(row.parley?.server.listUpdateMs)),
  ]);
  rows.push([
    'side: GetRecords calls/s, mean ms',
    ...measured.map(
      (row) =>
        `${num(row.parley?.server.getRecords.perSecond, 0)}, ${ms(row.parley?.server.getRecords.meanMs)}`,
    ),
  ]);
  rows.push([
    'side: stack metric DeliveryLatency (commit → post) p50',
    ...measured.map((row) => ms(row.parley?.deliveryLatencyMetric.p50)),
  ]);
  return {
    title: 'Where the time goes: mean / p50 ms per receive, by rate (segments add up to the total)',
    headers: ['segment', ...measured.map((row) => `${row.rate}/s`)],
    rows,
  };
}

type PerMessage = NonNullable<RateRow['parley']>['server']['perMessage'];
type RowOf = (
  label: string,
  pick: (perMessage: PerMessage | undefined, row: RateRow) => number | undefined,
  digits?: number,
) => string[];

/** Makes rows of one figure per measured rate, picked from the rate's figures per message. */
const rowsOf =
  (measured: RateRow[]): RowOf =>
  (label, pick, digits = 2) => [
    label,
    ...measured.map((row) => num(pick(row.parley?.server.perMessage, row), digits)),
  ];

/** Write and read units per message of each table any rate touched. */
function dynamoDbRows(measured: RateRow[], figureRow: RowOf): string[][] {
  const tables = [
    ...new Set(measured.flatMap((row) => Object.keys(row.parley?.server.perMessage.dynamodb ?? {}))),
  ];
  return tables.flatMap((table) => [
    [
      `DynamoDB ${table}: write units (DynamoDB Local said)`,
      ...measured.map((row) => {
        const units = row.parley?.server.perMessage.dynamodb[table];
        return units ? `${num(units.write)} (${num(units.reportedWrite)})` : '–';
      }),
    ],
    figureRow(`DynamoDB ${table}: read units`, (perMessage) => perMessage?.dynamodb[table]?.read),
  ]);
}

/** Seq races, stream records, posts and frames per message. */
function trafficRows(figureRow: RowOf): string[][] {
  return [
    figureRow(
      'sequencing: lost seq races (retried transactions)',
      (_, rate) => rate.parley?.server.sequencing.retriesPerMessage,
      3,
    ),
    figureRow('Kinesis records', (perMessage) => perMessage?.kinesisRecords),
    figureRow('Kinesis bytes', (perMessage) => perMessage?.kinesisBytes, 0),
    figureRow('@connections posts', (perMessage) => perMessage?.posts),
    figureRow('frames in / route responses', (perMessage) => perMessage?.framesIn),
  ];
}

/** Invocations per message of each function, then their wall time per message. */
function invocationRows(measured: RateRow[], figureRow: RowOf): string[][] {
  const functions = [
    ...new Set(measured.flatMap((row) => Object.keys(row.parley?.server.perMessage.invocations ?? {}))),
  ] as Array<keyof PerMessage['invocations']>;
  return [
    ...functions.map((id) => figureRow(`invocations: ${id}`, (perMessage) => perMessage?.invocations[id], 3)),
    ...functions.map((id) =>
      figureRow(`invocation wall ms: ${id}`, (perMessage) => perMessage?.durationMs[id], 1),
    ),
  ];
}

/** CPU per message by process, the ceiling it implies, and how busy the cores were. */
function cpuRows(results: BenchResults, measured: RateRow[], figureRow: RowOf): string[][] {
  const machineCores = results.machine.cores;
  const totalCpu = (perMessage: PerMessage | undefined) => {
    const cpu = perMessage?.cpuMs;
    return cpu ? cpu.stack + cpu['dynamodb-local'] + cpu['kinesis-mock'] : Number.NaN;
  };
  return [
    figureRow('CPU ms: stack process (handlers + emulators)', (perMessage) => perMessage?.cpuMs.stack),
    figureRow('CPU ms: DynamoDB Local', (perMessage) => perMessage?.cpuMs['dynamodb-local']),
    figureRow('CPU ms: kinesis-mock', (perMessage) => perMessage?.cpuMs['kinesis-mock']),
    figureRow('CPU ms: load generator', (perMessage) => perMessage?.cpuMs['load-generator']),
    figureRow('CPU ms: stack + engines, all told', totalCpu),
    figureRow(
      `ceiling on ${machineCores} cores at that CPU cost (msg/s)`,
      (perMessage) => (machineCores * 1000) / totalCpu(perMessage),
      0,
    ),
    [
      'cores busy: stack / DynamoDB Local / kinesis-mock / load',
      ...measured.map((row) => {
        const cores = row.parley?.server.cores;
        return cores
          ? [cores.stack, cores['dynamodb-local'], cores['kinesis-mock'], cores['load-generator']]
              .map((value) => num(value))
              .join(' / ')
          : '–';
      }),
    ],
    [
      'cores busy elsewhere on the machine / stolen',
      ...measured.map((row) => {
        const machine = row.parley?.server.machine;
        return machine ? `${num(machine.otherCores)} / ${num(machine.stealCores)}` : '–';
      }),
    ],
  ];
}

function perMessageTable(results: BenchResults): Table {
  const measured = results.rates.filter((row) => row.parley);
  const figureRow = rowsOf(measured);
  return {
    title: 'Per message, by rate (DynamoDB units as AWS bills them: 2 per item in a transaction)',
    headers: ['', ...measured.map((row) => `${row.rate}/s`)],
    rows: [
      ...dynamoDbRows(measured, figureRow),
      ...trafficRows(figureRow),
      ...invocationRows(measured, figureRow),
      ...cpuRows(results, measured, figureRow),
    ],
  };
}

function cpuTable(results: BenchResults): Table | undefined {
  const cpu = results.cpuAttribution;
  if (!cpu) return undefined;
  const rows = Object.entries(cpu.byFunctionCpuMs).map(([functionId, value]) => [
    functionId,
    `${(100 * (cpu.shares[functionId] ?? 0)).toFixed(1)}%`,
    num(value, 3),
  ]);
  rows.push(['all handlers', `${(100 * cpu.handlerShare).toFixed(1)}%`, num(cpu.handlerCpuMs, 3)]);
  rows.push([
    'other (gateway and mapping emulators, benchmark)',
    `${(100 * (cpu.shares.other ?? 0)).toFixed(1)}%`,
    '',
  ]);
  return {
    title: `Handler CPU per message (attribution phase at ${cpu.rate}/s, ${cpu.messages} messages)`,
    headers: ['function', 'share of stack main thread', 'CPU ms per message'],
    rows,
    notes: [
      `stack process CPU per message at ${cpu.rate}/s: ${num(cpu.cleanStackCpuMs)} ms without hooks, ${num(cpu.hookedStackCpuMs)} ms with them; handler CPU = share × ${num(cpu.cleanStackCpuMs)} ms`,
    ],
  };
}

function catchUpTable(results: BenchResults): Table | undefined {
  if (results.catchUp.length === 0) return undefined;
  return {
    title: `Catch-up after missing ${results.catchUp[0]?.missed} messages (conversations since cursor, then sync)`,
    headers: [
      'history',
      'seeded in',
      'frames',
      'DynamoDB requests',
      'items read',
      'read units',
      'time ms (median)',
    ],
    rows: results.catchUp.map((figures) => [
      figures.history.toLocaleString('en-US'),
      `${(figures.seedMs / 1000).toFixed(1)} s`,
      String(figures.frames),
      String(figures.requests),
      String(figures.itemsRead),
      num(figures.readUnits, 1),
      ms(figures.ms),
    ]),
    notes: results.catchUp.map(
      (figures) =>
        `history ${figures.history.toLocaleString('en-US')}, median ms per request over ${figures.repetitions} runs: ` +
        Object.entries(figures.requestMs)
          .map(([request, value]) => `${request} ${ms(value)}`)
          .join(', '),
    ),
  };
}

function targetsTable(results: BenchResults): Table {
  return {
    title: 'Targets (local stack; reported, not asserted)',
    headers: ['target', 'goal', 'measured', 'met'],
    rows: results.targets.map((target) => [
      target.name,
      target.target,
      target.measured,
      target.met === undefined ? 'not measured' : target.met ? 'met' : 'NOT met',
    ]),
  };
}

export function tablesOf(results: BenchResults): Table[] {
  return [
    latencyTable(results),
    ratioTable(results),
    segmentsTable(results),
    perMessageTable(results),
    cpuTable(results),
    costTable(results),
    catchUpTable(results),
    targetsTable(results),
  ].filter((table): table is Table => table !== undefined && table.rows.length > 0);
}

export function machineLine(results: BenchResults): string {
  const { machine } = results;
  const other = machine.otherWork;
  const idle =
    !other.vitest && other.otherJava === 0
      ? 'idle otherwise'
      : `NOT idle: ${[other.vitest ? 'vitest running' : '', other.otherJava ? `${other.otherJava} other java process(es)` : ''].filter(Boolean).join(', ')}`;
  const during = machine.duringRun
    ? `; during the run other processes kept ${machine.duringRun.otherCores.toFixed(2)} cores busy, the hypervisor stole ${machine.duringRun.stealCores.toFixed(2)}`
    : '';
  return `${machine.cores} × ${machine.cpuModel}, ${machine.memoryGb} GB, Node ${machine.node}, ${machine.platform}; ${idle} (load average ${other.loadAverage.map((value) => value.toFixed(2)).join(' ')} at start)${during}`;
}

export function renderText(table: Table): string {
  const cells = [table.headers, ...table.rows];
  const widths = table.headers.map((_, column) =>
    Math.max(...cells.map((row) => (row[column] ?? '').length)),
  );
  const line = (row: string[]) =>
    row
      .map((cell, column) =>
        column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0),
      )
      .join('  ');
  return [
    table.title,
    line(table.headers),
    widths.map((width) => '-'.repeat(width)).join('  '),
    ...table.rows.map(line),
    ...(table.notes ?? []).map((note) => `  ${note}`),
    ...(table.footer ?? []),
  ].join('\n');
}

/** A Markdown table with its columns padded, as Biome formats Markdown (so the README can take it as is). */
export function renderMarkdown(table: Table): string {
  const escapeCell = (cell: string) => cell.replaceAll('|', '\\|');
  const cells = [table.headers, ...table.rows].map((row) => row.map(escapeCell));
  const widths = table.headers.map((_, column) =>
    Math.max(3, ...cells.map((row) => [...(row[column] ?? '')].length)),
  );
  const pad = (cell: string, column: number) => {
    const fill = ' '.repeat(Math.max(0, (widths[column] ?? 0) - [...cell].length));
    return column === 0 ? cell + fill : fill + cell;
  };
  const line = (row: string[]) => `| ${row.map(pad).join(' | ')} |`;
  const rule = widths.map((width, column) =>
    column === 0 ? '-'.repeat(width) : `${'-'.repeat(width - 1)}:`,
  );
  return [
    `**${table.title}**`,
    '',
    line(cells[0] ?? []),
    `| ${rule.join(' | ')} |`,
    ...cells.slice(1).map(line),
    ...(table.notes?.length ? ['', ...table.notes.map((note) => `- ${note}`)] : []),
    ...(table.footer?.length ? ['', ...table.footer] : []),
  ].join('\n');
}

/**
 * JSON as Biome formats it: objects one key a line, arrays of plain values on one line when
 * they fit in 110 columns. So that the results file passes `biome check` as written.
 */
export function formatJson(value: unknown, indent = '', prefix = 0): string {
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every((element) => element === null || typeof element !== 'object')) {
      const flat = `[${value.map((element) => JSON.stringify(element)).join(', ')}]`;
      if (prefix + flat.length + 1 <= 110) return flat;
    }
    const elements = value.map((element) => `${inner}${formatJson(element, inner, inner.length)}`);
    return `[\n${elements.join(',\n')}\n${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, element]) => element !== undefined);
    if (entries.length === 0) return '{}';
    const lines = entries.map(([key, element]) => {
      const head = `${inner}${JSON.stringify(key)}: `;
      return `${head}${formatJson(element, inner, head.length)}`;
    });
    return `{\n${lines.join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value ?? null);
}
