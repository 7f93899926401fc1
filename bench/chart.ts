/** The latency chart as a hand-written SVG: percentiles by rate on a log scale, Parley against the floor. */

export interface ChartSeries {
  label: string;
  color: string;
  dashed?: boolean;
  /** One value per rate, ms; NaN where there is none. */
  values: number[];
  /** Per rate: false draws a hollow marker (the rate was not sustained). */
  sustained?: boolean[];
}

export interface ChartInput {
  title: string;
  subtitle: string;
  rates: number[];
  series: ChartSeries[];
  /** Horizontal reference lines, e.g. the targets. */
  references: Array<{ label: string; ms: number; color: string }>;
}

const escapeXml = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

function formatMs(ms: number): string {
  if (ms >= 1000) return `${ms / 1000} s`;
  return `${ms} ms`;
}

/** Where things go on the chart: the plot area, and the x of a rate's index and the y of a latency. */
class ChartLayout {
  readonly width = 820;
  readonly height = 460;
  readonly margin = { top: 70, right: 190, bottom: 56, left: 70 };
  readonly plotWidth = this.width - this.margin.left - this.margin.right;
  readonly plotHeight = this.height - this.margin.top - this.margin.bottom;
  /** The decades the log scale runs from and to. */
  readonly low: number;
  readonly high: number;
  readonly #rateCount: number;

  constructor(input: ChartInput) {
    const values = [
      ...input.series.flatMap((series) => series.values),
      ...input.references.map((reference) => reference.ms),
    ].filter((value) => Number.isFinite(value) && value > 0);
    this.low = 10 ** Math.floor(Math.log10(Math.min(...values, 1)));
    this.high = 10 ** Math.ceil(Math.log10(Math.max(...values, 10)));
    this.#rateCount = input.rates.length;
  }

  y(ms: number): number {
    const { low, high } = this;
    return (
      this.margin.top +
      this.plotHeight -
      ((Math.log10(ms) - Math.log10(low)) / (Math.log10(high) - Math.log10(low))) * this.plotHeight
    );
  }

  x(index: number): number {
    const inset = 24;
    const step = this.#rateCount > 1 ? (this.plotWidth - 2 * inset) / (this.#rateCount - 1) : 0;
    return this.margin.left + (this.#rateCount > 1 ? inset + index * step : this.plotWidth / 2);
  }
}

function drawHeader(input: ChartInput, layout: ChartLayout): string[] {
  const { width, height, margin } = layout;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12" role="img">`,
    `<title>${escapeXml(`${input.title}. ${input.subtitle}`)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${margin.left}" y="26" font-size="16" font-weight="bold">${escapeXml(input.title)}</text>`,
    `<text x="${margin.left}" y="46" fill="#555555">${escapeXml(input.subtitle)}</text>`,
  ];
}

/** Grid: decades, with 2 and 5 in between as faint lines. */
function drawGrid(layout: ChartLayout): string[] {
  const { margin, plotWidth, low, high } = layout;
  const parts: string[] = [];
  for (let decade = low; decade <= high; decade *= 10) {
    for (const factor of [1, 2, 5]) {
      const ms = decade * factor;
      if (ms > high) break;
      const at = layout.y(ms).toFixed(1);
      const strong = factor === 1;
      parts.push(
        `<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${at}" y2="${at}" stroke="${strong ? '#cccccc' : '#eeeeee'}"/>`,
      );
      if (strong) {
        parts.push(
          `<text x="${margin.left - 8}" y="${at}" text-anchor="end" dominant-baseline="middle" fill="#333333">${escapeXml(formatMs(Number(ms.toPrecision(3))))}</text>`,
        );
      }
    }
  }
  return parts;
}

