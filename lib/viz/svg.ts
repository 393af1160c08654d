/**
 * Static SVG charts as plain strings (no browser, no dependencies), for committed documents such
 * as `docs/BENCHMARKS.md`: {@link svgLineChart} (lines with markers, optional log axes) and
 * {@link svgBarChart} (grouped bars). Deterministic output: the same data gives the same bytes.
 *
 * @module
 */
import { escapeHtml } from "./report.ts";

/** One line of a {@link svgLineChart}. */
export interface SvgSeries {
  /** Legend label. */
  name: string;
  /** x values. */
  x: number[];
  /** y values (NaN leaves a gap). */
  y: number[];
  /** Stroke colour (default from the palette). */
  color?: string;
  /** Dashed line. */
  dash?: boolean;
}

/** Options shared by the charts. */
export interface SvgChartOptions {
  /** Title above the plot. */
  title: string;
  /** x-axis label. */
  xLabel?: string;
  /** y-axis label. */
  yLabel?: string;
  /** Width in px (default 640). */
  width?: number;
  /** Height in px (default 360). */
  height?: number;
}

/** The palette (Plotly's default order). */
export const SVG_PALETTE = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
];

/**
 * "Nice" tick values covering [lo, hi]: steps of 1, 2 or 5 × 10^n, about `count` of them.
 *
 * @param lo the low end
 * @param hi the high end
 * @param count about how many ticks
 * @returns the ticks, ascending
 */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(Number.isFinite(lo) && Number.isFinite(hi))) {
    throw new RangeError(`niceTicks: the range must be finite; got [${lo}, ${hi}]`);
  }
  if (hi <= lo) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const span = hi - lo, wanted = Math.max(1, count);
  const step = [0.5, 1, 2, 5, 10].map((m) => m * mag).reduce((best, s) =>
    Math.abs(span / s - wanted) < Math.abs(span / best - wanted) ? s : best
  );
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    ticks.push(Number(v.toPrecision(12)));
  }
  return ticks;
}

function fmt(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

function frame(
  o: SvgChartOptions,
): { w: number; h: number; l: number; r: number; t: number; b: number } {
  return { w: o.width ?? 640, h: o.height ?? 360, l: 64, r: 170, t: 36, b: 48 };
}

function header(o: SvgChartOptions, w: number, h: number): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" ` +
    `font-family="system-ui, sans-serif" font-size="12">\n<rect width="${w}" height="${h}" fill="#fff"/>\n` +
    `<text x="${w / 2}" y="22" text-anchor="middle" font-size="14" font-weight="600">${
      escapeHtml(o.title)
    }</text>\n`;
}

/** The plot area's border and the axis labels. */
function plotBox(o: SvgChartOptions): string {
  const { w, h, l, r, t, b } = frame(o);
  let out = `<rect x="${l}" y="${t}" width="${w - l - r}" height="${
    h - t - b
  }" fill="none" stroke="#999"/>\n`;
  if (o.xLabel) {
    out += `<text x="${(l + w - r) / 2}" y="${h - 10}" text-anchor="middle">${
      escapeHtml(o.xLabel)
    }</text>\n`;
  }
  if (o.yLabel) {
    out += `<text transform="translate(16 ${(t + h - b) / 2}) rotate(-90)" text-anchor="middle">${
      escapeHtml(o.yLabel)
    }</text>\n`;
  }
  return out;
}

function legend(
  items: { name: string; color: string; dash?: boolean }[],
  x: number,
  y: number,
): string {
  return items.map((it, i) =>
    `<line x1="${x}" x2="${x + 22}" y1="${y + 16 * i}" y2="${
      y + 16 * i
    }" stroke="${it.color}" stroke-width="2.5"${
      it.dash ? ' stroke-dasharray="5 3"' : ""
    }/><text x="${x + 28}" y="${y + 16 * i + 4}">${escapeHtml(it.name)}</text>`
  ).join("\n") + "\n";
}

/**
 * A line chart with markers.
 *
 * @param series the lines
 * @param options title, labels, size, and `logX` / `logY` for log10 axes
 * @returns the SVG document
 */
export function svgLineChart(
  series: SvgSeries[],
  options: SvgChartOptions & { logX?: boolean; logY?: boolean; yFrom0?: boolean },
): string {
  const { w, h, l, r, t, b } = frame(options);
  const tx = (v: number) => (options.logX ? Math.log10(v) : v);
  const ty = (v: number) => (options.logY ? Math.log10(v) : v);
  const xs = series.flatMap((s) => s.x.map(tx)).filter(Number.isFinite);
  const ys = series.flatMap((s) => s.y.map(ty)).filter(Number.isFinite);
  if (xs.length === 0 || ys.length === 0) {
    throw new RangeError(`svgLineChart "${options.title}": no finite points to draw`);
  }
  const [x0, x1, y0, y1] = lineChartRange(xs, ys, options);
  const px = (v: number) => l + ((v - x0) / (x1 - x0)) * (w - l - r);
  const py = (v: number) => h - b - ((v - y0) / (y1 - y0)) * (h - t - b);
  let out = header(options, w, h);
  for (const v of axisTicks(y0, y1, options.logY)) {
    out +=
      `<line x1="${l}" x2="${w - r}" y1="${py(v).toFixed(1)}" y2="${
        py(v).toFixed(1)
      }" stroke="#e5e5e5"/>` +
      `<text x="${l - 6}" y="${(py(v) + 4).toFixed(1)}" text-anchor="end">${
        fmt(options.logY ? 10 ** v : v)
      }</text>\n`;
  }
  for (const v of axisTicks(x0, x1, options.logX)) {
    out +=
      `<line x1="${px(v).toFixed(1)}" x2="${px(v).toFixed(1)}" y1="${t}" y2="${
        h - b
      }" stroke="#f0f0f0"/>` +
      `<text x="${px(v).toFixed(1)}" y="${h - b + 16}" text-anchor="middle">${
        fmt(options.logX ? 10 ** v : v)
      }</text>\n`;
  }
  out += plotBox(options);
  const items = series.map((s, i) => ({
    ...s,
    color: s.color ?? SVG_PALETTE[i % SVG_PALETTE.length],
  }));
  for (const s of items) {
    out += seriesPath(s.x.map((x, i) => [tx(x), ty(s.y[i])]), s, px, py);
  }
  out += legend(items, w - r + 14, t + 10);
  return out + "</svg>\n";
}

