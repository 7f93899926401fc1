/**
 * The cost table of a run: every line of `estimateCost` with where its count comes from,
 * the total by service, and the one figure the README quotes, on a line of its own.
 */
import type { CostEstimate, TierPriced } from './cost.js';
import { PRICES } from './prices.js';
import type { Table } from './report.js';
import type { BenchResults } from './results-model.js';

/** Dollars with enough digits to tell small lines apart. */
export const usd = (value: number) =>
  value >= 10 ? value.toFixed(2) : value >= 0.01 ? value.toFixed(3) : value.toExponential(1);

const count = (value: number) => (value >= 0.001 ? value.toFixed(3) : value.toExponential(2));

/** The line the README quotes and the lead compares before and after. */
export const allInLine = (cost: CostEstimate) =>
  `all-in cost per million messages: $${cost.usdPerMillion.toFixed(2)}`;

/** How DynamoDB was priced, for the table's title. */
function capacityPriced(cost: CostEstimate): string {
  const capacity = cost.dynamodbCapacity ?? { mode: 'on-demand' };
  return capacity.mode === 'on-demand'
    ? 'DynamoDB on demand'
    : `DynamoDB provisioned at ${capacity.targetUtilizationPercent} % utilisation`;
}

/** The line that follows the all-in line when DynamoDB is priced on demand. */
export const provisionedLine = (cost: CostEstimate) =>
  cost.provisionedAlternative
    ? `with provisioned capacity at ${cost.provisionedAlternative.targetUtilizationPercent} %: $${cost.provisionedAlternative.usdPerMillion.toFixed(2)}`
    : undefined;

/** A volume in words (`15.1 billion`), easier to read against a tier's bounds than `1.51e10`. */
function volume(value: number): string {
  const scales: Array<[number, string]> = [
    [1e12, 'trillion'],
    [1e9, 'billion'],
    [1e6, 'million'],
    [1e3, 'thousand'],
  ];
  const [scale, name] = scales.find(([size]) => value >= size) ?? [1, ''];
  return `${(value / scale).toFixed(1)}${name ? ` ${name}` : ''}`;
}

/** Which band of its volume tiers a price reached at section 1's month, and what was priced. */
function tierNote(tier: TierPriced): string {
  const { unit } = PRICES[tier.price];
  const reached = `${volume(tier.monthlyVolume)} ${tier.per} a month → tier ${tier.tier} of ${tier.tiers}`;
  return tier.applied
    ? `${unit}: ${reached}, priced at the blended $${tier.usdPerUnit.toPrecision(4)}`
    : `${unit}: ${reached}, not applied (tiers unverified), priced at the first: $${tier.usdPerUnit.toPrecision(4)}`;
}

/** Where the per-message counts came from, for the table's title. */
function measuredAt(results: BenchResults): string {
  const phase = results.costPhase;
  if (phase) {
    const acks = phase.acks ? 'every message acked delivered and read by a recipient device' : 'no acks';
    return `a cost phase of ${phase.messages} messages at ${phase.rate}/s (${acks})`;
  }
  return `the figures at ${results.costRate}/s (no acks: receipts are not in them)`;
}

export function costTable(results: BenchResults): Table | undefined {
  const cost = results.cost;
  if (!cost) return undefined;
  const rows = cost.lines.map((line) => [
    `${line.service}: ${line.item}`,
    `${count(line.perMessage)} ${line.unit}`,
    line.basis,
    usd(line.usdPerMillion),
  ]);
  const unverified = Object.values(PRICES)
    .filter((price) => !price.verified)
    .map((price) => price.unit);
  return {
    title: `AWS cost per million messages at list prices (us-east-1, ${capacityPriced(cost)}), from ${measuredAt(results)}`,
    headers: ['item', 'per message', 'count from', '$ per 1 M'],
    rows,
    notes: [
      `by service: ${Object.entries(cost.byService)
        .map(([service, value]) => `${service} $${usd(value)}`)
        .join(', ')}`,
      'count from: measured = this run; assumed = docs/capacity.md §1 (bench/cost-assumptions.ts): connections, keep-alives and pongs, reconnects, warm durations, months of storage',
      `prices and their sources: bench/prices.ts, docs/capacity.md §10 (read 2026-12-05); unverified: ${unverified.join('; ') || 'none'}`,
      `Lambda system log level ${cost.lambdaSystemLogLevel ?? 'INFO'}: ${cost.lambdaSystemLogLevel === 'WARN' ? 'no START and REPORT records priced (the stack’s default; -c lambdaSystemLogLevel=INFO brings them back)' : 'a START and a REPORT record priced per invocation'}`,
      ...(cost.tiers?.length
        ? [
            'volume tiers at section 1’s month, one payer account for all cells, 10 Regions (bench/cost-assumptions.ts `billing`):',
          ]
        : []),
      ...(cost.tiers ?? []).map((tier) => `  ${tierNote(tier)}`),
    ],
    footer: cost.allIn
      ? [allInLine(cost), provisionedLine(cost)].filter((line): line is string => line !== undefined)
      : [`message path only: $${usd(cost.usdPerMillion)} per million messages`],
  };
}