/** A faint line and a label at each rate, the axis titles and the plot's frame. */
function drawAxes(input: ChartInput, layout: ChartLayout): string[] {
  const { height, margin, plotWidth, plotHeight } = layout;
  const parts: string[] = [];
  for (const [index, rate] of input.rates.entries()) {
    const at = layout.x(index).toFixed(1);
    parts.push(
      `<line x1="${at}" x2="${at}" y1="${margin.top}" y2="${margin.top + plotHeight}" stroke="#eeeeee"/>`,
      `<text x="${at}" y="${margin.top + plotHeight + 20}" text-anchor="middle" fill="#333333">${rate}/s</text>`,
    );
  }
  parts.push(
    `<text x="${margin.left + plotWidth / 2}" y="${height - 12}" text-anchor="middle" fill="#333333">offered rate (messages a second)</text>`,
    `<text x="18" y="${margin.top + plotHeight / 2}" text-anchor="middle" fill="#333333" transform="rotate(-90 18 ${margin.top + plotHeight / 2})">send → receive latency (log scale)</text>`,
    `<rect x="${margin.left}" y="${margin.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#999999"/>`,
  );
  return parts;
}

function drawReferences(input: ChartInput, layout: ChartLayout): string[] {
  const { margin, plotWidth } = layout;
  return input.references.flatMap((reference) => {
    const at = layout.y(reference.ms).toFixed(1);
    return [
      `<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${at}" y2="${at}" stroke="${reference.color}" stroke-dasharray="2 4" stroke-width="1.5"/>`,
      `<text x="${margin.left + plotWidth - 6}" y="${Number(at) - 5}" text-anchor="end" fill="${reference.color}" font-size="11">${escapeXml(reference.label)}</text>`,
    ];
  });
}

/** A line through a series' values, a marker at each: hollow where the rate was not sustained. */
function drawSeries(series: ChartSeries, layout: ChartLayout): string[] {
  const points = series.values
    .map((value, index) =>
      Number.isFinite(value) && value > 0
        ? [layout.x(index), layout.y(value), series.sustained?.[index] === false ? 0 : 1]
        : undefined,
    )
    .filter((point): point is number[] => point !== undefined);
  if (points.length === 0) return [];
  const dash = series.dashed ? ' stroke-dasharray="6 4"' : '';
  const parts = [
    `<polyline fill="none" stroke="${series.color}" stroke-width="2"${dash} points="${points.map(([px, py]) => `${px?.toFixed(1)},${py?.toFixed(1)}`).join(' ')}"/>`,
  ];
  for (const [px, py, filled] of points) {
    const fill = filled ? series.color : '#ffffff';
    parts.push(
      `<circle cx="${px?.toFixed(1)}" cy="${py?.toFixed(1)}" r="3.5" fill="${fill}" stroke="${series.color}" stroke-width="1.5"/>`,
    );
  }
  return parts;
}

function drawLegend(input: ChartInput, layout: ChartLayout): string[] {
  const { margin, plotWidth } = layout;
  const parts: string[] = [];
  const legendX = margin.left + plotWidth + 20;
  for (const [index, series] of input.series.entries()) {
    const legendY = margin.top + 10 + index * 22;
    const dash = series.dashed ? ' stroke-dasharray="6 4"' : '';
    parts.push(
      `<line x1="${legendX}" x2="${legendX + 28}" y1="${legendY}" y2="${legendY}" stroke="${series.color}" stroke-width="2"${dash}/>`,
      `<text x="${legendX + 36}" y="${legendY}" dominant-baseline="middle" fill="#333333">${escapeXml(series.label)}</text>`,
    );
  }
  if (input.series.some((series) => series.sustained?.includes(false))) {
    const legendY = margin.top + 10 + input.series.length * 22 + 8;
    parts.push(
      `<circle cx="${legendX + 14}" cy="${legendY}" r="3.5" fill="#ffffff" stroke="#333333" stroke-width="1.5"/>`,
      `<text x="${legendX + 36}" y="${legendY}" dominant-baseline="middle" fill="#333333">rate not sustained</text>`,
    );
  }
  return parts;
}

export function latencyChart(input: ChartInput): string {
  const layout = new ChartLayout(input);
  const parts = [
    ...drawHeader(input, layout),
    ...drawGrid(layout),
    ...drawAxes(input, layout),
    ...drawReferences(input, layout),
    ...input.series.flatMap((series) => drawSeries(series, layout)),
    ...drawLegend(input, layout),
    '</svg>',
  ];
  return `${parts.join('\n')}\n`;
}