/** The axes' ranges: the data's, padded by 5 % in y, from 0 with `yFrom0`, never empty. */
function lineChartRange(
  xs: number[],
  ys: number[],
  options: { logY?: boolean; yFrom0?: boolean },
): [number, number, number, number] {
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (options.yFrom0 && !options.logY) y0 = Math.min(0, y0);
  if (x1 === x0) (x0 -= 0.5, x1 += 0.5);
  if (y1 === y0) (y0 -= Math.abs(y0) * 0.1 + 0.5, y1 += Math.abs(y1) * 0.1 + 0.5);
  const pad = (y1 - y0) * 0.05;
  if (!(options.yFrom0 && y0 === 0)) y0 -= pad;
  y1 += pad;
  return [x0, x1, y0, y1];
}

/** Tick positions: nice numbers, or whole decades on a log axis. */
function axisTicks(lo: number, hi: number, log?: boolean): number[] {
  return log
    ? niceTicks(Math.floor(lo), Math.ceil(hi), Math.ceil(hi) - Math.floor(lo)).filter((v) =>
      Number.isInteger(v) && v >= lo - 1e-9 && v <= hi + 1e-9
    )
    : niceTicks(lo, hi);
}

/** One series as a path (broken at non-finite points) with a marker per point. */
function seriesPath(
  pts: number[][],
  s: { color: string; dash?: boolean },
  px: (v: number) => number,
  py: (v: number) => number,
): string {
  let d = "", pen = false;
  for (const [x, y] of pts) {
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      pen = false;
      continue;
    }
    d += `${pen ? "L" : "M"}${px(x).toFixed(1)} ${py(y).toFixed(1)}`;
    pen = true;
  }
  let out = `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${
    s.dash ? ' stroke-dasharray="5 3"' : ""
  }/>\n`;
  for (const [x, y] of pts) {
    if (Number.isFinite(x) && Number.isFinite(y)) {
      out += `<circle cx="${px(x).toFixed(1)}" cy="${
        py(y).toFixed(1)
      }" r="2.5" fill="${s.color}"/>`;
    }
  }
  return out + "\n";
}

/**
 * A grouped bar chart: one group per category, one bar per series.
 *
 * @param categories the groups, left to right
 * @param series the bars of each group (values in category order)
 * @param options title, labels, size, and `reference`: a dashed horizontal line (e.g. a target)
 * @returns the SVG document
 */
export function svgBarChart(
  categories: string[],
  series: { name: string; values: number[]; color?: string }[],
  options: SvgChartOptions & { reference?: { value: number; label: string } },
): string {
  const { w, h, l, r, t, b } = frame(options);
  const values = series.flatMap((s) => s.values).filter(Number.isFinite);
  if (options.reference) values.push(options.reference.value);
  if (values.length === 0) throw new RangeError(`svgBarChart "${options.title}": no finite values`);
  const y0 = Math.min(0, ...values), y1 = Math.max(...values) * 1.08 || 1;
  const py = (v: number) => h - b - ((v - y0) / (y1 - y0)) * (h - t - b);
  let out = header(options, w, h);
  for (const v of niceTicks(y0, y1)) {
    out +=
      `<line x1="${l}" x2="${w - r}" y1="${py(v).toFixed(1)}" y2="${
        py(v).toFixed(1)
      }" stroke="#e5e5e5"/>` +
      `<text x="${l - 6}" y="${(py(v) + 4).toFixed(1)}" text-anchor="end">${fmt(v)}</text>\n`;
  }
  const group = (w - l - r) / categories.length;
  const bar = (group * 0.8) / series.length;
  const items = series.map((s, i) => ({
    ...s,
    color: s.color ?? SVG_PALETTE[i % SVG_PALETTE.length],
  }));
  categories.forEach((c, ci) => {
    items.forEach((s, si) => {
      const v = s.values[ci];
      if (!Number.isFinite(v)) return;
      const x = l + ci * group + group * 0.1 + si * bar;
      const top = py(Math.max(v, 0)), bottom = py(Math.min(v, 0));
      out += `<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${
        (bar - 1).toFixed(1)
      }" height="${(bottom - top).toFixed(1)}" fill="${s.color}"><title>${
        escapeHtml(`${s.name}, ${c}: ${fmt(v)}`)
      }</title></rect>`;
    });
    out += `<text x="${(l + ci * group + group / 2).toFixed(1)}" y="${
      h - b + 16
    }" text-anchor="middle" font-size="${group < 80 ? 10 : 12}">${escapeHtml(c)}</text>\n`;
  });
  if (options.reference) {
    const y = py(options.reference.value).toFixed(1);
    out +=
      `<line x1="${l}" x2="${w - r}" y1="${y}" y2="${y}" stroke="#333" stroke-dasharray="6 4"/>` +
      `<text x="${w - r - 4}" y="${Number(y) - 5}" text-anchor="end">${
        escapeHtml(options.reference.label)
      }</text>\n`;
  }
  out += plotBox(options);
  out += legend(items, w - r + 14, t + 10);
  return out + "</svg>\n";
}
