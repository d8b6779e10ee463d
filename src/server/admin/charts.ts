/**
 * Stacked bar charts drawn on the server as SVG geometry (no script: the
 * console's CSP has none). This file only computes numbers and words; the
 * template writes the elements with escaped attributes, and colours come
 * from classes in admin.css (`series-<id>`), so they follow the theme.
 */

export interface ChartSeries {
  id: string;
  label: string;
}

export interface ChartBucket {
  /** What a pointer over the bar shows (its <title>). */
  title: string;
  /** Written under the bar, or null for none. */
  axisLabel: string | null;
  /** `data-*` attributes of the bar's group, for tests and scrapers. */
  data: Record<string, string | number>;
  values: Record<string, number>;
}

export interface ChartSegment {
  series: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface ChartColumn {
  title: string;
  data: [string, string][];
  segments: ChartSegment[];
  /** The column's total above it (small charts only). */
  total: { x: number; y: number; text: string } | null;
}

export interface BarChart {
  width: number;
  height: number;
  plot: { left: number; right: number; top: number; bottom: number };
  yTicks: { y: number; label: string }[];
  xLabels: { x: number; y: number; label: string }[];
  /** Vertical separators before the labelled buckets. */
  xGrid: number[];
  /** Every bucket of a small chart; of a large one, only those with something to draw. */
  columns: ChartColumn[];
}

const LEFT = 40;
const RIGHT = 8;
const TOP = 16;
const BOTTOM = 22;
const PLOT_HEIGHT = 160;

/** The smallest 1, 2 or 5 × 10ⁿ at or above `max` (at least 1): the top of the value axis. */
export function axisTop(max: number): number {
  if (max <= 1) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 5, 10].map((step) => step * magnitude).find((top) => top >= max)!;
}

/**
 * `small`: a few wide bars, each labelled in the middle with its total above it, empty ones kept;
 * else many thin bars, labels at the buckets that start a group (a day), separated by a line.
 */
export function stackedBars(input: { buckets: ChartBucket[]; series: ChartSeries[]; barWidth: number; gap: number; small?: boolean }): BarChart {
  const { buckets, series, barWidth, gap } = input;
  const step = barWidth + gap;
  const totalOf = (bucket: ChartBucket) => series.reduce((sum, s) => sum + (bucket.values[s.id] ?? 0), 0);
  const top = axisTop(Math.max(0, ...buckets.map(totalOf)));
  const bottom = TOP + PLOT_HEIGHT;
  const yOf = (value: number) => bottom - (value / top) * PLOT_HEIGHT;
  const ticks = top % 2 === 0 ? [0, top / 2, top] : [0, top];
  const columns: ChartColumn[] = [];
  const xLabels: BarChart["xLabels"] = [];
  const xGrid: number[] = [];
  buckets.forEach((bucket, i) => {
    const x = LEFT + i * step + gap / 2;
    if (bucket.axisLabel !== null) {
      xLabels.push({ x: input.small ? x + barWidth / 2 : x, y: bottom + 15, label: bucket.axisLabel });
      if (!input.small && i > 0) xGrid.push(x - gap / 2);
    }
    const total = totalOf(bucket);
    if (total === 0 && !input.small) return;
    let stacked = 0;
    const segments: ChartSegment[] = [];
    for (const s of series) {
      const value = bucket.values[s.id] ?? 0;
      if (value === 0) continue;
      const y = yOf(stacked + value);
      segments.push({ series: s.id, x, y: round(y), width: barWidth, height: round(yOf(stacked) - y) });
      stacked += value;
    }
    columns.push({
      title: bucket.title,
      data: Object.entries(bucket.data).map(([name, value]) => [name, String(value)]),
      segments,
      total: input.small ? { x: x + barWidth / 2, y: round(yOf(total) - 4), text: String(total) } : null,
    });
  });
  return {
    width: LEFT + buckets.length * step + RIGHT,
    height: bottom + BOTTOM,
    plot: { left: LEFT, right: LEFT + buckets.length * step, top: TOP, bottom },
    yTicks: ticks.map((value) => ({ y: round(yOf(value)), label: String(value) })),
    xLabels,
    xGrid,
    columns,
  };
}

const round = (n: number) => Math.round(n * 10) / 10;
